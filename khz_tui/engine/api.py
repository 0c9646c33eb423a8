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

from khz_tui.engine.events import EngineEvent, RunFinished, RunMode
from khz_tui.engine.options import RunOptions
from khz_tui.plan.model import ClusterPlan

EventSink = Callable[[EngineEvent], None]
Confirm = Callable[[str], Awaitable[bool]]


@dataclass
class Target:
    """A resolved place to provision into. The token is held here and nowhere that gets printed."""

    endpoint: str
    simulated: bool
    token: str

    def __repr__(self) -> str:  # never show the token
        return f"Target(endpoint={self.endpoint!r}, simulated={self.simulated})"


@asynccontextmanager
async def connect(plan: ClusterPlan, options: RunOptions, *, token: str | None = None) -> AsyncIterator[Target]:
    """Resolve where to provision: with `options.sim`, start an in-process simulator for the
    duration of the block; otherwise resolve the endpoint and the token (an explicit `token`, e.g.
    typed into the wizard, wins). Raises `CredentialsError` with a message for the person."""
    raise NotImplementedError("the engine is not built yet")
    yield  # pragma: no cover


async def run(
    mode: RunMode,
    plan: ClusterPlan,
    target: Target,
    *,
    sink: EventSink,
    confirm: Confirm | None = None,
    options: RunOptions = RunOptions(),
) -> RunFinished:
    """Apply, destroy or dry-run `plan` against `target`, streaming events to `sink`."""
    raise NotImplementedError("the engine is not built yet")
