"""The order of one apply: discover, refuse names another cluster uses, take the cluster's run lock
when the run will change something (then discover again), confirm a scale-down, infrastructure, then
every node's task, the seed choice, the readiness watcher, volumes, add-ons and the load balancer
together, then scale-down, the API load balancer's address in every control plane's certificate,
the kubeconfig, and verify's default checks (unless --no-verify; a failed check fails the run)."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine

from khz_tui.engine import run_lock
from khz_tui.engine.apply.api_certificates import cover_api_addresses
from khz_tui.engine.apply.infrastructure import ensure_infrastructure, ensure_load_balancer
from khz_tui.engine.apply.join import install_or_join
from khz_tui.engine.apply.kubeconfig_file import write_kubeconfig
from khz_tui.engine.apply.node_server import provision
from khz_tui.engine.apply.policy import DEFAULT_POLICY, ApplyPolicy
from khz_tui.engine.apply.progress import ApplyProgress, Node
from khz_tui.engine.apply.readiness import watch_readiness
from khz_tui.engine.apply.records import ApiAddresses, Infrastructure
from khz_tui.engine.apply.scale_down import confirm_scale_down, scale_down
from khz_tui.engine.apply.seed import find_seed
from khz_tui.engine.apply.settled import will_change
from khz_tui.engine.cloud.names import network_name, planned_volumes
from khz_tui.engine.context import RunContext
from khz_tui.engine.events import NodePlanned, StepFailed
from khz_tui.engine.nodes.addon_install import install_addons
from khz_tui.engine.steps import StepError, step


async def apply(ctx: RunContext, policy: ApplyPolicy = DEFAULT_POLICY) -> tuple[int, int]:
    """Converge and bootstrap on `policy`'s schedule (scaled here to the target's clock); returns
    (nodes Ready, nodes planned). Raises StepError / NotConfirmed."""
    run = ApplyProgress(ctx, policy)
    try:
        return await run_apply(run)
    finally:
        await run.close()


async def run_apply(run: ApplyProgress) -> tuple[int, int]:
    """Returns (ready nodes, total nodes)."""
    async with step(run.bus, "discover", "Finding what already exists"):
        await run.cloud.discover()
    await refuse_name_clashes(run)
    guard = run_lock.current()
    if guard is not None and not guard.holds_cloud:
        change = await will_change(run)
        if change is not None:
            run.bus.log(f"this run changes the cluster ({change}): taking its run lock first")
            await guard.before_changes()
            # Another run may have acted between our first look and the lock: decide on what is there now.
            async with step(run.bus, "discover-again", "Looking again, now that this run holds the cluster"):
                await run.cloud.discover()
            # No second name check: a look again can only find more of our own resources, and a name
            # another cluster takes meanwhile is still refused by the create (Cloud never adopts it).
    await confirm_scale_down(run)
    for node in run.nodes.values():
        s = node.slot
        run.bus.emit(NodePlanned(node=s.name, role=s.role, pool=s.pool, server_type=s.server_type, location=s.location))

    async with step(run.bus, "infrastructure", "Network, firewall, SSH key, placement groups"):
        infra = await ensure_infrastructure(run)
    parts = [_servers_and_cluster(run, infra)]
    if run.plan.load_balancer.enabled:
        parts.append(ensure_load_balancer(run, infra.network))
    else:
        run.milestones.load_balancer.reach(ApiAddresses())  # none: the seed's own addresses serve
    await together(run, parts)
    await cover_api_addresses(run)
    async with step(run.bus, "kubeconfig", "Writing the kubeconfig"):
        await write_kubeconfig(run)
    if not run.ctx.options.skip_verify:
        from khz_tui.engine.verify import verify_after_apply  # reads only: a rerun still changes nothing

        await verify_after_apply(run)
    ready = sum(1 for n in run.nodes.values() if n.phase == "ready")
    return ready, len(run.nodes)


async def refuse_name_clashes(run: ApplyProgress) -> None:
    """Stop before any change when a name the plan would create is another cluster's (or not
    khz-tui's): exit 2, naming that cluster. Nothing of the other cluster is touched or suggested
    for deletion."""
    title = "Checking that the planned names are free"
    clashes = await run.cloud.name_clashes()
    if not clashes:
        return
    message = "; ".join(c.describe(run.plan.name) for c in clashes[:5])
    if len(clashes) > 5:
        message += f"; and {len(clashes) - 5} more"
    message += ". Nothing was changed"
    owners = sorted({c.owner for c in clashes if c.owner})
    hint = ("names join the cluster, pool and volume names with '-', so two plans can make the same name: "
            "rename the pool, volume or cluster in this plan so its names differ"
            + (f"; cluster {', '.join(owners)} is left exactly as it is" if owners else ""))
    run.bus.emit(StepFailed(step="names", title=title, message=message, hint=hint))
    raise StepError("names", title, message, hint, bad_input=True)


async def together(run: ApplyProgress, coros: list[Coroutine[object, object, None]]) -> None:
    """Run `coros` concurrently; the first failure (or a cancellation of this run) stops the rest.

    Not a TaskGroup: on the way out the SSH connections are aborted first, because a task
    cancelled in the middle of an SFTP transfer can otherwise wait forever for a graceful close."""
    tasks = [asyncio.create_task(c) for c in coros]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        for task in done:
            if (failure := task.exception()) is not None:
                raise failure
    except BaseException:
        run.abort_sessions()
        for task in tasks:
            task.cancel()
        await asyncio.wait(tasks, timeout=10)
        raise


async def _servers_and_cluster(run: ApplyProgress, infra: Infrastructure) -> None:
    async with step(run.bus, "cluster", "Servers and k3s bootstrap"):
        await together(
            run,
            [_node(run, node, infra) for node in run.nodes.values()]
            + [find_seed(run), watch_readiness(run), _volumes(run), _addons(run)],
        )
    extra = run.extra_servers()
    if extra:
        async with step(run.bus, "scale-down", f"Removing {len(extra)} node(s)"):
            await scale_down(run, extra)


async def _node(run: ApplyProgress, node: Node, infra: Infrastructure) -> None:
    """One node's task, through the phases planned → creating → booting → ssh-ready → installing → joined."""
    try:
        provisioned = await provision(run, node, infra)
        run.milestones.reachable[node.slot.name].reach(provisioned)
        if all(m.reached for m in run.milestones.reachable.values()):
            run.milestones.every_node_reachable.reach(None)
        await install_or_join(run, provisioned)
    except Exception as exc:
        run.phase(node, "failed", reason=str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__)
        raise


async def _addons(run: ApplyProgress) -> None:
    api = await run.milestones.api_up.wait()
    async with step(run.bus, "addons", "Cluster add-ons"):
        await run.retrying(
            api.seed.session, install_addons, run.plan, hcloud_token=run.ctx.hcloud_token,
            network=network_name(run.plan.name), bus=run.bus,
        )


async def _volumes(run: ApplyProgress) -> None:
    wanted = planned_volumes(run.plan)
    if not wanted:
        return

    async def one(name: str, node_name: str, size: int, fmt: str) -> None:
        node = await run.milestones.reachable[node_name].wait()  # the server runs: no `locked` answer
        await run.cloud.ensure_volume(name, node.facts, size_gb=size, fmt=fmt)

    async with step(run.bus, "volumes", f"{len(wanted)} volume(s)"):
        await asyncio.gather(*(one(*v) for v in wanted))
