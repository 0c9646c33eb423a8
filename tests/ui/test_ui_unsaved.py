"""Unsaved changes are shown ("modified") and ctrl+q asks before losing them; an untouched plan quits at once."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Input

from khz_tui.plan.model import ClusterPlan
from khz_tui.plan.toml_io import save_plan
from khz_tui.ui.dialogs.confirm import ConfirmDialog
from khz_tui.ui.screens.review import ReviewScreen
from khz_tui.ui.widgets.step_indicator import StepIndicator

SIZE = (100, 32)


async def _settle(pilot) -> None:
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


async def test_an_untouched_wizard_quits_without_asking(make_app) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await _settle(pilot)
        await pilot.press("ctrl+n", "ctrl+n")
        await _settle(pilot)
        assert not app.modified
        await pilot.press("ctrl+q")
        await pilot.pause()
        assert not isinstance(app.screen, ConfirmDialog)
        assert app.return_code is not None or not app.is_running


async def test_a_change_shows_modified_and_ctrl_q_asks(make_app) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await _settle(pilot)
        await pilot.press("ctrl+n")
        await _settle(pilot)
        name = app.screen.query_one("#name", Input)
        name.value = "renamed"
        await pilot.pause()
        assert app.modified
        assert "modified" in str(app.screen.query_one(StepIndicator).render())
        await pilot.press("ctrl+q")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmDialog)
        assert "lose the changes" in app.screen.question
        await pilot.press("n")  # keep editing
        await pilot.pause()
        assert app.is_running and app.screen.query_one("#name", Input).value == "renamed"


async def test_a_replayed_plan_is_modified_only_once_changed_and_saving_clears_it(make_app, tmp_path: Path) -> None:
    path = tmp_path / "demo.toml"
    save_plan(ClusterPlan(name="demo"), path)
    app = make_app(path)
    async with app.run_test(size=SIZE) as pilot:
        await _settle(pilot)
        assert isinstance(app.screen, ReviewScreen) and not app.modified
        for _ in range(4):  # walk the whole wizard back: reading the fields changes nothing
            await pilot.press("escape")
            await _settle(pilot)
        assert not app.modified
        await pilot.press("ctrl+n")
        await _settle(pilot)
        app.screen.query_one("#name", Input).value = "other"
        await pilot.pause()
        assert app.modified
        await pilot.press("ctrl+s")  # on a wizard step too
        await pilot.pause()
        await pilot.press("enter")  # the dialog offers the plan's own file
        await _settle(pilot)
        assert 'name = "other"' in path.read_text()
        assert not app.modified
        assert "modified" not in str(app.screen.query_one(StepIndicator).render())
