"""Servers and their volumes: create with everything attached at once, read back their addresses,
and compare what exists with the plan (drift is reported, never fixed silently)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hcloud.images.domain import Image
from hcloud.locations.domain import Location
from hcloud.server_types.domain import ServerType
from hcloud.servers.domain import ServerCreatePublicNetwork

from khz_tui.engine.bus import EventBus
from khz_tui.engine.cloud.client import CloudClient
from khz_tui.engine.cloud.names import NodeSlot, cluster_labels
from khz_tui.engine.cloud.resources import create_or_adopt, find_or_create
from khz_tui.engine.events import DriftDetected, ResourceCreated, ResourceDeleted
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
    """Report every way an existing server differs from its plan slot; True when any did."""
    drift = []
    if facts.server_type != slot.server_type:
        drift.append(("server_type", slot.server_type, facts.server_type))
    if facts.location != slot.location:
        drift.append(("location", slot.location, facts.location))
    if facts.private_ip is None:
        drift.append(("network", f"attached to network {network_id}", "not attached"))
    for field, expected, actual in drift:
        bus.emit(
            DriftDetected, resource_type="server", name=slot.name, field=field, expected=str(expected), actual=str(actual)
        )
    return bool(drift)


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
    """POST one server with network, firewall, placement group, labels and cloud-init at once.

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
            firewalls=[firewall],
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
    bus.emit(ResourceCreated, resource_type="server", name=slot.name, id=facts.id)
    return facts


async def ensure_volume(
    client: CloudClient, bus: EventBus, plan: ClusterPlan, existing: dict[str, Any],
    *, name: str, server: ServerFacts, size_gb: int, fmt: str,
) -> Any:
    """A volume attached with automount to its node (created with the server as its target)."""

    async def attached(result: Any) -> Any:
        actions = [a.id for a in [result.action, *(result.next_actions or [])] if a is not None]
        await client.wait_actions(actions, what=f"creating and attaching volume {name}")
        return result.volume

    return await find_or_create(
        client, bus, plan, existing, resource_type="volume", name=name,
        create=lambda: client.call(
            client.hcloud.volumes.create, size=size_gb, name=name, labels=cluster_labels(plan.name, node=server.name),
            server=_ServerRef(server.id), automount=True, format=fmt, what=f"creating volume {name}",
        ),
        get_by_name=client.hcloud.volumes.get_by_name,
        unwrap=attached,
    )


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
    bus.emit(ResourceDeleted, resource_type="volume", name=vol.name, id=vol.id)
