"""The seed and its token: which control plane the cluster grows from, chosen before anything is
installed, so that a live cluster is never given a new token."""

from __future__ import annotations

import asyncio
import secrets

from khz_tui.engine.apply.progress import ApplyProgress, Node
from khz_tui.engine.nodes import cluster_token, k3s_unit
from khz_tui.engine.nodes.session import CommandFailed


async def find_seed(run: ApplyProgress) -> None:
    """Choose the seed and the cluster token before anything is installed.

    A live cluster is never given a new token: a server that has run k3s holds the cluster's data,
    and a token minted beside it starts a second cluster (cp-1 deleted behind our back and created
    again would otherwise `cluster-init` a new one while cp-2 and cp-3 keep the old). So the seed
    is cp-1 when k3s has run there; otherwise the lowest-numbered control plane found existing
    where k3s has run (one where it runs now first); otherwise cp-1 with the token an earlier
    run's installer left in its config.yaml; otherwise cp-1 with a fresh token."""
    await run.servers_known.wait()
    await run.lb_ready.wait()  # the seed's tls-san names the load balancer
    first = run.first_cp()
    existing = [n for n in run.nodes.values() if n.slot.role == "control-plane" and n.existed]
    states: dict[str, cluster_token.TokenState] = {}
    running: dict[str, bool] = {}

    async def probe(node: Node) -> None:
        await node.reachable.wait()
        states[node.slot.name] = await run.retrying(node, cluster_token.read_token_state)
        running[node.slot.name] = await run.retrying(node, k3s_unit.is_running, "control-plane")

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
            _choose_seed(run, seed, states[seed.slot.name].token, running=True)
            run.bus.log(
                f"{first.slot.name} no longer runs the cluster; {seed.slot.name} does: it leads the bootstrap, "
                f"its cluster token is kept and {first.slot.name} joins like any other control plane",
                node=seed.slot.name, level="warning",
            )
            return
    known = states.get(first.slot.name)
    if known is not None and known.token:
        run.bus.log(f"k3s was installed on {first.slot.name} before; reusing its cluster token", node=first.slot.name)
        _choose_seed(run, first, known.token, running=running[first.slot.name])
    else:
        _choose_seed(run, first, secrets.token_hex(32), running=False)


def _choose_seed(run: ApplyProgress, node: Node, token: str | None, *, running: bool) -> None:
    assert token
    run.seed, run.token, run.seed_running = node, token, running
    run.bus.add_secret(token)
    run.seed_known.set()
