"""The engine's cloud side: the facade (`facade.Cloud`, the verbs every part of the engine uses), the paced
and retried transport under it (`client.py`, reaching hcloud-python's internals only through
`hcloud_adapter.py`), the label scheme and resource names, discovery, the add-ons' resources, the live
catalog, and the node access probe that tells the simulator from Hetzner."""
