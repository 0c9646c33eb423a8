"""Upstream manifests bundled with khz-tui (see README.md in this folder for where each comes from)."""
