"""SVG snapshots of the run console at 80x24, 120x40 and 200x60: mid-run, success, failure and destroy, played
from engine runs recorded against the simulator (tests/support/recorded_runs.py: no clocks, no cloud)."""

from __future__ import annotations

import pytest
from support.recorded_runs import mid_run_runner, question_of, recorded_runner_factory

from khz_tui.engine.options import RunOptions
from khz_tui.launch.connect import connect
from khz_tui.plan.model import ClusterPlan
from khz_tui.ui.app import KhzApp

SIZES = [(80, 24), (120, 40), (200, 60)]
SIZE_IDS = ["80x24", "120x40", "200x60"]
STAGES = ["mid-run", "success", "failure", "destroy"]


def _runner_factory(stage: str):
    if stage == "mid-run":
        return lambda mode, plan: mid_run_runner(plan)
    return recorded_runner_factory(apply="apply-node-unreachable" if stage == "failure" else "apply")


def _mode(stage: str) -> str:
    return "destroy" if stage == "destroy" else "apply"


@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
@pytest.mark.parametrize("stage", STAGES)
def test_run_console_at_size(snap_compare, stage: str, size: tuple[int, int]) -> None:
    app = KhzApp(None, RunOptions(sim=True), connect=connect, runner_factory=_runner_factory(stage))

    async def run(pilot) -> None:
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
        plan = ClusterPlan(name="demo")
        # A destroy is asked in the destroy dialog first; its answer goes with the run, as in the app.
        app.start_run(_mode(stage), plan, confirmed=question_of("destroy", plan) if stage == "destroy" else None)
        await pilot.pause()
        if stage != "mid-run":
            await pilot.app.workers.wait_for_complete()
        await pilot.pause()
        app.screen.flush()
        app.clear_notifications()  # the end-of-run toast would cover the log; its own test checks it
        await pilot.pause()

    assert snap_compare(app, run_before=run, terminal_size=size)
