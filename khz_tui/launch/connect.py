"""Where a run goes, as the command line decides it: `connect` matches `engine.api.Connect`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from khz_tui.engine.options import RunOptions
from khz_tui.engine.simulated_project import project_label, simulated_project_dir

# The command line imports this module before the wizard's first frame: the engine's facade and the plan
# model (pydantic) load when a run connects, not with it (about 100 ms of the start-up benchmark).
if TYPE_CHECKING:
    from khz_tui.engine import api
    from khz_tui.plan.model import ClusterPlan


@asynccontextmanager
async def connect(plan: ClusterPlan, options: RunOptions, *, token: str | None = None) -> AsyncIterator[api.Target]:
    """With `options.sim`, the user's simulated project for the duration of the block (loaded when the
    first block of this process opens it, saved when the last one ends; `SimulatedProjectBusy`, a
    CredentialsError, while another process has it open). Otherwise the real cloud of
    `engine.api.connect` (`token`, e.g. typed into the wizard, wins over the configured one)."""
    from khz_tui.engine import api

    if not options.sim:
        async with api.connect(plan, options, token=token) as target:
            yield target
        return
    from khz_tui.launch.simulator import open_project  # here: only --sim needs the simulator

    folder = simulated_project_dir()
    async with open_project(folder) as sim:
        yield api.Target(sim.endpoint, True, sim.token, time_scale=sim.time_scale,
                         token_source="the built-in simulator", state_dir=folder, project=project_label(folder))
