"""What the parts of one apply share while it runs: the planned nodes and their phases, the schedule
(its policy scaled to the target's clock, its turns and milestones), the open SSH sessions, and the
helpers every part uses (a phase change, a node step tried again when its SSH connection drops)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Concatenate, ParamSpec, TypeVar

from khz_tui.engine.apply.milestones import Milestones
from khz_tui.engine.apply.policy import ApplyPolicy, Turns
from khz_tui.engine.apply.records import ClusterApi, ProvisionedNode
from khz_tui.engine.cloud.facade import Cloud
from khz_tui.engine.cloud.inventory import Inventory
from khz_tui.engine.cloud.names import NodeSlot, planned_nodes
from khz_tui.engine.cloud.servers import ServerFacts
from khz_tui.engine.context import RunContext
from khz_tui.engine.events import ConnectionDropped, NodePhase, NodePhaseChanged
from khz_tui.engine.nodes import k3s_config
from khz_tui.engine.nodes.session import NodeSession, SessionLost

P = ParamSpec("P")
T = TypeVar("T")


@dataclass
class Node:
    """One planned node as this run moves it along; its server may not exist yet."""

    slot: NodeSlot
    phase: NodePhase = "planned"
    existed: bool = False
    """The server was there before this run."""
    facts: ServerFacts | None = None
    """The server as last read: None until it is found or created."""
    server_ok: bool = False
    """The server exists and its create action (if any) succeeded."""
    powered_on: bool = False
    """This run powered the server on: its k3s unit is still starting when SSH answers."""


class ApplyProgress:
    """One apply while it runs, shared by its concurrent tasks."""

    def __init__(self, ctx: RunContext, policy: ApplyPolicy) -> None:
        self.ctx = ctx
        self.plan = ctx.plan
        self.bus = ctx.bus
        self.client = ctx.client
        self.policy = policy.scaled(ctx.time_scale)
        """The schedule's limits in seconds of the target's clock."""
        self.turns = Turns(self.policy)
        self.nodes: dict[str, Node] = {s.name: Node(s) for s in planned_nodes(ctx.plan)}
        self.milestones = Milestones(self.nodes)
        self.cloud = Cloud.of(ctx)
        """The cluster's resources in its project: every cloud verb of this apply goes through it."""
        self.registered: dict[str, bool] = {}
        """The nodes Kubernetes knows, as the seed last said, and whether each is Ready."""
        self.sessions: dict[str, NodeSession] = {}
        """Every SSH session this run opened, by node: closed (or aborted) when the run ends."""

    @property
    def inv(self) -> Inventory:
        """What the last discovery found (kept current by the verbs)."""
        return self.cloud.inventory

    def phase(self, node: Node | ProvisionedNode, phase: NodePhase, reason: str = "") -> None:
        known = self.nodes[node.slot.name]
        if known.phase == phase:
            return
        known.phase = phase
        f = known.facts
        self.bus.emit(NodePhaseChanged(
            node=node.slot.name, phase=phase, reason=reason,
            public_ip=f.public_ipv4 if f else None, private_ip=f.private_ip if f else None, server_id=f.id if f else None,
        ))

    def first_cp(self) -> Node:
        return next(iter(self.nodes.values()))

    def extra_servers(self) -> list[str]:
        """Servers labeled for the cluster that the plan no longer has (to scale down)."""
        return sorted(name for name in self.inv.servers if name not in self.nodes)

    def seed_node(self) -> ProvisionedNode:
        """The seed, once it serves the API: joins, add-ons, readiness and the kubeconfig go through it."""
        return self.milestones.api_up.value().seed

    def tls_sans(self) -> list[str]:
        """The names a control plane's certificate carries: the API load balancer's addresses and
        every control plane's."""
        lb = self.milestones.load_balancer.value()
        control = [(n.facts.public_ipv4, n.facts.private_ip) for n in self.nodes.values()
                   if n.slot.role == "control-plane" and n.facts]
        return k3s_config.tls_sans(lb.public, lb.private, control)

    def join_url(self, api: ClusterApi) -> str:
        """The API load balancer's private address when there is one, else the seed's."""
        return k3s_config.join_url(self.milestones.load_balancer.value().private, api.seed.private_ip)

    async def until_not_lost(
        self, node: str, attempt: Callable[[], Awaitable[T]], recover: Callable[[], Awaitable[None]] | None = None
    ) -> T:
        """Await `attempt()` again (after `recover()`) each time the SSH connection drops, up to the
        policy's `session_retries` times: a node rebooting mid-step comes back, one that keeps dropping fails."""
        for n in range(1, self.policy.session_retries + 1):
            try:
                return await attempt()
            except SessionLost as exc:
                self.bus.emit(ConnectionDropped(node=node, attempt=n, reason=str(exc)))
                if recover is not None:
                    await recover()
        return await attempt()  # the last try: a drop now fails the step

    async def retrying(
        self,
        session: NodeSession,
        what: Callable[Concatenate[NodeSession, P], Awaitable[T]],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        """Run a node step over `session`, reconnecting and running it again when the connection drops."""
        return await self.until_not_lost(
            session.node,
            lambda: what(session, *args, **kwargs),
            lambda: session.reconnect(deadline=self.policy.ssh_deadline),
        )

    def abort_sessions(self) -> None:
        for session in self.sessions.values():
            session.abort()

    async def close(self) -> None:
        for session in self.sessions.values():
            await session.close()
