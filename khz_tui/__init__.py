"""khz-tui: a keyboard-first path from a Hetzner Cloud token to a highly available k3s cluster."""

__version__ = "0.1.0"
