"""Tunables of the simulated project: action durations (at time scale 1) and quotas."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Durations:
    """How long actions take, in seconds at `time_scale=1`, close to what Hetzner shows."""

    server_create: float = 10.0
    server_boot: float = 25.0
    """From `start_server` finishing until SSH answers (the OS boots and runs cloud-init)."""
    server_start: float = 1.0
    server_poweroff: float = 2.0
    server_shutdown: float = 8.0
    server_reboot: float = 3.0
    server_delete: float = 3.0
    server_network: float = 3.0
    load_balancer_create: float = 15.0
    load_balancer_change: float = 2.0
    volume_create: float = 3.0
    volume_attach: float = 5.0
    volume_detach: float = 3.0
    firewall_apply: float = 2.0
    firewall_detach: float = 5.0
    """From a server's `delete_server` finishing until its firewalls stop counting it as a user: Hetzner
    detaches them asynchronously, so `DELETE /firewalls/{id}` right after answers `resource_in_use`
    (terraform-provider-hcloud retries exactly that in `resourceFirewallDelete`)."""
    network_change: float = 1.0


@dataclass
class SimConfig:
    """What makes one simulated project differ from another."""

    time_scale: float = 1.0
    seed: int = 0
    server_limit: int = 200
    placement_group_limit: int = 10
    """Servers per spread placement group (Hetzner: 10)."""
    network_server_limit: int = 100
    durations: Durations = field(default_factory=Durations)
