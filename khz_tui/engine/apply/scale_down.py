"""Scale-down: nodes labeled for the cluster but gone from the plan, removed once every planned node
is Ready (confirmed at the start of the run): drain and delete the node, its volumes, its server."""

from __future__ import annotations

from khz_tui.engine.apply.progress import ApplyProgress
from khz_tui.engine.context import NotConfirmed
from khz_tui.engine.events import NodePhaseChanged
from khz_tui.engine.nodes.node_removal import remove_node


async def confirm_scale_down(run: ApplyProgress) -> None:
    """Ask before any change; raises NotConfirmed when the answer is no."""
    extra = run.extra_servers()
    if not extra:
        return
    question = (
        f"The plan has fewer nodes than cluster {run.plan.name!r}: {', '.join(extra)} will be drained, "
        "removed from Kubernetes and their servers deleted. Continue?"
    )
    if not await run.ctx.confirmed(question):
        raise NotConfirmed(
            f"scale-down of {', '.join(extra)} was not confirmed; nothing was changed "
            "(confirm with --yes, or raise the counts in the plan back)"
        )


async def scale_down(run: ApplyProgress, names: list[str]) -> None:
    """Remove the (already confirmed) servers `names` one by one: node, volumes, server, host key."""
    seed = run.seed_node()
    for name in names:
        server = run.inv.servers[name]
        run.bus.emit(NodePhaseChanged(node=name, phase="deleting", server_id=server.id))
        await run.retrying(seed.session, remove_node, name, run.bus)
        for vol_name, vol in list(run.inv.volumes.items()):
            if (vol.labels or {}).get("khz-tui.io/node") == name:
                await run.cloud.delete("volume", vol)
                del run.inv.volumes[vol_name]
        await run.cloud.delete("server", server)
        run.bus.emit(NodePhaseChanged(node=name, phase="deleted", server_id=server.id))
        run.ctx.files.forget_host_key(name)
        del run.inv.servers[name]
