"""The one readiness watcher: polls `kubectl get nodes` on the seed and moves nodes to `ready`."""

from __future__ import annotations

import asyncio

from khz_tui.engine.apply.progress import READY_DEADLINE, ApplyProgress
from khz_tui.engine.nodes.node_readiness import NodeCondition, NodesNotReady, node_conditions


async def watch_readiness(run: ApplyProgress) -> None:
    """Poll the seed for Ready nodes; mark phases; release the control-plane joins once it is Ready.
    Raises NodesNotReady after the deadline, naming each waiting node and what Kubernetes says of it."""
    await run.api_up.wait()
    seed = run.seed_node()
    loop = asyncio.get_running_loop()
    timeout = max(10.0, READY_DEADLINE * run.ctx.time_scale)
    deadline = loop.time() + timeout
    interval = run.ctx.scaled(1.0)
    while True:
        conditions = await run.retrying(seed, node_conditions)
        run.k8s_nodes.update({name: c.ready for name, c in conditions.items()})
        for name, condition in conditions.items():
            node = run.nodes.get(name)
            if node is not None and condition.ready and node.phase in ("joined", "installing", "ssh-ready"):
                run.phase(node, "ready")
        if conditions.get(seed.slot.name, NodeCondition(False)).ready:
            run.first_ready.set()
        if all(n.phase == "ready" for n in run.nodes.values()):
            return
        if loop.time() > deadline:
            raise _not_ready(run, conditions, timeout)
        await asyncio.sleep(interval)


def _not_ready(
    run: ApplyProgress, conditions: dict[str, NodeCondition], timeout: float
) -> NodesNotReady:
    waiting = [n for n in run.nodes.values() if n.phase != "ready"]
    parts = []
    for node in waiting:
        name = node.slot.name
        if node.facts is not None and node.facts.private_ip is None:
            why = "its server is not attached to the cluster's network"
        elif name not in conditions:
            why = f"never registered with Kubernetes (phase {node.phase})"
        else:
            why = conditions[name].why or f"phase {node.phase}"
        parts.append(f"{name}: {run.bus.scrub(why)}")
    seed = run.seed_node()
    return NodesNotReady(
        f"after {timeout:.0f}s {len(waiting)} node(s) are not Ready ({'; '.join(parts)}). "
        "`kubectl describe node` shows more (CNI, cloud controller, kubelet); apply again once the cause is fixed.",
        node=seed.slot.name, address=str(seed.session.endpoint) if seed.session else "",
        pending=[n.slot.name for n in waiting],
    )
