"""Placeholder until the k3s simulation lands: no clusters yet."""

from __future__ import annotations

from typing import Any


class K3sService:
    """Holds every simulated cluster (none yet in this revision)."""

    def __init__(self, cloud: Any, machines: dict[int, Any], *, time_scale: float, seed: int) -> None:
        self.cloud = cloud
        self.machines = machines
        self.clusters: list[Any] = []

    def addresses_changed(self, machine: Any) -> None:
        """A machine's private addresses changed."""

    def machine_removed(self, machine: Any) -> None:
        """A machine was deleted."""

    def machine_stopped(self, machine: Any) -> None:
        """A machine powered off or is rebooting."""

    def machine_started(self, machine: Any) -> None:
        """A machine finished booting."""

    def export_state(self) -> dict[str, Any]:
        """Cluster state for persistence."""
        return {}

    def import_state(self, state: dict[str, Any]) -> None:
        """Restore cluster state."""
