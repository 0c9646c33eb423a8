"""What already exists for a cluster, found by label selector only (never by name), and which planned
names the rest of the project already uses."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from hcloud.firewalls.client import BoundFirewall
from hcloud.load_balancers.client import BoundLoadBalancer
from hcloud.networks.client import BoundNetwork
from hcloud.placement_groups.client import BoundPlacementGroup
from hcloud.servers.client import BoundServer
from hcloud.ssh_keys.client import BoundSSHKey
from hcloud.volumes.client import BoundVolume

from khz_tui.engine.cloud.client import CloudClient
from khz_tui.engine.cloud.names import CLUSTER_LABEL, MANAGED_BY, MANAGED_BY_LABEL, cluster_selector
from khz_tui.engine.events import ResourceKind


class Named(Protocol):
    """Any Hetzner resource: it has an id and a name (hcloud-python types both as optional)."""

    @property
    def id(self) -> int | None: ...

    @property
    def name(self) -> str | None: ...


class Labeled(Named, Protocol):
    """A resource with labels (how the engine tells its own from a look-alike)."""

    @property
    def labels(self) -> dict[str, str] | None: ...


R = TypeVar("R", bound=Named)


def by_name(items: Iterable[R]) -> dict[str, R]:
    """Resources keyed by name (the API names every resource; one without a name cannot be planned)."""
    return {item.name: item for item in items if item.name is not None}


@dataclass
class Inventory:
    """The cluster's labeled resources, keyed by name."""

    networks: dict[str, BoundNetwork] = field(default_factory=dict)
    firewalls: dict[str, BoundFirewall] = field(default_factory=dict)
    ssh_keys: dict[str, BoundSSHKey] = field(default_factory=dict)
    load_balancers: dict[str, BoundLoadBalancer] = field(default_factory=dict)
    placement_groups: dict[str, BoundPlacementGroup] = field(default_factory=dict)
    servers: dict[str, BoundServer] = field(default_factory=dict)
    volumes: dict[str, BoundVolume] = field(default_factory=dict)

    def count(self) -> int:
        return sum(len(found) for found in (self.networks, self.firewalls, self.ssh_keys, self.load_balancers,
                                            self.placement_groups, self.servers, self.volumes))


_T = TypeVar("_T")


async def discover(client: CloudClient, cluster: str) -> Inventory:
    """List every resource type by the cluster's selector, all lists concurrently."""
    selector = cluster_selector(cluster)
    h = client.hcloud
    lists: list[asyncio.Future[Any]] = []

    def listing(get_all: Callable[[str], list[_T]], words: str) -> asyncio.Future[list[_T]]:
        started = asyncio.ensure_future(client.call(lambda: get_all(selector), what=f"listing {words}"))
        lists.append(started)
        return started

    load_balancers = listing(lambda s: h.load_balancers.get_all(label_selector=s), "load balancers")
    volumes = listing(lambda s: h.volumes.get_all(label_selector=s), "volumes")
    servers = listing(lambda s: h.servers.get_all(label_selector=s), "servers")
    placement_groups = listing(lambda s: h.placement_groups.get_all(label_selector=s), "placement groups")
    firewalls = listing(lambda s: h.firewalls.get_all(label_selector=s), "firewalls")
    networks = listing(lambda s: h.networks.get_all(label_selector=s), "networks")
    ssh_keys = listing(lambda s: h.ssh_keys.get_all(label_selector=s), "ssh keys")
    await asyncio.gather(*lists)
    return Inventory(
        networks=by_name(networks.result()), firewalls=by_name(firewalls.result()), ssh_keys=by_name(ssh_keys.result()),
        load_balancers=by_name(load_balancers.result()), placement_groups=by_name(placement_groups.result()),
        servers=by_name(servers.result()), volumes=by_name(volumes.result()),
    )


@dataclass(frozen=True)
class NameClash:
    """A name the plan would create that the project already uses for something not of this cluster."""

    resource_type: ResourceKind
    name: str
    owner: str | None
    """The khz-tui cluster its labels name; None when it is not a khz-tui resource."""

    def describe(self, cluster: str) -> str:
        if self.owner:
            return (f"{self.resource_type} {self.name}, which cluster {cluster} would create, already exists and "
                    f"belongs to cluster {self.owner}")
        return (f"{self.resource_type} {self.name}, which cluster {cluster} would create, already exists and is "
                "not a khz-tui resource")


async def name_clashes(client: CloudClient, cluster: str, wanted: dict[str, list[str]], inv: Inventory) -> list[NameClash]:
    """Planned names (by inventory attribute: `servers`, `volumes`, ...) the project already uses for
    something that is not this cluster's. Names are unique per project and kind, and they are built by
    joining the cluster, pool and volume names with `-`: cluster `x` with pool `web-a` and cluster
    `x-web` with pool `a` both make server `x-web-a-1`. Renaming the scheme would orphan existing
    clusters, so such a plan is refused before any change instead. Only kinds with a planned name
    missing from the inventory are listed (a rerun of a complete cluster sends no request here)."""
    h = client.hcloud
    listings: dict[str, tuple[ResourceKind, Callable[[], Sequence[Labeled]], Mapping[str, Labeled]]] = {
        "networks": ("network", h.networks.get_all, inv.networks),
        "firewalls": ("firewall", h.firewalls.get_all, inv.firewalls),
        "ssh_keys": ("ssh key", h.ssh_keys.get_all, inv.ssh_keys),
        "load_balancers": ("load balancer", h.load_balancers.get_all, inv.load_balancers),
        "placement_groups": ("placement group", h.placement_groups.get_all, inv.placement_groups),
        "servers": ("server", h.servers.get_all, inv.servers),
        "volumes": ("volume", h.volumes.get_all, inv.volumes),
    }
    missing = {attr: [n for n in names if n not in listings[attr][2]] for attr, names in wanted.items()}
    missing = {attr: names for attr, names in missing.items() if names}

    def taken(attr: str) -> Coroutine[Any, Any, Sequence[Labeled]]:
        return client.call(listings[attr][1], what=f"listing the project's {attr.replace('_', ' ')}")

    attrs = list(missing)
    existing = await asyncio.gather(*(taken(a) for a in attrs))
    clashes = []
    for attr, items in zip(attrs, existing):
        found = by_name(items)
        for name in missing[attr]:
            item = found.get(name)
            if item is None:
                continue
            labels = item.labels or {}
            owner = labels.get(CLUSTER_LABEL) if labels.get(MANAGED_BY_LABEL) == MANAGED_BY else None
            if owner == cluster:
                continue  # ours after all (listed by name, not by selector): the create adopts it
            clashes.append(NameClash(listings[attr][0], name, owner))
    return clashes
