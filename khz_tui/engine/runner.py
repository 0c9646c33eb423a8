"""One run from RunStarted to RunFinished, for every mode:

    setup (run_setup.py)      files, run log, bus, cloud client; this machine's run lock for a changing mode
    pre-flight (preflight.py)   key pair, endpoint, catalog, caller address, firewall sources, as the mode needs
    the mode (run_modes.py)   apply, destroy, dry-run or verify, with the cluster's run guard set
    the ending (run_ending.py)      what the mode returned or raised, as one RunFinished with an Outcome

Kept apart from `api.py` so the facade stays a page of signatures the TUI can read.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from khz_tui.engine import run_lock
from khz_tui.engine.cloud import live_catalog
from khz_tui.engine.context import Confirm
from khz_tui.engine.events import RunFinished, RunMode
from khz_tui.engine.options import RunOptions
from khz_tui.engine.preflight import (
    check_firewall_sources,
    offered_catalog,
    reach,
    usable_key_pair,
    with_caller_address,
)
from khz_tui.engine.run_ending import Ending, ending_of, interrupted
from khz_tui.engine.run_modes import MODES
from khz_tui.engine.run_setup import RunSetup, open_run
from khz_tui.plan.model import ClusterPlan

if TYPE_CHECKING:
    from khz_tui.engine.api import EventSink, Target

T = TypeVar("T")


@contextmanager
def _set(var: ContextVar[T], value: T) -> Iterator[None]:
    token = var.set(value)
    try:
        yield
    finally:
        var.reset(token)


async def execute(
    mode: RunMode,
    plan: ClusterPlan,
    target: Target,
    *,
    sink: EventSink,
    confirm: Confirm | None,
    options: RunOptions,
    state_dir: Path | None = None,
) -> RunFinished:
    """Run `mode` and return the RunFinished event (also sent to `sink` and the run log), the last
    event whatever happened; a cancelled run sends it and then lets the cancellation out."""
    async with open_run(mode, plan, target, sink, state_dir) as setup:
        try:
            ending = await _run(setup, mode, plan, options, confirm)
        except asyncio.CancelledError:
            await setup.finish(interrupted(mode))
            raise
        except Exception as exc:  # noqa: BLE001 - the last event must be RunFinished, whatever happened
            ending = ending_of(exc)
        return await setup.finish(ending)


async def _run(setup: RunSetup, mode_name: RunMode, plan: ClusterPlan, options: RunOptions,
               confirm: Confirm | None) -> Ending:
    mode = MODES[mode_name]
    setup.started()
    if mode.takes_run_lock:
        setup.lock_this_machine()
    bus, client = setup.bus, setup.client
    plan = await usable_key_pair(plan, simulated=setup.target.simulated, required=mode.needs_key_pair,
                                 files=setup.files, bus=bus)
    access = await reach(client, plan)
    catalog = await offered_catalog(client, access, plan, bus) if mode.reads_catalog else None
    if mode.needs_caller_address:
        plan = await with_caller_address(plan, access, bus)
    if mode.needs_firewall_sources:
        check_firewall_sources(plan, access)
    setup.follow_clock(access)
    ctx = setup.context(plan, access, options, confirm, guarded=mode.takes_run_lock)
    # The run's catalog and guard, for the parts of the mode that read them (a mode that reads no
    # catalog keeps whatever is current: the bundled snapshot).
    with _set(live_catalog.CURRENT, catalog or live_catalog.CURRENT.get()), _set(run_lock.CURRENT, setup.guard):
        return await mode.work(ctx)
