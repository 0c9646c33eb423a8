"""One run from start to RunFinished: the bus, the run log, the cloud client, the access, the mode.

Kept apart from `api.py` so the facade stays a page of signatures the TUI can read.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from khz_tui.engine import run_lock
from khz_tui.engine.bus import EventBus
from khz_tui.engine.caller_address import (
    CallerAddressUnknown,
    detect_caller_cidrs,
    needs_caller_address,
    with_caller_cidrs,
)
from khz_tui.engine.cloud import live_catalog
from khz_tui.engine.cloud.client import CloudClient, CloudError
from khz_tui.engine.cloud.inventory import discover
from khz_tui.engine.cloud.names import planned_nodes
from khz_tui.engine.cloud.node_access import probe_node_access
from khz_tui.engine.cloud.pacing import PollInterval
from khz_tui.engine.cloud.resources import firewall_rules
from khz_tui.engine.cluster_files import ClusterFiles, LocalLockHeld, LocalRunLock
from khz_tui.engine.context import Confirm, NotConfirmed, RunContext
from khz_tui.engine.events import (
    CallerAddressDetected,
    EngineEvent,
    RunFinished,
    RunLockRefused,
    RunLockTaken,
    RunMode,
    RunStarted,
)
from khz_tui.engine.options import RunOptions
from khz_tui.engine.preflight import check_client_key
from khz_tui.engine.run_lock import LOCKED_STEP, RunGuard
from khz_tui.engine.steps import StepError, describe_failure, first_failure, interrupted_advice
from khz_tui.plan.catalog import Catalog, bundled_catalog
from khz_tui.plan.checks import check_plan
from khz_tui.plan.model import ClusterPlan


def ssh_key_problem(plan: ClusterPlan) -> str | None:
    """Why the plan's SSH key pair cannot be used, or None."""
    for what, name in (("public", plan.ssh.public_key), ("private", plan.ssh.private_key)):
        path = Path(name).expanduser()
        if not path.is_file():
            return f"the SSH {what} key {path} does not exist"
    public = Path(plan.ssh.public_key).expanduser().read_text(encoding="utf-8", errors="replace").split()
    if len(public) < 2 or not public[0].startswith(("ssh-", "ecdsa-")):
        return f"{plan.ssh.public_key} is not an OpenSSH public key"
    return None


def with_simulated_client_key(plan: ClusterPlan, state: ClusterFiles, bus: EventBus, problem: str) -> ClusterPlan:
    """The plan with a generated login key pair, for simulated targets whose plan names a key that
    cannot be used (`problem` says why)."""
    private, public = state.simulated_client_key()
    bus.log(f"{problem}; this is a simulated cloud, so a key generated for it is used: {private}")
    ssh = plan.ssh.model_copy(update={"public_key": str(public), "private_key": str(private)})
    return plan.model_copy(update={"ssh": ssh})


def catalog_refusal(plan: ClusterPlan, catalog: Catalog, bus: EventBus) -> str | None:
    """Check the plan against the run's catalog. What it finds beyond the bundled snapshot's findings
    (those were shown when the plan was loaded): errors as one message, warnings logged."""
    where = "bundled with khz-tui" if catalog.source == "snapshot" else "read from the API"
    bus.log(f"checking the plan against the catalog {where} on {catalog.snapshot_date}")
    if catalog.source == "snapshot":
        return None
    known = {str(p) for p in check_plan(plan, bundled_catalog())}
    new = [p for p in check_plan(plan, catalog) if str(p) not in known]
    for p in new:
        if p.severity != "error":
            bus.log(str(p), level="warning")
    errors = [str(p) for p in new if p.severity == "error"]
    if errors:
        return f"the plan asks for what the API does not offer (catalog of {catalog.snapshot_date}): " + "; ".join(errors)
    return None


#: Modes that build the plan's resources: they read the live catalog and need the caller's address.
PLAN_MODES = ("apply", "dry-run")
#: Modes that change the cluster: one run of them per cluster at a time (dry-run only reads).
CHANGING_MODES = ("apply", "destroy")


