"""What already exists for a cluster, found by label selector only (never by name)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from khz_tui.engine.cloud.client import CloudClient
from khz_tui.engine.cloud.names import cluster_selector


@dataclass
class Inventory:
    """The cluster's labeled resources, keyed by name."""

    networks: dict[str, Any] = field(default_factory=dict)
    firewalls: dict[str, Any] = field(default_factory=dict)
    ssh_keys: dict[str, Any] = field(default_factory=dict)
    load_balancers: dict[str, Any] = field(default_factory=dict)
    placement_groups: dict[str, Any] = field(default_factory=dict)
    servers: dict[str, Any] = field(default_factory=dict)
    volumes: dict[str, Any] = field(default_factory=dict)

    def count(self) -> int:
        return sum(len(getattr(self, k)) for k in KINDS)


#: Inventory attribute -> hcloud sub-client name, in the order destroy deletes them.
KINDS = {
    "load_balancers": "load_balancers",
    "volumes": "volumes",
    "servers": "servers",
    "placement_groups": "placement_groups",
    "firewalls": "firewalls",
    "networks": "networks",
    "ssh_keys": "ssh_keys",
}


async def discover(client: CloudClient, cluster: str) -> Inventory:
    """List every resource type by the cluster's selector, all lists concurrently."""
    selector = cluster_selector(cluster)

    async def listing(kind: str) -> dict[str, Any]:
        sub = getattr(client.hcloud, KINDS[kind])
        items = await client.call(sub.get_all, label_selector=selector, what=f"listing {kind.replace('_', ' ')}")
        return {item.name: item for item in items}

    kinds = list(KINDS)
    results = await asyncio.gather(*(listing(k) for k in kinds))
    return Inventory(**dict(zip(kinds, results)))
