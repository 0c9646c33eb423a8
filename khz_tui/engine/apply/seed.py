"""The seed and its token: which control plane the cluster grows from, chosen before anything is
installed, so that a live cluster is never given a new token."""

from __future__ import annotations

import asyncio
import secrets

from khz_tui.engine.apply.progress import ApplyProgress, Node
from khz_tui.engine.apply.records import ProvisionedNode, SeedChoice
from khz_tui.engine.nodes import cluster_token, k3s_unit
from khz_tui.engine.nodes.cluster_token import TokenState
from khz_tui.engine.nodes.session import CommandFailed


class _Probe:
    """What the existing control planes say about the cluster: its token, whether k3s runs."""

    def __init__(self, run: ApplyProgress) -> None:
        self.run = run
        self.tokens: dict[str, TokenState] = {}
        self.running: dict[str, bool] = {}
        self.nodes: dict[str, ProvisionedNode] = {}

    async def ask(self, node: Node) -> None:
        reached = await self.run.milestones.reachable[node.slot.name].wait()
        self.nodes[reached.name] = reached
        self.tokens[reached.name] = await self.run.retrying(reached.session, cluster_token.read_token_state)
        self.running[reached.name] = await self.run.retrying(reached.session, k3s_unit.is_running, "control-plane")

    def started(self, node: Node) -> str | None:
        """The cluster token of a server where k3s has run (it holds cluster data); None otherwise."""
        state = self.tokens.get(node.slot.name)
        return state.token if state is not None and state.started else None


async def find_seed(run: ApplyProgress) -> None:
    """Choose the seed and the cluster token before anything is installed.

    A live cluster is never given a new token: a server that has run k3s holds the cluster's data,
    and a token minted beside it starts a second cluster (cp-1 deleted behind our back and created
    again would otherwise `cluster-init` a new one while cp-2 and cp-3 keep the old). So the seed
    is cp-1 when k3s has run there; otherwise the lowest-numbered control plane found existing
    where k3s has run (one where it runs now first); otherwise cp-1 with the token an earlier
    run's installer left in its config.yaml; otherwise cp-1 with a fresh token."""
    await run.milestones.servers_known.wait()
    await run.milestones.load_balancer.wait()  # the seed's tls-san names the load balancer
    first = run.first_cp()
    existing = [n for n in run.nodes.values() if n.slot.role == "control-plane" and n.existed]
    probe = _Probe(run)
    if first in existing:
        await probe.ask(first)
    if not (first in existing and probe.started(first)):
        others = [n for n in existing if n is not first]
        await asyncio.gather(*(probe.ask(n) for n in others))
        if _seed_among(run, first, [n for n in others if probe.started(n)], probe):
            return
    known = probe.tokens.get(first.slot.name)
    if known is not None and known.token:
        run.bus.log(f"k3s was installed on {first.slot.name} before; reusing its cluster token", node=first.slot.name)
        _choose_seed(run, first, known.token, running=probe.running[first.slot.name])
    else:
        _choose_seed(run, first, secrets.token_hex(32), running=False)


def _seed_among(run: ApplyProgress, first: Node, started: list[Node], probe: _Probe) -> bool:
    """Choose the first of the other control planes where k3s has run, when there is one (True).
    Raises CommandFailed when k3s does not run on it: a new token would start a second cluster."""
    if not started:
        return False
    seed = min(started, key=lambda n: (not probe.running[n.slot.name], n.slot.index))
    name = seed.slot.name
    token = probe.started(seed)
    if not probe.running[name] or token is None:
        raise CommandFailed(
            f"k3s does not run on {name}, the first control plane still holding the cluster's "
            f"data ({first.slot.name} no longer does); minting a new token would start a second cluster. "
            f"Start it there (`systemctl start k3s`) and rerun.",
            node=name, address=str(probe.nodes[name].session.endpoint),
            command="systemctl is-active k3s", result=None,
        )
    _choose_seed(run, seed, token, running=True)
    run.bus.log(
        f"{first.slot.name} no longer runs the cluster; {name} does: it leads the bootstrap, "
        f"its cluster token is kept and {first.slot.name} joins like any other control plane",
        node=name, level="warning",
    )
    return True


def _choose_seed(run: ApplyProgress, node: Node, token: str, *, running: bool) -> None:
    run.bus.add_secret(token)
    run.milestones.seed_known.reach(SeedChoice(name=node.slot.name, token=token, running=running))