def _poll_interval(scale: float) -> PollInterval:
    """Action polls at the target's clock: 0.5 s to 3 s against Hetzner, shrunk with a simulator's."""
    return PollInterval(minimum=max(0.01, 0.5 * scale), maximum=max(0.05, 3.0 * scale))


async def execute(
    mode: RunMode,
    plan: ClusterPlan,
    target,
    *,
    sink,
    confirm: Confirm | None,
    options: RunOptions,
    state_dir: Path | None = None,
) -> RunFinished:
    """Run `mode` and return the RunFinished event (also sent to `sink` and the run log)."""
    state = ClusterFiles(plan.name, base=state_dir)
    log = state.new_run_log(mode)

    def both(event: EngineEvent) -> None:
        log.write(event)
        sink(event)

    bus = EventBus(both)
    bus.add_secret(target.token)
    scale = float(getattr(target, "time_scale", 1.0) or 1.0)
    client = CloudClient(target.endpoint, target.token, bus.usage, poll=_poll_interval(scale))
    total = len(planned_nodes(plan))
    local: LocalRunLock | None = None
    guard: RunGuard | None = None
    catalog_set = None

    async def release() -> None:
        # Before RunFinished, which must stay the last event; also after a failure or Ctrl-C: the
        # marker must not outlive the run.
        nonlocal guard, local
        held_guard, held_local, guard, local = guard, local, None, None
        if held_guard is not None:
            await held_guard.release()
        elif held_local is not None:
            held_local.release()

    async def finished(ok: bool, message: str, **extra) -> RunFinished:
        await release()
        return bus.emit(RunFinished(mode=mode, ok=ok, message=message, nodes_total=total,
                        api_throttled=bus.usage.throttled, **extra))

    try:
        bus.emit(RunStarted(cluster=plan.name, mode=mode, endpoint=target.endpoint,
                 simulated=bool(target.simulated), node_count=total))
        if mode in CHANGING_MODES:  # before anything else: a second run on this machine stops here
            try:
                local = state.lock_run(mode)
            except LocalLockHeld as held:
                h = held.holder
                bus.emit(RunLockRefused(cluster=plan.name, scope="local", since=h.since, pid=h.pid, host=h.host))
                return await finished(False, str(held), failed_step=LOCKED_STEP, hint=run_lock.local_lock_hint())
            bus.emit(RunLockTaken(cluster=plan.name, scope="local"))
        # Apply needs a usable key pair; on a simulated target an unusable one is swapped for a generated one.
        problem = ssh_key_problem(plan) if target.simulated or mode == "apply" else None
        if target.simulated and problem:
            plan = with_simulated_client_key(plan, state, bus, problem)
            problem = ssh_key_problem(plan)
        if mode == "apply" and problem:
            return await finished(False, problem, failed_step="ssh-key", bad_input=True,
                            hint="point ssh.public_key and ssh.private_key at an existing key pair "
                                 "(ssh-keygen -t ed25519 makes one)")
        # Check the key as OpenSSH would (passphrase, agent, permissions) before anything is created.
        if mode == "apply" and (refusal := await check_client_key(plan, lambda text: bus.log(text, level="warning"))):
            return await finished(False, refusal.message, failed_step="ssh-key", bad_input=True, hint=refusal.hint)
        try:
            access = await probe_node_access(client, ssh_port=plan.ssh.port)
        except CloudError as exc:
            return await finished(False, exc.message, failed_step="connect", hint=exc.hint, bad_input=exc.bad_input)
        if mode in PLAN_MODES:
            # The plan was checked against the bundled snapshot when it was loaded; now against what
            # this project's API offers today (cached for a day).
            catalog = await live_catalog.load_catalog(
                client, simulated=access.simulated, warn=lambda text: bus.log(text, level="warning"))
            catalog_set = live_catalog.CURRENT.set(catalog)
            if refusal := catalog_refusal(plan, catalog, bus):
                return await finished(False, refusal, failed_step="catalog", bad_input=True,
                                      hint="change the plan to types, locations and images the API offers "
                                           "(khz-tui validate lists them)")
        if mode in PLAN_MODES and needs_caller_address(plan):
            # An empty allowed list means "the address I run from": found now, at each run.
            try:
                found = await detect_caller_cidrs(simulated_cidr=access.caller_cidr if access.simulated else None)
            except CallerAddressUnknown as exc:
                return await finished(False, exc.message, failed_step="caller-address", hint=exc.hint, bad_input=True)
            used_for = [f"ssh.{k}" for k in ("allowed_cidrs", "api_allowed_cidrs") if not getattr(plan.ssh, k)]
            for address in found:
                bus.emit(CallerAddressDetected(address=address.cidr, source=address.source, used_for=used_for))
            plan = with_caller_cidrs(plan, found)
        if mode == "apply":
            try:  # the firewall's sources are known before anything is created, or nothing is
                firewall_rules(plan, access.caller_cidr)
            except CloudError as exc:
                return await finished(False, exc.message, failed_step="firewall", hint=exc.hint, bad_input=True)
        if access.simulated and scale == 1.0 and access.time_scale != 1.0:
            # An external simulator (`sim serve`) runs its own clock: scale deadlines and polls to it.
            scale = access.time_scale
            client.poll = _poll_interval(scale)
        ctx = RunContext(plan=plan, client=client, bus=bus, access=access, files=state, options=options,
                         hcloud_token=target.token, confirm=confirm, time_scale=scale)
        if mode in CHANGING_MODES:
            guard, local = RunGuard(ctx, mode, local), None  # the guard releases the local lock from now on
        guarded = run_lock.CURRENT.set(guard)
        try:
            if mode == "destroy" and not (await discover(client, plan.name)).count() and await run_lock.marker_left(ctx):
                await guard.before_changes()  # only a marker is left: take it over so that it is removed
            # Otherwise destroy takes the cluster itself, once the person has confirmed.
            if mode == "apply":
                from khz_tui.engine.apply import apply

                ready, total = await apply(ctx)
                return await finished(True, f"cluster {plan.name} is up: {ready} of {total} nodes Ready", nodes_ready=ready)
            if mode == "destroy":
                from khz_tui.engine.destroy import destroy

                deleted = await destroy(ctx)
                message = f"deleted {deleted} resources of {plan.name}" if deleted else f"nothing to delete for {plan.name}"
                return await finished(True, message)
            from khz_tui.engine.diff import dry_run

            changes = await dry_run(ctx)
            todo = sum(1 for c in changes if c.action != "keep")
            return await finished(True, f"{todo} change(s), {len(changes) - todo} resource(s) kept; nothing was changed")
        except Exception as exc:
            err = first_failure(exc)  # the exception itself, or the first inside a group of concurrent tasks
            if isinstance(err, StepError):
                return await finished(False, err.message, failed_step=err.step, hint=err.hint, bad_input=err.bad_input)
            if isinstance(err, NotConfirmed):
                return await finished(False, str(err), failed_step="confirm", bad_input=True,
                                hint="confirm with --yes (headless) or answer yes when asked")
            raise err from exc
        finally:
            run_lock.CURRENT.reset(guarded)
    except asyncio.CancelledError:
        await release()
        message, hint = interrupted_advice(mode)  # after a destroy, "apply again" would rebuild the cluster
        bus.emit(RunFinished(mode=mode, ok=False, nodes_total=total, failed_step="interrupted",
                 message=message, hint=hint))
        raise
    except Exception as exc:  # noqa: BLE001 - the last event must be RunFinished, whatever happened
        message, hint = describe_failure(exc)
        return await finished(False, message, failed_step="internal", hint=hint)
    finally:
        if catalog_set is not None:
            live_catalog.CURRENT.reset(catalog_set)
        try:
            await release()  # a no-op unless the run ended by an exception the branches above let out
        finally:
            client.close()
            log.close()
