"""The engine's public face: everything the wizard, replay and headless runs call.

    async with connect(plan, options) as target:          # resolves token + endpoint, or starts --sim
        finished = await run("apply", plan, target, sink=on_event, confirm=ask)

`sink` receives every event of the one stream (see `events.py`), in order, on the event loop.
`confirm` is asked before destructive steps (scale-down, destroy) unless `options.yes`; returning
False stops the run cleanly with a RunFinished(ok=False).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from khz_tui.engine.events import EngineEvent, RunFinished, RunMode
from khz_tui.engine.options import RunOptions
from khz_tui.plan.model import ClusterPlan

EventSink = Callable[[EngineEvent], None]
Confirm = Callable[[str], Awaitable[bool]]

#: Time scale of the in-process simulator behind `--sim`: a whole cluster in seconds, still watchable.
SIM_TIME_SCALE = 0.1


@dataclass
class Target:
    """A resolved place to provision into. The token is held here and nowhere that gets printed."""

    endpoint: str
    simulated: bool
    token: str
    time_scale: float = 1.0
    """How fast the target's clock runs (the simulator's scale; 1.0 for Hetzner)."""
    token_source: str = ""
    """Where the token came from, in words (never the token)."""

    def __repr__(self) -> str:  # never show the token
        return f"Target(endpoint={self.endpoint!r}, simulated={self.simulated})"


@asynccontextmanager
async def connect(plan: ClusterPlan, options: RunOptions, *, token: str | None = None) -> AsyncIterator[Target]:
    """Resolve where to provision: with `options.sim`, start an in-process simulator for the
    duration of the block; otherwise resolve the endpoint and the token (an explicit `token`, e.g.
    typed into the wizard, wins). Raises `CredentialsError` with a message for the person."""
    if options.sim:
        from khz_tui.sim.simulator import Simulator

        async with Simulator(time_scale=SIM_TIME_SCALE) as sim:
            yield Target(sim.endpoint, True, sim.token, time_scale=SIM_TIME_SCALE, token_source="the built-in simulator")
        return
    from khz_tui.engine.credentials import resolve_endpoint, resolve_token

    endpoint = resolve_endpoint(plan, options)
    source = "typed in"
    if token is None:
        token, source = resolve_token(plan, options)
    yield Target(endpoint, False, token, token_source=source)


async def run(
    mode: RunMode,
    plan: ClusterPlan,
    target: Target,
    *,
    sink: EventSink,
    confirm: Confirm | None = None,
    options: RunOptions = RunOptions(),
    state_dir: Path | None = None,
) -> RunFinished:
    """Apply, destroy or dry-run `plan` against `target`, streaming events to `sink`.

    Every event also goes to a JSON-lines log in the cluster's state directory (`state_dir`
    overrides platformdirs' location, for tests). RunFinished is always the last event, also when
    the run fails or is cancelled (the cancellation is then re-raised)."""
    from khz_tui.engine.runner import execute

    return await execute(mode, plan, target, sink=sink, confirm=confirm, options=options, state_dir=state_dir)

