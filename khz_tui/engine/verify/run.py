"""Running the checks, as `khz-tui verify` (a run of its own) and at the end of apply.

Each check's answer is a VerifyCheckFinished event, then one VerifyFinished. `khz-tui verify` ends
with RunFinished like every run: ok when every check passed; `bad_input` (exit 2) when no cluster of
the plan's name exists at the endpoint or the endpoint refuses the token.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from khz_tui.engine.bus import EventBus
from khz_tui.engine.cloud.client import CloudClient, CloudError
from khz_tui.engine.cloud.names import cluster_selector, planned_nodes
from khz_tui.engine.cloud.node_access import probe_node_access
from khz_tui.engine.cluster_files import ClusterFiles
from khz_tui.engine.context import RunContext
from khz_tui.engine.events import (
    EngineEvent,
    RunFinished,
    RunStarted,
    StepFailed,
    VerifyCheckFinished,
    VerifyFinished,
)
from khz_tui.engine.nodes import cluster_api
from khz_tui.engine.nodes.session import NodeError, NodeSession
from khz_tui.engine.options import RunOptions
from khz_tui.engine.steps import StepError, describe_failure, interrupted_advice, step
from khz_tui.engine.verify.checks import check_addons, check_dns, check_nodes
from khz_tui.engine.verify.deep import deep_checks
from khz_tui.engine.verify.kubeconfig_check import check_kubeconfig
from khz_tui.engine.verify.model import CheckResult, Verification
from khz_tui.engine.verify.shell import ClusterShell
from khz_tui.plan.model import ClusterPlan

#: Seconds (at time scale 1) to reach a control plane over SSH, and for the kubeconfig's TLS check.
REACH_DEADLINE = 60.0
TLS_TIMEOUT = 20.0


def kubeconfig_path(ctx: RunContext) -> Path:
    """Where apply wrote the kubeconfig: --kubeconfig, else the cluster's state folder."""
    return Path(ctx.options.kubeconfig or ctx.files.kubeconfig_path).expanduser()


async def cluster_servers(ctx: RunContext) -> dict[str, Any]:
    """The cluster's servers at Hetzner, by name (one read-only list request)."""
    h = ctx.client.hcloud
    servers = await ctx.client.call(h.servers.get_all, label_selector=cluster_selector(ctx.plan.name),
                                    what="listing the cluster's servers")
    return {s.name: s for s in servers}


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


async def verify_after_apply(run: Any) -> None:
    """Apply's closing verify (default checks) through the seed's session; a failed check fails the
    run (StepError, exit 1)."""
    ctx: RunContext = run.ctx
    seed = run.seed_node()
    title = "Checking that the cluster works (verify)"
    async with step(ctx.bus, "verify", title):
        shell = ClusterShell(seed.session, run.ssh_deadline()) if seed.session is not None else None
        v = Verification(ctx=ctx, servers=await cluster_servers(ctx), shell=shell, kubeconfig=kubeconfig_path(ctx),
                         unreachable=f"no SSH session to {seed.slot.name}")
        results = await verify_cluster(v, deep=False)
        message, hint = summary(results)
        if any(r.status == "fail" for r in results):
            message = f"the cluster was built, but {message}"
            ctx.bus.emit(StepFailed(step="verify", title=title, message=message, hint=hint))
            raise StepError("verify", title, message, hint)


async def _open_shell(ctx: RunContext, servers: dict[str, Any]) -> tuple[NodeSession | None, str]:
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


async def execute_verify(plan: ClusterPlan, target: Any, *, sink: Any, options: RunOptions,
                         state_dir: Path | None = None) -> RunFinished:
    """`khz-tui verify`: a run of its own, mode "verify", that changes nothing at Hetzner unless
    `options.deep` (and then only through the cluster's own controllers)."""
    from khz_tui.engine.runner import ssh_key_problem, with_simulated_client_key

    state = ClusterFiles(plan.name, base=state_dir)
    log = state.new_run_log("verify")

    def both(event: EngineEvent) -> None:
        log.write(event)
        sink(event)

    bus = EventBus(both)
    bus.add_secret(target.token)
    scale = float(getattr(target, "time_scale", 1.0) or 1.0)
    client = CloudClient(target.endpoint, target.token, bus.usage)
    total = len(planned_nodes(plan))
    session: NodeSession | None = None

    def finished(ok: bool, message: str, **extra: Any) -> RunFinished:
        return bus.emit(RunFinished(mode="verify", ok=ok, message=message, nodes_total=total,
                        api_throttled=bus.usage.throttled, **extra))

    try:
        bus.emit(RunStarted(cluster=plan.name, mode="verify", endpoint=target.endpoint,
                 simulated=bool(target.simulated), node_count=total))
        if target.simulated and (problem := ssh_key_problem(plan)):
            plan = with_simulated_client_key(plan, state, bus, problem)  # the key apply used there
        try:
            access = await probe_node_access(client, ssh_port=plan.ssh.port)
        except CloudError as exc:
            return finished(False, exc.message, failed_step="connect", hint=exc.hint, bad_input=exc.bad_input)
        if access.simulated and scale == 1.0 and access.time_scale != 1.0:
            scale = access.time_scale
        ctx = RunContext(plan=plan, client=client, bus=bus, access=access, files=state, options=options,
                         hcloud_token=target.token, time_scale=scale)
        servers = await cluster_servers(ctx)
        if not servers:
            return finished(False, f"no cluster {plan.name!r} exists at {target.endpoint}: no server carries its label",
                            failed_step="no-cluster", bad_input=True,
                            hint="apply the plan first; check that --sim/--endpoint and the token name the project "
                                 "the cluster lives in")
        session, why = await _open_shell(ctx, servers)
        shell = None
        if session is not None:
            shell = ClusterShell(session, ctx.scaled(REACH_DEADLINE, floor=2.0))
            bus.log(f"asking the cluster through {session.node}")
        v = Verification(ctx=ctx, servers=servers, shell=shell, kubeconfig=kubeconfig_path(ctx), unreachable=why)
        results = await verify_cluster(v, deep=options.deep)
        message, hint = summary(results)
        ok = not any(r.status == "fail" for r in results)
        return finished(ok, message, hint=hint, failed_step=None if ok else "verify", nodes_ready=len(v.ready_nodes))
    except asyncio.CancelledError:
        message, hint = interrupted_advice("verify")
        bus.emit(RunFinished(mode="verify", ok=False, nodes_total=total, failed_step="interrupted",
                 message=message, hint=hint))
        raise
    except Exception as exc:  # noqa: BLE001 - the last event must be RunFinished, whatever happened
        message, hint = describe_failure(exc)
        return finished(False, message, failed_step="internal", hint=hint,
                        bad_input=isinstance(exc, CloudError) and exc.bad_input)
    finally:
        if session is not None:
            await session.close()
        client.close()
        log.close()
