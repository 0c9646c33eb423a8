"""The one readiness watcher: polls `kubectl get nodes` on the seed and moves nodes to `ready`."""

from __future__ import annotations

import asyncio

from khz_tui.engine.apply.run_state import READY_DEADLINE, ApplyRun
from khz_tui.engine.nodes import bootstrap


async def watch_readiness(run: ApplyRun) -> None:
    """Poll the seed for Ready nodes; mark phases; release the control-plane joins once it is Ready."""
    await run.api_up.wait()
    seed = run.seed_node()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + max(10.0, READY_DEADLINE * run.ctx.time_scale)
    interval = run.ctx.scaled(1.0)
    while True:
        ready = await run.retrying(seed, bootstrap.node_readiness)
        run.k8s_nodes.update(ready)
        for name, is_ready in ready.items():
            node = run.nodes.get(name)
            if node is not None and is_ready and node.phase in ("joined", "installing", "ssh-ready"):
                run.phase(node, "ready")
        if ready.get(seed.slot.name):
            run.first_ready.set()
        if all(n.phase == "ready" for n in run.nodes.values()):
            return
        if loop.time() > deadline:
            waiting = [n.slot.name for n in run.nodes.values() if n.phase != "ready"]
            raise TimeoutError(f"nodes not Ready in time: {', '.join(waiting)}")
        await asyncio.sleep(interval)
