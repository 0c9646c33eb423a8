"""Running the checks, as `khz-tui verify` (the mode `verify`, see `run_modes.py`) and at the end of apply.

Each check's answer is a VerifyCheckFinished event, then one VerifyFinished. `khz-tui verify` ends
with RunFinished like every run: succeeded when every check passed, failed when one failed; bad input
(exit 2) when no cluster of the plan's name exists at the endpoint or the endpoint refuses the token.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from hcloud.servers.client import BoundServer

from khz_tui.engine.cloud.client import CloudError
from khz_tui.engine.cloud.facade import Cloud
from khz_tui.engine.context import RunContext
from khz_tui.engine.events import StepFailed, VerifyCheckFinished, VerifyFinished
from khz_tui.engine.nodes import cluster_api
from khz_tui.engine.nodes.session import NodeError, NodeSession
from khz_tui.engine.outcome import Outcome
from khz_tui.engine.run_ending import Ending, Refused
from khz_tui.engine.steps import StepError, step
from khz_tui.engine.verify.checks import check_addons, check_dns, check_nodes
from khz_tui.engine.verify.deep import deep_checks
from khz_tui.engine.verify.kubeconfig_check import check_kubeconfig
from khz_tui.engine.verify.model import CheckResult, Verification
from khz_tui.engine.verify.shell import ClusterShell

if TYPE_CHECKING:
    from khz_tui.engine.apply.progress import ApplyProgress

#: Seconds (at time scale 1) to reach a control plane over SSH, and for the kubeconfig's TLS check.
REACH_DEADLINE = 60.0
TLS_TIMEOUT = 20.0


def kubeconfig_path(ctx: RunContext) -> Path:
    """Where apply wrote the kubeconfig: --kubeconfig, else the cluster's state folder."""
    return Path(ctx.options.kubeconfig or ctx.files.kubeconfig_path).expanduser()


def _emit(ctx: RunContext, result: CheckResult) -> CheckResult:
    ctx.bus.emit(VerifyCheckFinished(check=result.check, title=result.title, ok=result.ok, status=result.status,
                 detail=ctx.bus.scrub(result.detail), hint=result.hint, nodes=list(result.nodes)))
    return result


async def _kubeconfig(v: Verification) -> CheckResult:
    answer = await check_kubeconfig(v.kubeconfig, timeout=max(5.0, v.ctx.scaled(TLS_TIMEOUT)))
    return CheckResult("kubeconfig", "The kubeconfig works from this machine", "pass" if answer.ok else "fail",
                       answer.detail, answer.hint)


async def verify_cluster(v: Verification, *, deep: bool) -> list[CheckResult]:
    """Run the default checks (and, with `deep`, the ones that create billed resources), emitting
    each answer and then VerifyFinished; returns the answers."""
    ctx = v.ctx
    results = [_emit(ctx, await _kubeconfig(v)), _emit(ctx, await check_nodes(v)),
               _emit(ctx, await check_addons(v)), _emit(ctx, await check_dns(v))]
    if deep:
        results += await deep_checks(v, lambda result: _emit(ctx, result))
    failed = [r.check for r in results if r.status == "fail"]
    ctx.bus.emit(VerifyFinished(ok=not failed, deep=deep, passed=sum(r.status == "pass" for r in results),
                 failed=len(failed), skipped=sum(r.status == "skipped" for r in results), failed_checks=failed))
    return results


def summary(results: list[CheckResult]) -> tuple[str, str]:
    """(message, hint) for the run's end: how many passed, which failed and why, the first what-to-do."""
    failed = [r for r in results if r.status == "fail"]
    counted = [r for r in results if r.status != "skipped"]
    if not failed:
        return f"all {len(counted)} checks passed", ""
    message = f"{len(failed)} of {len(counted)} checks failed: " + "; ".join(f"{r.check}: {r.detail}" for r in failed)
    return message, failed[0].hint


async def verify_after_apply(run: ApplyProgress) -> None:
    """Apply's closing verify (default checks) through the seed's session; a failed check fails the
    run (StepError, exit 1)."""
    ctx = run.ctx
    seed = run.seed_node()
    title = "Checking that the cluster works (verify)"
    async with step(ctx.bus, "verify", title):
        v = Verification(ctx=ctx, servers=await run.cloud.cluster_servers(),
                         shell=ClusterShell(seed.session, run.policy.ssh_deadline), kubeconfig=kubeconfig_path(ctx))
        results = await verify_cluster(v, deep=False)
        message, hint = summary(results)
        if any(r.status == "fail" for r in results):
            message = f"the cluster was built, but {message}"
            ctx.bus.emit(StepFailed(step="verify", title=title, message=message, hint=hint))
            raise StepError("verify", title, message, hint)


async def _open_shell(ctx: RunContext, servers: dict[str, BoundServer]) -> tuple[NodeSession | None, str]:
    """A session on the first pinned, running control plane that answers; or None and why not."""
    candidates = cluster_api.pinned_control_planes(ctx, servers.values())
    if not candidates:
        pinned = [n for n in servers if ctx.files.has_host_key(n)]
        why = ("no control plane is running" if pinned else
               "this machine holds no host key of the cluster's servers (it was applied from another machine, or "
               "its local state was removed), so none can be verified over SSH")
        return None, why
    errors = []
    for server in candidates:
        try:
            return await cluster_api.open_control_plane(ctx, server, deadline=ctx.scaled(REACH_DEADLINE, floor=2.0)), ""
        except (NodeError, CloudError, OSError) as exc:
            errors.append(f"{server.name}: {exc}")
    return None, "no control plane answered over SSH (" + "; ".join(errors) + ")"


async def verify_run(ctx: RunContext) -> Ending:
    """`khz-tui verify`, the mode: changes nothing at Hetzner unless `options.deep` (and then only
    through the cluster's own controllers). Refused (bad input) when no cluster of the plan's name exists."""
    plan = ctx.plan
    servers = await Cloud.of(ctx).cluster_servers()
    if not servers:
        raise Refused("no-cluster", f"no cluster {plan.name!r} exists at {ctx.client.endpoint}: no server carries "
                      "its label", "apply the plan first; check that --sim/--endpoint and the token name the project "
                      "the cluster lives in")
    session, why = await _open_shell(ctx, servers)
    try:
        shell = None
        if session is not None:
            shell = ClusterShell(session, ctx.scaled(REACH_DEADLINE, floor=2.0))
            ctx.bus.log(f"asking the cluster through {session.node}")
        v = Verification(ctx=ctx, servers=servers, shell=shell, kubeconfig=kubeconfig_path(ctx), unreachable=why)
        results = await verify_cluster(v, deep=ctx.options.deep)
    finally:
        if session is not None:
            await session.close()
    message, hint = summary(results)
    if any(r.status == "fail" for r in results):
        return Ending(Outcome.FAILED, message, "verify", hint, nodes_ready=len(v.ready_nodes))
    return Ending(Outcome.SUCCEEDED, message, hint=hint, nodes_ready=len(v.ready_nodes))
