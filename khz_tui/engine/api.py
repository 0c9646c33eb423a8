"""The engine's public face: everything the wizard, replay and headless runs call.

    async with connect(plan, options) as target:          # resolves the endpoint and the token
        finished = await run("apply", plan, target, sink=on_event, confirm=ask)

`connect` here reaches a real (or Hetzner-compatible) cloud; the command line hands the wizard and
headless runs its own (`khz_tui.launch`), which also opens the built-in simulator for `--sim`.

`sink` receives every event of the one stream (see `events.py`), in order, on the event loop.
`confirm` is asked before destructive steps (scale-down, destroy) unless `options.yes`; returning
False stops the run cleanly with a RunFinished(ok=False).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from khz_tui.engine.events import EngineEvent, RunFinished, RunMode
from khz_tui.engine.options import RunOptions
from khz_tui.plan.model import ClusterPlan

if TYPE_CHECKING:
    from khz_tui.plan.catalog import Catalog

EventSink = Callable[[EngineEvent], None]
Confirm = Callable[[str], Awaitable[bool]]


class Connect(Protocol):
    """Resolves where a run provisions, for the duration of an `async with`: `connect` below for a real
    cloud; the command line hands the wizard and headless runs one that can also start the simulator."""

    def __call__(
        self, plan: ClusterPlan, options: RunOptions, *, token: str | None = None
    ) -> AbstractAsyncContextManager[Target]: ...


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
    state_dir: Path | None = None
    """Base folder of the clusters' local state on this machine for this target (None: the default
    one, for Hetzner and any --endpoint); the simulated project keeps its own, so a simulated and a
    real cluster of the same name never share host keys, kubeconfig, run logs or run lock."""
    project: str = ""
    """Which simulated project is in use, in words (empty for a real cloud)."""

    def __repr__(self) -> str:  # never show the token
        return f"Target(endpoint={self.endpoint!r}, simulated={self.simulated})"


@asynccontextmanager
async def connect(plan: ClusterPlan, options: RunOptions, *, token: str | None = None) -> AsyncIterator[Target]:
    """Resolve where to provision in a real (or Hetzner-compatible) cloud: the endpoint and the token (an
    explicit `token`, e.g. typed into the wizard, wins). Raises `CredentialsError` with a message for
    the person. The built-in simulator (`options.sim`) is started by the command line's `connect`
    (`khz_tui.launch`), never here: this one refuses it rather than reach a real cloud instead."""
    if options.sim:
        raise ValueError("options.sim: the simulated project is opened by khz_tui.launch.connect.connect, "
                         "not by the engine's connect")
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
    """Apply, destroy, dry-run or verify `plan` against `target`, streaming events to `sink`.

    Every event also goes to a JSON-lines log in the cluster's state directory (`state_dir`
    overrides the target's, which is platformdirs' location or the simulated project's). RunFinished,
    with the run's Outcome, is always the last event, also when the run fails or is cancelled (the
    cancellation is then re-raised)."""
    from khz_tui.engine.runner import execute

    return await execute(mode, plan, target, sink=sink, confirm=confirm, options=options,
                         state_dir=target.state_dir if state_dir is None else state_dir)


async def read_catalog(plan: ClusterPlan, options: RunOptions, connect: Connect, *, token: str | None = None) -> Catalog:
    """What the target sells today (server types, locations, LB types, images, prices), read from its
    API and cached as dry-run and apply read it; for the wizard after Verify. Raises what `connect` raises."""
    from khz_tui.engine.cloud.live_catalog import fetch_catalog

    async with connect(plan, options, token=token) as target:
        return await fetch_catalog(target.endpoint, target.token, simulated=bool(target.simulated))


