"""Apply: converge the project to the plan, bootstrap k3s, write the kubeconfig.

The critical path decides the wall time, so nothing waits for what it does not need:

    discover (7 list requests) ─┬─ network ─┬─ servers (POSTs, 10 at a time) ─ SSH ─ seed install ─┬─ add-ons
                                ├─ firewall ┤                                                     ├─ workers join (parallel)
                                ├─ ssh key ─┤                                    seed Ready ──────┴─ other control planes join (one at a time)
                                └─ groups ──┘─ load balancer (needed only by the seed's tls-san)
                                                                     all Ready ─ scale-down ─ kubeconfig

Each node runs its own task through the phases planned → creating → booting → ssh-ready →
installing → joined → ready. Everything found by label is kept (and checked for drift), so a rerun
makes no mutating API call, and a run stopped anywhere continues where it stopped. The seed is cp-1
for a new cluster, or a control plane already running it (`_find_seed`): a live cluster never gets a
new token.
"""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hcloud.servers.domain import Server

from khz_tui.engine.cloud import resources
from khz_tui.engine.cloud.client import ActionFailed, CloudError
from khz_tui.engine.cloud.inventory import Inventory, discover
from khz_tui.engine.cloud.names import (
    NodeSlot,
    network_name,
    planned_nodes,
    planned_placement_groups,
    planned_volumes,
)
from khz_tui.engine.cloud.resources import lb_addresses
from khz_tui.engine.cloud.servers import ServerFacts, create_server, delete_volume, ensure_volume, server_drift, server_facts
from khz_tui.engine.context import NotConfirmed, RunContext
from khz_tui.engine.events import DriftDetected, KubeconfigWritten, NodePhaseChanged, NodePlanned, ResourceDeleted, ResourceFound
from khz_tui.engine.nodes import bootstrap, kubeconfig
from khz_tui.engine.nodes.cloud_init import render_user_data
from khz_tui.engine.nodes.k3s_config import NodeFacts
from khz_tui.engine.nodes.session import CommandFailed, NodeSession, SessionLost, SshEndpoint
from khz_tui.engine.steps import step

#: Servers created at once (Hetzner's own tools use 10; more only queues in the API).
CREATE_PARALLEL = 10
#: How long a node may take to answer SSH, at time scale 1.
SSH_DEADLINE = 600.0
#: How long the cluster may take to report every node Ready, at time scale 1.
READY_DEADLINE = 900.0
#: Times a node step is retried after its SSH connection dropped (a reboot mid-install).
SESSION_RETRIES = 5
#: Times a server is created when its create action fails (the broken one is deleted in between).
CREATE_ATTEMPTS = 5
API_PORT = 6443


@dataclass
class Node:
    """One node's live state during the run."""

    slot: NodeSlot
    facts: ServerFacts | None = None
    session: NodeSession | None = None
    phase: str = "planned"
    existed: bool = False
    server_ok: bool = False
    """The server exists and its create action (if any) succeeded."""
    reachable: asyncio.Event = field(default_factory=asyncio.Event)


