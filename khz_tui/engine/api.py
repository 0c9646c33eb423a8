"""The engine's public face: everything the wizard, replay and headless runs call.

    async with connect(plan, options) as target:          # resolves token + endpoint, or starts --sim
        finished = await run("apply", plan, target, sink=on_event, confirm=ask)

`sink` receives every event of the one stream (see `events.py`), in order, on the event loop.
`confirm` is asked before destructive steps (scale-down, destroy) unless `options.yes`; returning
False stops the run cleanly with a RunFinished(ok=False).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from khz_tui.engine.events import EngineEvent, RunFinished, RunMode
from khz_tui.engine.options import RunOptions
from khz_tui.plan.model import ClusterPlan

if TYPE_CHECKING:
    from khz_tui.engine.sim_project import ProjectLock
    from khz_tui.sim.simulator import Simulator

EventSink = Callable[[EngineEvent], None]
Confirm = Callable[[str], Awaitable[bool]]


class Connect(Protocol):
    """Resolves where a run provisions, for the duration of an `async with`: `connect` below for a real
    cloud; the command line hands the wizard and headless runs one that can also start the simulator."""

    def __call__(
        self, plan: ClusterPlan, options: RunOptions, *, token: str | None = None
    ) -> AbstractAsyncContextManager[Target]: ...

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
    """Resolve where to provision: with `options.sim`, start an in-process simulator for the
    duration of the block; otherwise resolve the endpoint and the token (an explicit `token`, e.g.
    typed into the wizard, wins). Raises `CredentialsError` with a message for the person.

    The simulator of `--sim` loads the user's simulated project (see `sim_project.py`) and saves it
    when the last block using it in this process ends; a project another process has open raises
    `SimulatedProjectBusy` (a CredentialsError)."""
    if options.sim:
        from khz_tui.engine.sim_project import project_label, simulated_project_dir

        folder = simulated_project_dir()
        async with _simulated_project(folder) as sim:
            yield Target(sim.endpoint, True, sim.token, time_scale=SIM_TIME_SCALE,
                         token_source="the built-in simulator", state_dir=folder, project=project_label(folder))
        return
    from khz_tui.engine.credentials import resolve_endpoint, resolve_token

    endpoint = resolve_endpoint(plan, options)
    source = "typed in"
    if token is None:
        token, source = resolve_token(plan, options)
    yield Target(endpoint, False, token, token_source=source)


@dataclass
class _OpenProject:
    """The simulated project as open in this process: runs on the same event loop share its simulator
    (the review's dry-run may still be asking while the run console starts an apply)."""

    guard: asyncio.Lock
    sim: Simulator | None = None
    lock: ProjectLock | None = None
    users: int = 0
    key: tuple[Path, int] = field(default=(Path(), 0))


_OPEN: dict[tuple[Path, int], _OpenProject] = {}


@asynccontextmanager
async def _simulated_project(folder: Path) -> AsyncIterator[Simulator]:
    from khz_tui.engine.sim_project import PROJECT_FILE, lock_project
    from khz_tui.sim.simulator import Simulator

    key = (folder, id(asyncio.get_running_loop()))
    shared = _OPEN.setdefault(key, _OpenProject(asyncio.Lock(), key=key))
    async with shared.guard:
        if shared.sim is None:
            lock = lock_project(folder)  # raises SimulatedProjectBusy: another process has it open
            sim = Simulator(time_scale=SIM_TIME_SCALE, state_file=folder / PROJECT_FILE)
            try:
                await sim.start()
            except BaseException:
                lock.release()
                _OPEN.pop(key, None)
                raise
            shared.sim, shared.lock = sim, lock
            _OPEN[key] = shared  # again: a previous holder may have closed it while this one waited
        shared.users += 1
        sim = shared.sim
    try:
        yield sim
    finally:
        async with shared.guard:
            shared.users -= 1
            if shared.users == 0 and shared.sim is not None:
                try:
                    await shared.sim.stop()  # saves the project, then stops its machines
                    saved = folder / PROJECT_FILE
                    if saved.exists():
                        saved.chmod(0o600)  # it holds the simulated clusters' keys and certificates
                finally:
                    if shared.lock is not None:
                        shared.lock.release()
                    shared.sim = shared.lock = None
                    _OPEN.pop(key, None)


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
    overrides the target's, which is platformdirs' location or the simulated project's). RunFinished is always the last event, also when
    the run fails or is cancelled (the cancellation is then re-raised)."""
    from khz_tui.engine.runner import execute

    if state_dir is None:
        state_dir = target.state_dir
    if mode == "verify":  # a run of its own: it reads the cluster and changes nothing at Hetzner
        from khz_tui.engine.verify import execute_verify

        return await execute_verify(plan, target, sink=sink, options=options, state_dir=state_dir)
    return await execute(mode, plan, target, sink=sink, confirm=confirm, options=options, state_dir=state_dir)


async def read_catalog(plan: ClusterPlan, options: RunOptions, connect: Connect, *, token: str | None = None) -> Catalog:
    """What the target sells today (server types, locations, LB types, images, prices), read from its
    API and cached as dry-run and apply read it; for the wizard after Verify. Raises what `connect` raises."""
    from khz_tui.engine.cloud.live_catalog import fetch_catalog

    async with connect(plan, options, token=token) as target:
        return await fetch_catalog(target.endpoint, target.token, simulated=bool(target.simulated))


if TYPE_CHECKING:
    from khz_tui.plan.catalog import Catalog

