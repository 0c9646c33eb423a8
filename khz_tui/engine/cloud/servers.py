"""Servers and their volumes: create with everything attached at once, read back their addresses,
and compare what exists with the plan (`drift`): what apply repairs is said, the rest is reported."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hcloud.images.domain import Image
from hcloud.locations.domain import Location
from hcloud.server_types.domain import ServerType
from hcloud.servers.domain import ServerCreatePublicNetwork

from khz_tui.engine import drift
from khz_tui.engine.bus import EventBus
from khz_tui.engine.cloud.client import CloudClient
from khz_tui.engine.cloud.names import NodeSlot, cluster_labels
from khz_tui.engine.cloud.resources import create_or_adopt, find_or_create, report_drift
from khz_tui.engine.events import ResourceCreated, ResourceDeleted
from khz_tui.plan.model import ClusterPlan


@dataclass
class ServerFacts:
    """What the engine needs to know about one server."""

    id: int
    name: str
    public_ipv4: str | None
    private_ip: str | None
    server_type: str
    location: str
    status: str
    action_id: int | None = None
    """The create action still to wait for, when this run created the server."""


def server_facts(server: Any, network_id: int | None, action_id: int | None = None) -> ServerFacts:
    """The facts of an hcloud server; its private IP on `network_id` (any network when None)."""
    public = server.public_net.ipv4.ip if server.public_net and server.public_net.ipv4 else None
    private = None
    for net in server.private_net or []:
        if network_id is None or net.network.id == network_id:
            private = net.ip
            break
    location = server.location.name if getattr(server, "location", None) else server.datacenter.location.name
    return ServerFacts(
        id=server.id,
        name=server.name,
        public_ipv4=public,
        private_ip=private,
        server_type=server.server_type.name,
        location=location,
        status=server.status,
        action_id=action_id,
    )


def server_drift(bus: EventBus, slot: NodeSlot, facts: ServerFacts, network_id: int) -> bool:
    """Compare an existing server with its plan slot (`drift.server_drift`) and report what apply
    leaves as it is; True when anything differed. What apply repairs (a server off the network) is
    said where it is repaired, when the node's session is open."""
    lines = drift.server_drift(slot, server_type=facts.server_type, location=facts.location,
                               on_network=facts.private_ip is not None, network=str(network_id))
    report_drift(bus, lines)
    return bool(lines)


async def create_server(
    client: CloudClient,
    bus: EventBus,
    plan: ClusterPlan,
    slot: NodeSlot,
    *,
    network: Any,
    firewall: Any,
    placement_group: Any,
    ssh_key: Any,
    user_data: str,
) -> ServerFacts:
    """POST one server with network, placement group, labels and cloud-init at once.

    The firewall reaches it through the firewall's label selector, which these labels match (from the
    server's first boot): one application per server, so a person can still manage it, and none that
    khz-tui would have to remove. Only a firewall without that selector is named directly.

    The create action is not polled here: the caller waits on it through the shared batched waiter,
    while it already tries SSH."""
    labels = cluster_labels(plan.name, **slot.labels_extra)
    if slot.role == "worker":
        pool = plan.pool(slot.pool)
        for key, value in (pool.labels if pool else {}).items():
            labels.setdefault(key, value)
    result, created = await create_or_adopt(
        client, bus, resource_type="server", name=slot.name, cluster=plan.name,
        create=lambda: client.call(
            client.hcloud.servers.create,
            name=slot.name,
            server_type=ServerType(name=slot.server_type),
            image=Image(name=slot.image),
            location=Location(name=slot.location),
            ssh_keys=[ssh_key],
            networks=[network],
            firewalls=[] if drift.has_cluster_selector(firewall, plan.name) else [firewall],
            placement_group=placement_group,
            user_data=user_data,
            labels=labels,
            public_net=ServerCreatePublicNetwork(enable_ipv4=True, enable_ipv6=True),
            start_after_create=True,
            what=f"creating server {slot.name}",
        ),
        get_by_name=client.hcloud.servers.get_by_name,
    )
    if not created:
        return server_facts(result, network.id)
    facts = server_facts(result.server, network.id, result.action.id if result.action else None)
    bus.emit(ResourceCreated(resource_type="server", name=slot.name, id=facts.id))
    return facts


async def ensure_volume(
    client: CloudClient, bus: EventBus, plan: ClusterPlan, existing: dict[str, Any],
    *, name: str, server: ServerFacts, size_gb: int, fmt: str,
) -> Any:
    """A volume attached with automount to its node: created with the server as its target, or
    found and compared (`drift.volume_drift`): attached again when found detached, reported when
    attached to another server."""

    async def attached(result: Any) -> Any:
        actions = [a.id for a in [result.action, *(result.next_actions or [])] if a is not None]
        await client.wait_actions(actions, what=f"creating and attaching volume {name}")
        return result.volume

    found = name in existing
    vol = await find_or_create(
        client, bus, plan, existing, resource_type="volume", name=name,
        create=lambda: client.call(
            client.hcloud.volumes.create, size=size_gb, name=name, labels=cluster_labels(plan.name, node=server.name),
            server=_ServerRef(server.id), automount=True, format=fmt, what=f"creating volume {name}",
        ),
        get_by_name=client.hcloud.volumes.get_by_name,
        unwrap=attached,
    )
    if not found:  # created attached (the create's answer predates its attach action)
        return vol
    lines = drift.volume_drift(name, server.name, vol, server.id)
    report_drift(bus, lines)
    if any(line.kind == "change" for line in lines):
        what = f"attaching volume {name} to {server.name}"
        bus.log(f"volume {name} is detached (changed outside khz-tui); attaching it to {server.name} again",
                node=server.name, level="warning")
        action = await client.call(client.hcloud.volumes.attach, vol, _ServerRef(server.id), automount=True, what=what)
        await client.wait_action(action.id, what=what)
        vol = await client.call(client.hcloud.volumes.get_by_id, vol.id, what=f"reading volume {name}")
        existing[name] = vol
    return vol


class _ServerRef:
    """The smallest thing hcloud's `volumes.create(server=...)` reads: the id."""

    def __init__(self, server_id: int) -> None:
        self.id = server_id


async def delete_volume(client: CloudClient, bus: EventBus, vol: Any) -> None:
    """Detach (when attached) and delete one volume."""
    if vol.server is not None:
        action = await client.call(client.hcloud.volumes.detach, vol, what=f"detaching volume {vol.name}")
        await client.wait_action(action.id, what=f"detaching volume {vol.name}")
    await client.call(client.hcloud.volumes.delete, vol, what=f"deleting volume {vol.name}")
    bus.emit(ResourceDeleted(resource_type="volume", name=vol.name, id=vol.id))