class Apply:
    """One apply run. `await Apply(ctx).run()` returns (ready nodes, total nodes)."""

    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx
        self.plan = ctx.plan
        self.bus = ctx.bus
        self.client = ctx.client
        self.nodes: dict[str, Node] = {s.name: Node(s) for s in planned_nodes(ctx.plan)}
        self.inv = Inventory()
        self.network: Any = None
        self.lb_public: str | None = None
        self.lb_private: str | None = None
        self.token: str | None = None
        self.seed: Node | None = None
        """The control plane the cluster grows from: cp-1 for a new cluster, otherwise a control plane
        that already runs it (see `_find_seed`). Joins, add-ons, readiness and the kubeconfig go through it."""
        self.seed_running = False
        """The seed already runs k3s (nothing to install there)."""
        self.seed_known = asyncio.Event()
        self.api_up = asyncio.Event()
        self.first_ready = asyncio.Event()
        self.cp_join = asyncio.Lock()
        self.create_gate = asyncio.Semaphore(CREATE_PARALLEL)
        self.k8s_nodes: dict[str, bool] = {}
        self.lb_ready = asyncio.Event()
        self.servers_known = asyncio.Event()

    # -- helpers ------------------------------------------------------------------------------

    def phase(self, node: Node, phase: str, reason: str = "") -> None:
        if node.phase == phase:
            return
        node.phase = phase
        f = node.facts
        self.bus.emit(
            NodePhaseChanged,
            node=node.slot.name,
            phase=phase,
            reason=reason,
            public_ip=f.public_ipv4 if f else None,
            private_ip=f.private_ip if f else None,
            server_id=f.id if f else None,
        )

    def first_cp(self) -> Node:
        return next(iter(self.nodes.values()))

    def seed_node(self) -> Node:
        assert self.seed is not None, "the seed is chosen before anything is installed"
        return self.seed

    def node_facts(self, node: Node) -> NodeFacts:
        f = node.facts
        assert f is not None
        return NodeFacts(
            name=node.slot.name,
            role=node.slot.role,
            pool=node.slot.pool,
            server_id=f.id,
            public_ipv4=f.public_ipv4 or "",
            private_ip=f.private_ip or "",
            location=f.location,
            server_type=f.server_type,
        )

    def tls_sans(self) -> list[str]:
        sans = [a for a in (self.lb_public, self.lb_private) if a]
        for node in self.nodes.values():
            if node.slot.role == "control-plane" and node.facts:
                sans += [a for a in (node.facts.public_ipv4, node.facts.private_ip) if a]
        return list(dict.fromkeys(sans))

    def join_url(self) -> str:
        seed = self.seed_node().facts
        assert seed is not None and seed.private_ip
        return f"https://{seed.private_ip}:{API_PORT}"

    # -- the run -------------------------------------------------------------------------------

    async def run(self) -> tuple[int, int]:
        async with step(self.bus, "discover", "Finding what already exists"):
            self.inv = await discover(self.client, self.plan.name)
        extra = sorted(name for name in self.inv.servers if name not in self.nodes)
        if extra:
            question = (
                f"The plan has fewer nodes than cluster {self.plan.name!r}: {', '.join(extra)} will be drained, "
                "removed from Kubernetes and their servers deleted. Continue?"
            )
            if not await self.ctx.confirmed(question):
                raise NotConfirmed(
                    f"scale-down of {', '.join(extra)} was not confirmed; nothing was changed "
                    "(confirm with --yes, or raise the counts in the plan back)"
                )
        for node in self.nodes.values():
            s = node.slot
            self.bus.emit(NodePlanned, node=s.name, role=s.role, pool=s.pool, server_type=s.server_type, location=s.location)

        async with step(self.bus, "infrastructure", "Network, firewall, SSH key, placement groups"):
            shared = await self._infrastructure()
        if not self.plan.load_balancer.enabled:
            self.lb_ready.set()
        await self._together(
            [self._servers_and_cluster(shared)] + ([self._load_balancer()] if self.plan.load_balancer.enabled else [])
        )
        async with step(self.bus, "kubeconfig", "Writing the kubeconfig"):
            await self._kubeconfig()
        ready = sum(1 for n in self.nodes.values() if n.phase == "ready")
        return ready, len(self.nodes)

    async def _together(self, coros: list) -> None:
        """Run `coros` concurrently; the first failure (or a cancellation of this run) stops the rest.

        Not a TaskGroup: on the way out the SSH connections are aborted first, because a task
        cancelled in the middle of an SFTP transfer can otherwise wait forever for a graceful close."""
        tasks = [asyncio.create_task(c) for c in coros]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
            for task in done:
                if task.exception() is not None:
                    raise task.exception()
        except BaseException:
            self._abort_sessions()
            for task in tasks:
                task.cancel()
            await asyncio.wait(tasks, timeout=10)
            raise

    def _abort_sessions(self) -> None:
        for node in self.nodes.values():
            if node.session is not None:
                node.session.abort()

    async def close(self) -> None:
        for node in self.nodes.values():
            if node.session is not None:
                await node.session.close()

    async def _infrastructure(self) -> dict[str, Any]:
        plan, bus, client, inv = self.plan, self.bus, self.client, self.inv
        public_key = Path(plan.ssh.public_key).expanduser().read_text(encoding="utf-8").strip()

        async def groups() -> dict[str, Any]:
            names = planned_placement_groups(plan)
            made = await asyncio.gather(*(resources.ensure_placement_group(client, bus, plan, inv, n) for n in names))
            return dict(zip(names, made))

        network, firewall, key, pgs = await asyncio.gather(
            resources.ensure_network(client, bus, plan, inv),
            resources.ensure_firewall(client, bus, plan, inv, self.ctx.seam.caller_cidr),
            resources.ensure_ssh_key(client, bus, plan, inv, public_key),
            groups(),
        )
        if network.ip_range != plan.network.ip_range:
            bus.emit(
                DriftDetected, resource_type="network", name=network.name, field="ip_range",
                expected=plan.network.ip_range, actual=str(network.ip_range),
            )
        self.network = network
        return {"network": network, "firewall": firewall, "ssh_key": key, "placement_groups": pgs}

    async def _load_balancer(self) -> None:
        async with step(self.bus, "load-balancer", "API load balancer"):
            lb = await resources.ensure_load_balancer(self.client, self.bus, self.plan, self.inv, self.network)
            if lb.load_balancer_type and lb.load_balancer_type.name and lb.load_balancer_type.name != self.plan.load_balancer.type:
                self.bus.emit(
                    DriftDetected, resource_type="load balancer", name=lb.name, field="type",
                    expected=self.plan.load_balancer.type, actual=lb.load_balancer_type.name,
                )
            self.lb_public, self.lb_private = lb_addresses(lb)
            self.lb_ready.set()

    async def _servers_and_cluster(self, shared: dict[str, Any]) -> None:
        async with step(self.bus, "cluster", "Servers and k3s bootstrap"):
            await self._together(
                [self._node(node, shared) for node in self.nodes.values()]
                + [self._find_seed(), self._watch_readiness(), self._volumes(), self._addons()]
            )
        extra = sorted(name for name in self.inv.servers if name not in self.nodes)
        if extra:
            async with step(self.bus, "scale-down", f"Removing {len(extra)} node(s)"):
                await self._scale_down(extra)

    # -- one node -----------------------------------------------------------------------------

    async def _node(self, node: Node, shared: dict[str, Any]) -> None:
        try:
            await self._provision(node, shared)
            await self._bootstrap(node)
        except Exception as exc:
            self.phase(node, "failed", reason=str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__)
            raise

    async def _provision(self, node: Node, shared: dict[str, Any]) -> None:
        slot = node.slot
        host_key = self.ctx.state.host_key(slot.name)
        await self._ensure_server(node, shared, host_key)
        self._maybe_servers_known()
        if node.facts.private_ip is None:
            fresh = await self.client.call(self.client.hcloud.servers.get_by_id, node.facts.id, what=f"reading server {slot.name}")
            node.facts = server_facts(fresh, self.network.id)
        endpoint = await self.ctx.seam.endpoint(self.client, node.facts.id, node.facts.public_ipv4)
        # A connection dropped while waiting for cloud-init (a reboot) is simply opened again.
        node.session = await self._until_not_lost(node, lambda: NodeSession.connect(
            node=slot.name,
            endpoint=SshEndpoint(endpoint.host, endpoint.port),
            host_key=host_key,
            client_key=Path(self.plan.ssh.private_key).expanduser(),
            bus=self.bus,
            deadline=max(5.0, SSH_DEADLINE * self.ctx.time_scale),
            retry_interval=self.ctx.scaled(1.0),
            max_interval=self.ctx.scaled(2.0, floor=0.05),  # refused connections are cheap
        ))
        self.phase(node, "ssh-ready")
        node.reachable.set()

    async def _ensure_server(self, node: Node, shared: dict[str, Any], host_key) -> None:
        """Find or create the node's server and wait until its create action has succeeded.

        A server whose create action failed (found so, or failing in this run) is deleted and
        created again, up to CREATE_ATTEMPTS times: on Hetzner such a server stays `off` and can
        only be deleted, and a rerun must not wait for SSH from it."""
        slot = node.slot
        existing = self.inv.servers.get(slot.name)
        if existing is not None:
            node.existed = True
            node.facts = server_facts(existing, self.network.id)
            server_drift(self.bus, slot, node.facts, self.network.id)
            self.bus.emit(ResourceFound, resource_type="server", name=slot.name, id=node.facts.id)
            self.phase(node, "booting")
        for attempt in range(1, CREATE_ATTEMPTS + 1):
            if node.facts is None:
                self.phase(node, "creating")
                user_data = render_user_data(self.plan, slot.name, host_key)
                async with self.create_gate:
                    node.facts = await create_server(
                        self.client, self.bus, self.plan, slot,
                        network=shared["network"], firewall=shared["firewall"],
                        placement_group=shared["placement_groups"][slot.placement_group], ssh_key=shared["ssh_key"],
                        user_data=user_data,
                    )
            try:
                await self._wait_created(node)
            except ActionFailed as exc:
                if attempt == CREATE_ATTEMPTS:
                    raise
                self.bus.log(
                    f"{exc.message}; deleting server {slot.name} and creating it again "
                    f"(attempt {attempt + 1} of {CREATE_ATTEMPTS})", node=slot.name, level="warning",
                )
                await self._delete_broken(node)
                node.facts, node.existed = None, False
                self.inv.servers.pop(slot.name, None)
                continue
            if node.existed and node.facts.status == "off":
                await self._power_on(node)
            node.server_ok = True
            self.phase(node, "booting")
            return

    async def _wait_created(self, node: Node) -> None:
        """Wait for the server's create action: the one this run started, or (for a server found not
        running: an earlier run stopped, or a create whose answer was lost) the one in its history."""
        f = node.facts
        assert f is not None
        what = f"creating server {node.slot.name}"
        action_id = f.action_id
        if action_id is None and f.status != "running":
            page = await self.client.call(
                self.client.hcloud.servers.get_actions_list, Server(id=f.id), what=f"reading the actions of server {f.name}"
            )
            for action in page.actions:
                if action.command != "create_server":
                    continue
                if action.status == "error":
                    err = action.error or {}
                    raise ActionFailed(f"{what} failed: {err.get('message', 'unknown error')}", code=err.get("code"), what=what)
                if action.status == "running":
                    action_id = action.id
        if action_id is not None:
            await self.client.wait_action(action_id, what=what)

    async def _power_on(self, node: Node) -> None:
        """Start a server someone powered off. The plan asks for this node in the cluster, and the
        rerun would otherwise wait out the SSH deadline for a machine that cannot answer; powering
        on loses nothing (its disk and k3s data are kept), so apply does it and says so. A node meant
        to stay down is taken out of the plan (scale-down) instead."""
        f = node.facts
        assert f is not None
        what = f"powering on server {f.name}"
        self.bus.log(
            f"server {f.name} is powered off (stopped outside khz-tui); powering it on, because the plan "
            "has it in the cluster (lower the count in the plan to remove it instead)",
            node=f.name, level="warning",
        )
        action = await self.client.call(self.client.hcloud.servers.power_on, Server(id=f.id), what=what)
        if action is not None and getattr(action, "id", None) is not None:
            await self.client.wait_action(action.id, what=what)
        f.status = "running"

    async def _delete_broken(self, node: Node) -> None:
        f = node.facts
        assert f is not None
        what = f"deleting the broken server {f.name}"
        try:
            action = await self.client.call(self.client.hcloud.servers.delete, Server(id=f.id), what=what)
        except CloudError as exc:
            if exc.code not in ("not_found", 404):
                raise
            action = None
        if action is not None and getattr(action, "id", None) is not None:
            await self.client.wait_action(action.id, what=what)
        self.bus.emit(ResourceDeleted, resource_type="server", name=f.name, id=f.id)

    def _maybe_servers_known(self) -> None:
        if all(n.server_ok for n in self.nodes.values() if n.slot.role == "control-plane"):
            self.servers_known.set()

    async def _until_not_lost(self, node: Node, attempt, recover=None):
        """Await `attempt()` again (after `recover()`) each time the SSH connection drops, up to
        SESSION_RETRIES times: a node rebooting mid-step comes back, a node that keeps dropping fails."""
        for n in range(SESSION_RETRIES + 1):
            try:
                return await attempt()
            except SessionLost as exc:
                if n == SESSION_RETRIES:
                    raise
                self.bus.log(str(exc), node=node.slot.name, level="warning")
                if recover is not None:
                    await recover()

    async def _retrying(self, node: Node, what, *args, **kwargs):
        """Run a node step, reconnecting and rerunning it when the SSH connection drops."""
        return await self._until_not_lost(
            node,
            lambda: what(node.session, *args, **kwargs),
            lambda: node.session.reconnect(deadline=max(5.0, SSH_DEADLINE * self.ctx.time_scale)),
        )

    async def _find_seed(self) -> None:
        """Choose the seed and the cluster token before anything is installed.

        A live cluster is never given a new token: a server that has run k3s holds the cluster's data,
        and a token minted beside it starts a second cluster (cp-1 deleted behind our back and created
        again would otherwise `cluster-init` a new one while cp-2 and cp-3 keep the old). So the seed
        is cp-1 when k3s has run there; otherwise the lowest-numbered control plane found existing
        where k3s has run (one where it runs now first); otherwise cp-1 with the token an earlier
        run's installer left in its config.yaml; otherwise cp-1 with a fresh token."""
        await self.servers_known.wait()
        await self.lb_ready.wait()  # the seed's tls-san names the load balancer
        first = self.first_cp()
        existing = [n for n in self.nodes.values() if n.slot.role == "control-plane" and n.existed]
        states: dict[str, bootstrap.TokenState] = {}
        running: dict[str, bool] = {}

        async def probe(node: Node) -> None:
            await node.reachable.wait()
            states[node.slot.name] = await self._retrying(node, bootstrap.read_token_state)
            running[node.slot.name] = await self._retrying(node, bootstrap.is_installed, "control-plane")

        if first in existing:
            await probe(first)
        if not (first in existing and states[first.slot.name].started):
            others = [n for n in existing if n is not first]
            await asyncio.gather(*(probe(n) for n in others))
            started = [n for n in others if states[n.slot.name].started]
            if started:
                seed = min(started, key=lambda n: (not running[n.slot.name], n.slot.index))
                if not running[seed.slot.name]:
                    raise CommandFailed(
                        f"k3s does not run on {seed.slot.name}, the first control plane still holding the cluster's "
                        f"data ({first.slot.name} no longer does); minting a new token would start a second cluster. "
                        f"Start it there (`systemctl start k3s`) and rerun.",
                        node=seed.slot.name, address=str(seed.session.endpoint) if seed.session else "",
                        command="systemctl is-active k3s", result=None,
                    )
                self._choose_seed(seed, states[seed.slot.name].token, running=True)
                self.bus.log(
                    f"{first.slot.name} no longer runs the cluster; {seed.slot.name} does: it leads the bootstrap, "
                    f"its cluster token is kept and {first.slot.name} joins like any other control plane",
                    node=seed.slot.name, level="warning",
                )
                return
        known = states.get(first.slot.name)
        if known is not None and known.token:
            self.bus.log(f"k3s was installed on {first.slot.name} before; reusing its cluster token", node=first.slot.name)
            self._choose_seed(first, known.token, running=running[first.slot.name])
        else:
            self._choose_seed(first, secrets.token_hex(32), running=False)

    def _choose_seed(self, node: Node, token: str | None, *, running: bool) -> None:
        assert token
        self.seed, self.token, self.seed_running = node, token, running
        self.bus.add_secret(token)
        self.seed_known.set()

    async def _bootstrap(self, node: Node) -> None:
        slot = node.slot
        facts = self.node_facts(node)
        if slot.role == "control-plane":
            await self.seed_known.wait()
        if node is self.seed:
            if not self.seed_running:
                self.phase(node, "installing")
                await self._retrying(
                    node, bootstrap.install_first_server, self.plan, facts, token=self.token,
                    tls_sans=self.tls_sans(), bus=self.bus,
                )
                # An installer an earlier run started (and lost the session to) may have finished
                # first with that run's token: the token on the node is the one joiners need.
                actual = await self._retrying(node, bootstrap.read_cluster_token)
                if actual and not actual.endswith(f"::server:{self.token}") and actual != self.token:
                    self.bus.log(f"k3s on {slot.name} was started by an earlier run; using its cluster token", node=slot.name)
                    self.token = actual
            self.k8s_nodes = await self._retrying(node, bootstrap.node_readiness)
            self.phase(node, "joined")
            self.api_up.set()
            return
        await self.api_up.wait()
        if slot.name in self.k8s_nodes:
            if node.existed and (
                self.k8s_nodes[slot.name] or await self._retrying(node, bootstrap.is_installed, slot.role)
            ):
                self.phase(node, "joined")
                return
            # Kubernetes knows the name, but this server is new (or runs no k3s): the old server was
            # deleted behind our back. Its Node object goes first, or k3s refuses the new machine (for
            # a control plane, k3s removes its etcd member with it).
            await self._retrying(self.seed_node(), bootstrap.delete_stale_node, slot.name, self.bus)
            self.k8s_nodes.pop(slot.name, None)
        if slot.role == "control-plane":
            # etcd admits one learner at a time: control planes join one after another, once the
            # seed is Ready.
            await self.first_ready.wait()
            async with self.cp_join:
                self.phase(node, "installing")
                await self._retrying(
                    node, bootstrap.join_server, self.plan, facts, token=self.token, join_url=self.join_url(),
                    tls_sans=self.tls_sans(), bus=self.bus, retry_delay=self.ctx.scaled(5.0),
                )
        else:
            self.phase(node, "installing")
            await self._retrying(
                node, bootstrap.join_agent, self.plan, facts, token=self.token, join_url=self.join_url(), bus=self.bus
            )
        self.phase(node, "joined")

    async def _addons(self) -> None:
        await self.api_up.wait()
        async with step(self.bus, "addons", "Cluster add-ons"):
            await self._retrying(
                self.seed_node(), bootstrap.install_addons, self.plan, hcloud_token=self.ctx.hcloud_token,
                network=network_name(self.plan.name), bus=self.bus,
            )

    async def _watch_readiness(self) -> None:
        """Poll the seed for Ready nodes; mark phases; release the control-plane joins once it is Ready."""
        await self.api_up.wait()
        seed = self.seed_node()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(10.0, READY_DEADLINE * self.ctx.time_scale)
        interval = self.ctx.scaled(1.0)
        while True:
            ready = await self._retrying(seed, bootstrap.node_readiness)
            self.k8s_nodes.update(ready)
            for name, is_ready in ready.items():
                node = self.nodes.get(name)
                if node is not None and is_ready and node.phase in ("joined", "installing", "ssh-ready"):
                    self.phase(node, "ready")
            if ready.get(seed.slot.name):
                self.first_ready.set()
            if all(n.phase == "ready" for n in self.nodes.values()):
                return
            if loop.time() > deadline:
                waiting = [n.slot.name for n in self.nodes.values() if n.phase != "ready"]
                raise TimeoutError(f"nodes not Ready in time: {', '.join(waiting)}")
            await asyncio.sleep(interval)

    async def _volumes(self) -> None:
        wanted = planned_volumes(self.plan)
        if not wanted:
            return

        async def one(name: str, node_name: str, size: int, fmt: str) -> None:
            node = self.nodes[node_name]
            await node.reachable.wait()  # the server exists and is running: no `locked` answer
            assert node.facts is not None
            await ensure_volume(self.client, self.bus, self.plan, self.inv.volumes, name=name, server=node.facts, size_gb=size, fmt=fmt)

        async with step(self.bus, "volumes", f"{len(wanted)} volume(s)"):
            await asyncio.gather(*(one(*v) for v in wanted))

    # -- scale down and kubeconfig -------------------------------------------------------------

    async def _scale_down(self, names: list[str]) -> None:
        seed = self.seed_node()
        for name in names:
            server = self.inv.servers[name]
            self.bus.emit(NodePhaseChanged, node=name, phase="deleting", server_id=server.id)
            await self._retrying(seed, bootstrap.remove_node, name, self.bus)
            for vol_name, vol in list(self.inv.volumes.items()):
                if (vol.labels or {}).get("khz-tui.io/node") == name:
                    await delete_volume(self.client, self.bus, vol)
                    del self.inv.volumes[vol_name]
            response = await self.client.call(self.client.hcloud.servers.delete, server, what=f"deleting server {name}")
            if response is not None:
                await self.client.wait_action(response.id, what=f"deleting server {name}")
            self.bus.emit(ResourceDeleted, resource_type="server", name=name, id=server.id)
            self.bus.emit(NodePhaseChanged, node=name, phase="deleted", server_id=server.id)
            self.ctx.state.forget_host_key(name)
            del self.inv.servers[name]

    async def _kubeconfig(self) -> None:
        seed = self.seed_node()
        raw = await self._retrying(seed, bootstrap.fetch_kubeconfig)
        assert seed.facts is not None
        host = self.lb_public or seed.facts.public_ipv4
        server_url = f"https://{host}:{API_PORT}"
        text = kubeconfig.rewrite_kubeconfig(raw, self.plan.name, server_url)
        path = self.ctx.options.kubeconfig or self.ctx.state.kubeconfig_path
        kubeconfig.write_kubeconfig(text, Path(path))
        if self.ctx.options.merge_kubeconfig:
            kubeconfig.merge_kubeconfig(text, kubeconfig.default_merge_target())
        # A simulated cluster's API address is not a server anyone can reach: offer a command that
        # works offline rather than one that would try to connect there.
        verb = "config get-contexts" if self.ctx.seam.simulated else "get nodes"
        self.bus.emit(
            KubeconfigWritten, path=str(path), context=self.plan.name, server=server_url,
            command=f"kubectl --kubeconfig {path} {verb}",
        )


async def apply(ctx: RunContext) -> tuple[int, int]:
    """Converge and bootstrap; returns (nodes Ready, nodes planned). Raises StepError / NotConfirmed."""
    run = Apply(ctx)
    try:
        return await run.run()
    finally:
        await run.close()


