"""The one readiness watcher: polls `kubectl get nodes` on the seed, moves nodes to `ready`, and reaches
the milestones the joins wait for (the seed Ready, every control plane Ready)."""

from __future__ import annotations

import asyncio

from khz_tui.engine.apply.progress import ApplyProgress
from khz_tui.engine.apply.records import ProvisionedNode
from khz_tui.engine.nodes.node_readiness import NodeCondition, NodesNotReady, node_conditions


async def watch_readiness(run: ApplyProgress) -> None:
    """Poll the seed for Ready nodes; mark phases; release the joins waiting for readiness.
    Raises NodesNotReady after the deadline, naming each waiting node and what Kubernetes says of it."""
    seed = (await run.milestones.api_up.wait()).seed
    loop = asyncio.get_running_loop()
    deadline = loop.time() + run.policy.ready_deadline
    while True:
        conditions = await run.retrying(seed.session, node_conditions)
        run.registered.update({name: c.ready for name, c in conditions.items()})
        for name, condition in conditions.items():
            node = run.nodes.get(name)
            if node is not None and condition.ready and node.phase in ("joined", "installing", "ssh-ready"):
                run.phase(node, "ready")
        _reach_milestones(run, seed, conditions)
        if all(n.phase == "ready" for n in run.nodes.values()):
            return
        if loop.time() > deadline:
            raise _not_ready(run, seed, conditions)
        await asyncio.sleep(run.policy.readiness_poll)


def _reach_milestones(run: ApplyProgress, seed: ProvisionedNode, conditions: dict[str, NodeCondition]) -> None:
    milestones = run.milestones
    if not milestones.seed_ready.reached and conditions.get(seed.name, NodeCondition(False)).ready:
        milestones.seed_ready.reach(None)
    control = [n for n in run.nodes.values() if n.slot.role == "control-plane"]
    if not milestones.control_plane_ready.reached and all(n.phase == "ready" for n in control):
        milestones.control_plane_ready.reach(None)


def _not_ready(run: ApplyProgress, seed: ProvisionedNode, conditions: dict[str, NodeCondition]) -> NodesNotReady:
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
    return NodesNotReady(
        f"after {run.policy.ready_deadline:.0f}s {len(waiting)} node(s) are not Ready ({'; '.join(parts)}). "
        "`kubectl describe node` shows more (CNI, cloud controller, kubelet); apply again once the cause is fixed.",
        node=seed.name, address=str(seed.session.endpoint),
        pending=[n.slot.name for n in waiting],
    )
