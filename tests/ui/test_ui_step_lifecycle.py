"""A wizard step asked to read its fields when it has none (a Changed handled between the switch to the step and
the mounting of its fields, or after its fields were removed as it is left) does nothing instead of crashing
with NoMatches (seen once under load: `changed` -> `TopologyStep.collect` -> no '#cp-locations')."""

from __future__ import annotations

from support.recorded_runs import recorded_runner_factory

from khz_tui.engine.options import RunOptions
from khz_tui.launch.connect import connect
from khz_tui.ui.app import KhzApp
from khz_tui.ui.screens.topology import TopologyStep

SIZE = (100, 32)


def _app() -> KhzApp:
    return KhzApp(None, RunOptions(sim=True), connect=connect, runner_factory=recorded_runner_factory())


async def test_a_change_before_the_fields_are_mounted_is_ignored() -> None:
    app = _app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.app.workers.wait_for_complete()
        step = TopologyStep()
        app.switch_screen(step)  # not awaited: the step is current before its fields exist
        step.changed()  # what a Select.Changed from the step's first fields leads to
        step.plan_ready()
        await pilot.pause()
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
        assert app.screen is step
        assert step.query_one("#cp-locations") is not None  # and it works once mounted
        step.changed()


async def test_a_change_after_the_fields_are_gone_is_ignored() -> None:
    app = _app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+n")
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
        step = app.screen
        assert isinstance(step, TopologyStep)
        draft_before = dict(app.draft.data) if hasattr(app.draft, "data") else None
        await step.query_one("#form").remove_children()
        step.changed()  # must not raise, and must not write empty values into the draft
        if draft_before is not None:
            assert dict(app.draft.data) == draft_before
