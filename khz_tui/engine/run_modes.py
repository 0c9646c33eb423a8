"""The mode table: what each kind of run needs before it starts, the work it does, and the message it
ends with. The runner (`runner.py`) reads it; nothing else decides per mode.

    mode      key pair  catalog  caller address  firewall sources  run lock  work
    apply     yes       yes      yes             yes               yes       build or repair the cluster
    destroy   -         -        -               -                 yes       delete the cluster's resources
    dry-run   -         yes      yes             -                 -         show what apply would change
    verify    -         -        -               -                 -         check that the cluster works

On a simulated target every mode swaps an unusable key pair for the generated one (`preflight.py`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from khz_tui.engine import run_lock
from khz_tui.engine.cloud.facade import Cloud
from khz_tui.engine.context import RunContext
from khz_tui.engine.events import RunMode
from khz_tui.engine.run_ending import Ending


@dataclass(frozen=True)
class Mode:
    """What one kind of run needs and does."""

    needs_key_pair: bool
    """A key pair OpenSSH accepts, checked before anything is created."""
    reads_catalog: bool
    """The plan is checked against what the project's API sells today."""
    needs_caller_address: bool
    """Empty firewall ranges are filled with the address this run comes from."""
    needs_firewall_sources: bool
    """The firewall's sources must be known before anything is created."""
    takes_run_lock: bool
    """It changes the cluster: one such run per cluster at a time (`run_lock.py`)."""
    work: Callable[[RunContext], Awaitable[Ending]]
    """The mode itself; returns how it ended, raises what `run_ending.ending_of` maps."""


async def _apply(ctx: RunContext) -> Ending:
    from khz_tui.engine.apply.flow import apply

    ready, total = await apply(ctx, policy=ctx.apply_policy)
    return Ending.succeeded(f"cluster {ctx.plan.name} is up: {ready} of {total} nodes Ready", nodes_ready=ready)


async def _destroy(ctx: RunContext) -> Ending:
    from khz_tui.engine.destroy import destroy

    guard = run_lock.current()
    if guard is not None and not (await Cloud.of(ctx).discover()).count() and await run_lock.marker_left(ctx):
        await guard.before_changes()  # only a marker is left: take it over so that it is removed
    # Otherwise destroy takes the cluster itself, once the person has confirmed.
    deleted = await destroy(ctx)
    name = ctx.plan.name
    return Ending.succeeded(f"deleted {deleted} resources of {name}" if deleted else f"nothing to delete for {name}")


async def _dry_run(ctx: RunContext) -> Ending:
    from khz_tui.engine.diff import dry_run

    changes = await dry_run(ctx)
    todo = sum(1 for c in changes if c.action != "keep")
    return Ending.succeeded(f"{todo} change(s), {len(changes) - todo} resource(s) kept; nothing was changed")


async def _verify(ctx: RunContext) -> Ending:
    from khz_tui.engine.verify.run import verify_run

    return await verify_run(ctx)


MODES: dict[RunMode, Mode] = {
    "apply": Mode(needs_key_pair=True, reads_catalog=True, needs_caller_address=True, needs_firewall_sources=True,
                  takes_run_lock=True, work=_apply),
    "destroy": Mode(needs_key_pair=False, reads_catalog=False, needs_caller_address=False,
                    needs_firewall_sources=False, takes_run_lock=True, work=_destroy),
    "dry-run": Mode(needs_key_pair=False, reads_catalog=True, needs_caller_address=True, needs_firewall_sources=False,
                    takes_run_lock=False, work=_dry_run),
    "verify": Mode(needs_key_pair=False, reads_catalog=False, needs_caller_address=False,
                   needs_firewall_sources=False, takes_run_lock=False, work=_verify),
}
