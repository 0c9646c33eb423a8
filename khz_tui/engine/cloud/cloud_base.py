"""What every verb of the cloud facade (`facade.Cloud`) builds on: the run's client, bus, plan and
inventory in one object, find-or-create with adoption, and delete with its one not-found rule.

Creating: a resource the inventory holds is reported `ResourceFound` and kept; otherwise it is created
and reported `ResourceCreated`. A create that fails with `uniqueness_error` is looked up by name: when
the resource carries this cluster's labels (an earlier attempt whose answer got lost) it is adopted
(`ResourceFound`), otherwise the run stops with the API's message: the engine never adopts a look-alike.

Deleting (`delete`): the resource is deleted and its action, when the API returns one, waited for, then
`ResourceDeleted` is emitted once. A resource that is already gone (the API answers not found, at any
point of the delete) is success without an event: the run did not delete it, and the event says what
the run did. `delete` returns whether this call deleted it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Literal, Protocol, Self, TypeVar

from hcloud.actions.client import BoundAction
from hcloud.firewalls.domain import Firewall
from hcloud.load_balancers.domain import DeleteLoadBalancerResponse, LoadBalancer
from hcloud.networks.domain import Network
from hcloud.placement_groups.domain import PlacementGroup
from hcloud.servers.domain import Server
from hcloud.ssh_keys.domain import SSHKey
from hcloud.volumes.domain import Volume

from khz_tui.engine import drift
from khz_tui.engine.bus import EventBus
from khz_tui.engine.cloud.client import CloudClient, CloudError
from khz_tui.engine.cloud.inventory import Inventory, Labeled, NameClash, Named, discover, name_clashes
from khz_tui.engine.cloud.names import CLUSTER_LABEL, MANAGED_BY, MANAGED_BY_LABEL, planned_names
from khz_tui.engine.events import DriftDetected, ResourceCreated, ResourceDeleted, ResourceFound, ResourceKind
from khz_tui.plan.model import ClusterPlan

#: What `delete` deletes (a route goes with its network).
DeletableKind = Literal["server", "volume", "load balancer", "network", "firewall", "placement group", "ssh key"]

R = TypeVar("R", bound=Labeled)
C = TypeVar("C")


class RunParts(Protocol):
    """What a run has that the facade is bound to (a `RunContext`, or apply's run state)."""

    @property
    def client(self) -> CloudClient: ...

    @property
    def bus(self) -> EventBus: ...

    @property
    def plan(self) -> ClusterPlan: ...


def is_ours(resource: Labeled, cluster: str) -> bool:
    """Whether `resource` carries this cluster's labels (a look-alike without them is never adopted)."""
    labels = resource.labels or {}
    return labels.get(CLUSTER_LABEL) == cluster and labels.get(MANAGED_BY_LABEL) == MANAGED_BY


def ident(resource: Named) -> int:
    """The id of a resource read from the API (hcloud-python types it as optional)."""
    if resource.id is None:
        raise ValueError(f"{resource!r} has no id")
    return resource.id


async def itself(resource: R) -> R:
    """The `ready` of a resource that is usable as soon as its create answers."""
    return resource


def report_drift(bus: EventBus, lines: list[drift.Drift]) -> None:
    """Emit DriftDetected for every line apply leaves as it is (kind `report`)."""
    for line in lines:
        if line.kind == "report":
            bus.emit(DriftDetected(resource_type=line.resource_type, name=line.name, field=line.field,
                                   expected=line.expected, actual=line.actual))


class CloudBase:
    """The run's client, bus, plan and inventory, and the steps every verb shares."""

    def __init__(self, client: CloudClient, bus: EventBus, plan: ClusterPlan, inventory: Inventory | None = None) -> None:
        self.client = client
        self.bus = bus
        self.plan = plan
        self.inventory = inventory if inventory is not None else Inventory()
        """The cluster's resources as last discovered, completed by what the verbs create."""

    @classmethod
    def of(cls, run: RunParts, inventory: Inventory | None = None) -> Self:
        """The facade bound to `run`'s client, bus and plan (and `inventory`, when the run has one)."""
        return cls(run.client, run.bus, run.plan, inventory)

    async def discover(self) -> Inventory:
        """Look at the project again: every resource labeled for the cluster, all kinds at once."""
        self.inventory = await discover(self.client, self.plan.name)
        return self.inventory

    async def name_clashes(self) -> list[NameClash]:
        """Names the plan would create that the project already uses for something not of this cluster."""
        return await name_clashes(self.client, self.plan.name, planned_names(self.plan), self.inventory)

    # -- creating ----------------------------------------------------------------------------------

    def _found(self, kind: ResourceKind, known: dict[str, R], name: str) -> R | None:
        """The resource the inventory holds under `name`, reported as found; None when it has none."""
        found = known.get(name)
        if found is not None:
            self.bus.emit(ResourceFound(resource_type=kind, name=name, id=found.id))
        return found

    async def _adopt_after_clash(
        self, kind: ResourceKind, name: str, clash: CloudError, get_by_name: Callable[[str], R | None]
    ) -> R:
        """After a create failed with `clash`: the resource named `name` when the failure is a name
        clash and the resource is labeled ours (reported found); raises otherwise."""
        if clash.code != "uniqueness_error":
            raise clash
        existing = await self.client.call(lambda: get_by_name(name), what=f"looking up {kind} {name}")
        if existing is None or not is_ours(existing, self.plan.name):
            raise CloudError(
                f"creating {kind} {name}: a {kind} with that name already exists and is not "
                f"labeled for cluster {self.plan.name!r} ({clash.message})",
                code="uniqueness_error",
            ) from None
        self.bus.emit(ResourceFound(resource_type=kind, name=name, id=existing.id))
        return existing

    async def _create(
        self,
        kind: ResourceKind,
        name: str,
        known: dict[str, R],
        *,
        post: Callable[[], Awaitable[C]],
        get_by_name: Callable[[str], R | None],
        ready: Callable[[C], Awaitable[R]],
    ) -> R:
        """Create with `post` (or adopt ours on a name clash), report it and add it to `known`. `ready`
        turns the create's answer into the resource, waiting for its actions where the resource is not
        usable before."""
        try:
            response = await post()
        except CloudError as exc:
            made = await self._adopt_after_clash(kind, name, exc, get_by_name)
        else:
            made = await ready(response)
            self.bus.emit(ResourceCreated(resource_type=kind, name=name, id=made.id))
        known[name] = made
        return made

    async def _find_or_create(
        self,
        kind: ResourceKind,
        name: str,
        known: dict[str, R],
        *,
        post: Callable[[], Awaitable[C]],
        get_by_name: Callable[[str], R | None],
        ready: Callable[[C], Awaitable[R]],
    ) -> R:
        """The resource `known` (the inventory) has under `name`, or a new one (`_create`)."""
        found = self._found(kind, known, name)
        if found is not None:
            return found
        return await self._create(kind, name, known, post=post, get_by_name=get_by_name, ready=ready)

    async def _wait(self, actions: list[BoundAction | None], what: str) -> None:
        """Wait for every action a request started (one shared poll for all of them)."""
        await self.client.wait_actions([a.id for a in actions if a is not None], what=what)

    # -- deleting ----------------------------------------------------------------------------------

    async def delete(self, kind: DeletableKind, resource: Named) -> bool:
        """Delete one resource (a volume is detached first) and wait for its action; True when this call
        deleted it, False when it was already gone (no event then: see the module's docstring)."""
        name = resource.name or str(resource.id)
        try:
            if kind == "volume" and isinstance(resource, Volume) and resource.server is not None:
                what = f"detaching volume {name}"
                volume = resource
                await self._wait([await self.client.call(lambda: self.client.hcloud.volumes.detach(volume), what=what)],
                                 what)
            what = f"deleting {kind} {name}"
            answer = await self.client.call(self._delete_request(kind, ident(resource)), what=what)
            if isinstance(answer, DeleteLoadBalancerResponse):
                answer = answer.action
            if isinstance(answer, BoundAction):
                await self._wait([answer], what)
        except CloudError as exc:
            if exc.not_found:
                return False
            raise
        self.bus.emit(ResourceDeleted(resource_type=kind, name=name, id=resource.id))
        return True

    def _delete_request(self, kind: DeletableKind, rid: int) -> Callable[[], BoundAction | DeleteLoadBalancerResponse | bool]:
        h = self.client.hcloud
        match kind:
            case "server":
                return lambda: h.servers.delete(Server(id=rid))
            case "volume":
                return lambda: h.volumes.delete(Volume(id=rid))
            case "load balancer":
                return lambda: h.load_balancers.delete(LoadBalancer(id=rid))
            case "network":
                return lambda: h.networks.delete(Network(id=rid))
            case "firewall":
                return lambda: h.firewalls.delete(Firewall(id=rid))
            case "placement group":
                return lambda: h.placement_groups.delete(PlacementGroup(id=rid))
            case "ssh key":
                return lambda: h.ssh_keys.delete(SSHKey(id=rid))
