"""SVG snapshots of the run console at 80x24, 120x40 and 200x60: mid-run, success, failure and destroy,
played from the deterministic demo script (no clocks, no cloud)."""

from __future__ import annotations

import asyncio

import pytest

from khz_tui.engine.events import RunFinished
from khz_tui.engine.options import RunOptions
from khz_tui.plan.model import ClusterPlan
from khz_tui.ui.app import KhzApp
from khz_tui.ui.demo_run import demo_apply, demo_destroy, demo_runner_factory, scripted_runner

SIZES = [(80, 24), (120, 40), (200, 60)]
SIZE_IDS = ["80x24", "120x40", "200x60"]
STAGES = ["mid-run", "success", "failure", "destroy"]


def _runner_factory(stage: str):
    plan = ClusterPlan(name="demo")
    if stage == "mid-run":
        script = scripted_runner([e for e in demo_apply(plan) if not isinstance(e, RunFinished)][:40])

        async def never_ends(sink, confirm):
            await script(sink, confirm)
            await asyncio.Event().wait()

        return lambda mode, p: never_ends
    if stage == "destroy":
        # The demo's destroy with the engine's ResourceDeleted events, as the real destroy sends them.
        from khz_tui.engine.events import ResourceDeleted

        events = []
        for event in demo_destroy(plan):
            if isinstance(event, RunFinished):
                events += [ResourceDeleted(resource_type="network", name="demo", id=7, elapsed=event.elapsed),
                           ResourceDeleted(resource_type="firewall", name="demo", id=8, elapsed=event.elapsed)]
            events.append(event)
            if getattr(event, "phase", None) == "deleted":
                events.append(ResourceDeleted(resource_type="server", name=event.node, id=100 + len(events),
                                              elapsed=event.elapsed))
        return lambda mode, p: scripted_runner(events)
    return demo_runner_factory(fail_node=2 if stage == "failure" else None)


def _mode(stage: str) -> str:
    return "destroy" if stage == "destroy" else "apply"


@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
@pytest.mark.parametrize("stage", STAGES)
def test_run_console_at_size(snap_compare, stage: str, size: tuple[int, int]) -> None:
    app = KhzApp(None, RunOptions(sim=True), runner_factory=_runner_factory(stage))

    async def run(pilot) -> None:
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
        app.start_run(_mode(stage), ClusterPlan(name="demo"))
        await pilot.pause()
        if stage != "mid-run":
            await pilot.app.workers.wait_for_complete()
        await pilot.pause()
        app.screen.flush()
        app.clear_notifications()  # the end-of-run toast would cover the log; its own test checks it
        await pilot.pause()

    assert snap_compare(app, run_before=run, terminal_size=size)
