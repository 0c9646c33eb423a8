"""How the TUI starts engine runs: one callable per run, so the run console can also play a script."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the engine and the plan model load on the first run, not with the wizard's first frame
    from khz_tui.engine.api import Confirm, Connect, EventSink
    from khz_tui.engine.events import RunFinished, RunMode
    from khz_tui.engine.options import RunOptions
    from khz_tui.plan.catalog import Catalog
    from khz_tui.plan.model import ClusterPlan

#: Runs to completion, sending every event to the sink; asks `confirm` before destructive steps.
Runner = Callable[["EventSink", "Confirm"], Awaitable["RunFinished"]]
#: Makes the runner for (mode, plan); the app holds one (the engine's, or a scripted one in tests).
RunnerFactory = Callable[["RunMode", "ClusterPlan"], Runner]


def engine_runner_factory(options: RunOptions, token: Callable[[], str | None], connect: Connect) -> RunnerFactory:
    """Runners that connect (`connect` may start the simulator) and run the real engine. `token` gives the
    token typed into the wizard in this session, or None to let the engine resolve one (see credentials.py)."""

    def factory(mode: RunMode, plan: ClusterPlan) -> Runner:
        async def run_engine(sink: EventSink, confirm: Confirm) -> RunFinished:
            from khz_tui.engine import api

            async with connect(plan, options, token=token()) as target:
                return await api.run(mode, plan, target, sink=sink, confirm=confirm, options=options)

        return run_engine

    return factory


#: Reads what the target sells today, for the plan (the wizard after Verify).
CatalogReader = Callable[["ClusterPlan"], Awaitable["Catalog"]]


def engine_catalog_reader(options: RunOptions, token: Callable[[], str | None], connect: Connect) -> CatalogReader:
    """The engine's live catalog read (cached per endpoint), through the same connection rules as runs."""

    async def read(plan: ClusterPlan) -> Catalog:
        from khz_tui.engine import api

        return await api.read_catalog(plan, options, connect, token=token())

    return read

