"""Servers and their volumes (`CloudBase`): create with everything attached at once, wait for the create,
power on, attach to the network, read back their addresses, and compare what exists with the plan
(`drift`): what apply repairs is said where it is repaired, the rest is reported."""

from __future__ import annotations

from dataclasses import dataclass

from hcloud.firewalls.client import BoundFirewall
from hcloud.images.domain import Image
from hcloud.locations.domain import Location
from hcloud.networks.client import BoundNetwork
from hcloud.placement_groups.client import BoundPlacementGroup
from hcloud.server_types.domain import ServerType
from hcloud.servers.client import BoundServer
from hcloud.servers.domain import CreateServerResponse, Server, ServerCreatePublicNetwork
from hcloud.ssh_keys.client import BoundSSHKey
from hcloud.volumes.client import BoundVolume
from hcloud.volumes.domain import CreateVolumeResponse

from khz_tui.engine import drift
from khz_tui.engine.bus import EventBus
from khz_tui.engine.cloud.client import ActionFailed, CloudError
from khz_tui.engine.cloud.cloud_base import CloudBase, ident, report_drift
from khz_tui.engine.cloud.names import NodeSlot, cluster_labels
from khz_tui.engine.events import ResourceCreated


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


def server_facts(server: Server, network_id: int | None, action_id: int | None = None) -> ServerFacts:
    """The facts of an hcloud server; its private IP on `network_id` (any network when None)."""
    public = server.public_net.ipv4.ip if server.public_net and server.public_net.ipv4 else None
    private = None
    for net in server.private_net or []:
        if network_id is None or net.network.id == network_id:
            private = net.ip
            break
    return ServerFacts(
        id=ident(server),
        name=server.name or str(server.id),
        public_ipv4=public,
        private_ip=private,
        server_type=drift.server_type_of(server),
        location=drift.location_of(server),
        status=server.status or "unknown",
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


class Servers(CloudBase):
    """The verbs of one server's life: create, wait, power on, attach, read; and its volumes."""

    async def create_server(
        self,
        slot: NodeSlot,
        *,
        network: BoundNetwork,
        firewall: BoundFirewall,
        placement_group: BoundPlacementGroup | None,
        ssh_key: BoundSSHKey,
        user_data: str,
    ) -> ServerFacts:
        """POST one server with network, placement group, labels and cloud-init at once (or adopt ours on
        a name clash).

        The firewall reaches it through the firewall's label selector, which these labels match (from the
        server's first boot): one application per server, so a person can still manage it, and none that
        khz-tui would have to remove. Only a firewall without that selector is named directly.

        The create action is not waited for here: `wait_created` does, through the shared batched waiter."""
        plan, h = self.plan, self.client.hcloud
        labels = cluster_labels(plan.name, **slot.labels_extra)
        if slot.role == "worker":
            pool = plan.pool(slot.pool)
            for key, value in (pool.labels if pool else {}).items():
                labels.setdefault(key, value)
        firewalls = [] if drift.has_cluster_selector(firewall, plan.name) else [firewall]
        try:
            result: CreateServerResponse = await self.client.call(
                lambda: h.servers.create(
                    name=slot.name,
                    server_type=ServerType(name=slot.server_type),
                    image=Image(name=slot.image),
                    location=Location(name=slot.location),
                    ssh_keys=[ssh_key],
                    networks=[network],
                    firewalls=list(firewalls),
                    placement_group=placement_group,
                    user_data=user_data,
                    labels=labels,
                    public_net=ServerCreatePublicNetwork(enable_ipv4=True, enable_ipv6=True),
                    start_after_create=True,
                ),
                what=f"creating server {slot.name}",
            )
        except CloudError as exc:
            found = await self._adopt_after_clash("server", slot.name, exc, h.servers.get_by_name)
            return server_facts(found, network.id)
        facts = server_facts(result.server, network.id, result.action.id if result.action else None)
        self.bus.emit(ResourceCreated(resource_type="server", name=slot.name, id=facts.id))
        return facts

    async def wait_created(self, facts: ServerFacts) -> None:
        """Wait for the server's create action: the one this run started, or (for a server found not
        running: an earlier run stopped, or a create whose answer was lost) the one in its history.
        Raises ActionFailed when the create failed."""
        what = f"creating server {facts.name}"
        action_id = facts.action_id
        if action_id is None and facts.status != "running":
            page = await self.client.call(lambda: self.client.hcloud.servers.get_actions_list(Server(id=facts.id)),
                                          what=f"reading the actions of server {facts.name}")
            for action in page.actions:
                if action.command != "create_server":
                    continue
                if action.status == "error":
                    err = action.error or {"message": "unknown error", "code": None}
                    raise ActionFailed(f"{what} failed: {err.get('message', 'unknown error')}", code=err.get("code"),
                                       what=what)
                if action.status == "running":
                    action_id = action.id
        if action_id is not None:
            await self.client.wait_action(action_id, what=what)

    async def power_on(self, server_id: int, name: str) -> None:
        """Power the server on and wait until it is on."""
        what = f"powering on server {name}"
        action = await self.client.call(lambda: self.client.hcloud.servers.power_on(Server(id=server_id)), what=what)
        await self._wait([action], what)

    async def attach_to_network(self, server_id: int, network: BoundNetwork, ip: str | None, *, what: str) -> None:
        """Attach the server to `network` (with address `ip`; any free one when None) and wait for it."""
        action = await self.client.call(
            lambda: self.client.hcloud.servers.attach_to_network(Server(id=server_id), network, ip=ip), what=what)
        await self._wait([action], what)

    async def read_server(self, server_id: int, name: str) -> BoundServer:
        """The server as the API has it now."""
        return await self.client.call(lambda: self.client.hcloud.servers.get_by_id(server_id),
                                      what=f"reading server {name}")

    async def ensure_volume(self, name: str, server: ServerFacts, *, size_gb: int, fmt: str) -> BoundVolume:
        """A volume attached with automount to its node: created with the server as its target, or
        found and compared (`drift.volume_drift`): attached again when found detached, reported when
        attached to another server."""
        h, known = self.client.hcloud, self.inventory.volumes

        async def attached(result: CreateVolumeResponse) -> BoundVolume:
            await self._wait([result.action, *(result.next_actions or [])], f"creating and attaching volume {name}")
            return result.volume

        found = name in known
        vol = await self._find_or_create(
            "volume", name, known,
            post=lambda: self.client.call(
                lambda: h.volumes.create(
                    size=size_gb, name=name, server=Server(id=server.id), automount=True, format=fmt,
                    # hcloud-python 2.27 annotates `labels` as str; the API (and its code) take the dict.
                    labels=cluster_labels(self.plan.name, node=server.name),  # type: ignore[arg-type]
                ),
                what=f"creating volume {name}",
            ),
            get_by_name=h.volumes.get_by_name,
            ready=attached,
        )
        if not found:  # created attached (the create's answer predates its attach action)
            return vol
        lines = drift.volume_drift(name, server.name, vol, server.id)
        report_drift(self.bus, lines)
        if any(line.kind == "change" for line in lines):
            what = f"attaching volume {name} to {server.name}"
            self.bus.log(f"volume {name} is detached (changed outside khz-tui); attaching it to {server.name} again",
                         node=server.name, level="warning")
            action = await self.client.call(lambda: h.volumes.attach(vol, Server(id=server.id), automount=True),
                                            what=what)
            await self._wait([action], what)
            vol = await self.client.call(lambda: h.volumes.get_by_id(ident(vol)), what=f"reading volume {name}")
            known[name] = vol
        return vol
