"""What already exists for a cluster, found by label selector only (never by name), and which planned
names the rest of the project already uses."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from khz_tui.engine.cloud.client import CloudClient
from khz_tui.engine.cloud.names import CLUSTER_LABEL, MANAGED_BY, MANAGED_BY_LABEL, cluster_selector


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


@dataclass(frozen=True)
class NameClash:
    """A name the plan would create that the project already uses for something not of this cluster."""

    resource_type: str
    name: str
    owner: str | None
    """The khz-tui cluster its labels name; None when it is not a khz-tui resource."""

    def describe(self, cluster: str) -> str:
        if self.owner:
            return (f"{self.resource_type} {self.name}, which cluster {cluster} would create, already exists and "
                    f"belongs to cluster {self.owner}")
        return (f"{self.resource_type} {self.name}, which cluster {cluster} would create, already exists and is "
                "not a khz-tui resource")


def _kind_word(kind: str) -> str:
    return kind.removesuffix("s").replace("_", " ")


async def name_clashes(client: CloudClient, cluster: str, wanted: dict[str, list[str]], inv: Inventory) -> list[NameClash]:
    """Planned names (by inventory kind) the project already uses for something that is not this
    cluster's. Names are unique per project and kind, and they are built by joining the cluster,
    pool and volume names with `-`: cluster `x` with pool `web-a` and cluster `x-web` with pool `a`
    both make server `x-web-a-1`. Renaming the scheme would orphan existing clusters, so such a plan
    is refused before any change instead. Only kinds with a planned name missing from the
    inventory are listed (a rerun of a complete cluster sends no request here)."""
    missing = {kind: [n for n in names if n not in getattr(inv, kind)] for kind, names in wanted.items()}
    missing = {kind: names for kind, names in missing.items() if names}

    async def taken(kind: str) -> dict[str, Any]:
        sub = getattr(client.hcloud, KINDS[kind])
        items = await client.call(sub.get_all, what=f"listing the project's {kind.replace('_', ' ')}")
        return {item.name: item for item in items}

    kinds = list(missing)
    existing = await asyncio.gather(*(taken(k) for k in kinds))
    clashes = []
    for kind, by_name in zip(kinds, existing):
        for name in missing[kind]:
            item = by_name.get(name)
            if item is None:
                continue
            labels = getattr(item, "labels", None) or {}
            owner = labels.get(CLUSTER_LABEL) if labels.get(MANAGED_BY_LABEL) == MANAGED_BY else None
            if owner == cluster:
                continue  # ours after all (listed by name, not by selector): create_or_adopt adopts it
            clashes.append(NameClash(_kind_word(kind), name, owner))
    return clashes
