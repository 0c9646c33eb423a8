"""What every part of one apply shares: the nodes, the seed and its token, and the events the node
tasks wait on; plus the small helpers they all use (phase changes, a node's facts, SSH retries)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from khz_tui.engine.cloud.inventory import Inventory
from khz_tui.engine.cloud.names import NodeSlot, planned_nodes
from khz_tui.engine.cloud.servers import ServerFacts
from khz_tui.engine.context import RunContext
from khz_tui.engine.events import NodePhaseChanged
from khz_tui.engine.nodes import k3s_config
from khz_tui.engine.nodes.k3s_config import NodeFacts
from khz_tui.engine.nodes.session import NodeSession, SessionLost

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
#: How long k3s may take to start after a power-on, at time scale 1 (etcd waits for its peers).
K3S_START_DEADLINE = 300.0


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
    powered_on: bool = False
    """This run powered the server on: its k3s unit is still starting when SSH answers."""
    reachable: asyncio.Event = field(default_factory=asyncio.Event)


class ApplyProgress:
    """The state of one apply run, shared by its concurrent tasks."""

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
        that already runs it (see `seed.find_seed`). Joins, add-ons, readiness and the kubeconfig go through it."""
        self.k3s_version: str | None = None
        """The exact k3s release the seed runs: every join installs this one."""
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

    def phase(self, node: Node, phase: str, reason: str = "") -> None:
        if node.phase == phase:
            return
        node.phase = phase
        f = node.facts
        self.bus.emit(NodePhaseChanged(node=node.slot.name,
            phase=phase,
            reason=reason,
            public_ip=f.public_ipv4 if f else None,
            private_ip=f.private_ip if f else None,
            server_id=f.id if f else None,
        ))

    def first_cp(self) -> Node:
        return next(iter(self.nodes.values()))

    def seed_node(self) -> Node:
        assert self.seed is not None, "the seed is chosen before anything is installed"
        return self.seed

    def extra_servers(self) -> list[str]:
        """Servers labeled for the cluster that the plan no longer has (to scale down)."""
        return sorted(name for name in self.inv.servers if name not in self.nodes)

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
        control = [(n.facts.public_ipv4, n.facts.private_ip) for n in self.nodes.values()
                   if n.slot.role == "control-plane" and n.facts]
        return k3s_config.tls_sans(self.lb_public, self.lb_private, control)

    def join_url(self) -> str:
        """The API load balancer's private address when there is one, else the seed's."""
        seed = self.seed_node().facts
        assert seed is not None and seed.private_ip
        return k3s_config.join_url(self.lb_private, seed.private_ip)

    def ssh_deadline(self) -> float:
        return max(5.0, SSH_DEADLINE * self.ctx.time_scale)

    def k3s_start_deadline(self) -> float:
        return max(5.0, K3S_START_DEADLINE * self.ctx.time_scale)

    async def until_not_lost(self, node: Node, attempt, recover=None):
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

    async def retrying(self, node: Node, what, *args, **kwargs):
        """Run a node step, reconnecting and rerunning it when the SSH connection drops."""
        return await self.until_not_lost(
            node,
            lambda: what(node.session, *args, **kwargs),
            lambda: node.session.reconnect(deadline=self.ssh_deadline()),
        )

    def abort_sessions(self) -> None:
        for node in self.nodes.values():
            if node.session is not None:
                node.session.abort()

    async def close(self) -> None:
        for node in self.nodes.values():
            if node.session is not None:
                await node.session.close()
