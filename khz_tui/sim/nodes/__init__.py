"""Simulated machines: one sshd per server on loopback, cloud-init, a small shell and a virtual disk."""
