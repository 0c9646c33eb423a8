"""Simulated machines: one sshd per server on loopback, cloud-init, a small shell and a virtual disk."""

from khz_tui.sim.nodes.host import SimNodes

__all__ = ["SimNodes"]
