"""The engine's cloud side: one async facade over the official hcloud client, the label scheme and
resource names, find-or-create of every Hetzner resource a cluster needs, drift detection, and the
node access probe that tells the simulator from Hetzner."""
