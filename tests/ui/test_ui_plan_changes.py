"""`v` on the review shows what changed since the plan was last saved: a unified diff of the saved file
against the plan as it would be saved now; escape closes it."""

from __future__ import annotations

from pathlib import Path

from khz_tui.plan.model import ClusterPlan
from khz_tui.plan.toml_io import dumps_plan, save_plan
from khz_tui.ui.dialogs.plan_changes import PlanChanges
from khz_tui.ui.screens.review import ReviewScreen

SIZE = (100, 32)


async def test_v_shows_the_saved_file_against_the_edited_plan(make_app, tmp_path: Path) -> None:
    path = tmp_path / "demo.toml"
    save_plan(ClusterPlan(name="demo"), path)
    app = make_app(path)
    async with app.run_test(size=SIZE) as pilot:
        review = app.screen
        assert isinstance(review, ReviewScreen)
        await pilot.press("v")
        await pilot.pause()
        assert isinstance(app.screen, PlanChanges)
        assert app.screen.lines == []
        assert "No changes" in str(app.screen.query_one("#plan-diff").render())
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is review

        app.draft.update({"name": "demo2"})
        await pilot.press("v")
        await pilot.pause()
        dialog = app.screen
        assert isinstance(dialog, PlanChanges)
        assert f"--- {path}" in dialog.lines and "+++ the plan as edited here" in dialog.lines
        assert '-name = "demo"' in dialog.lines and '+name = "demo2"' in dialog.lines
        assert '+name = "demo2"' in str(dialog.query_one("#plan-diff").render())


async def test_a_plan_never_saved_is_all_new(make_app) -> None:
    from khz_tui.ui.dialogs.plan_changes import plan_diff

    current = dumps_plan(ClusterPlan(name="demo"))
    lines = plan_diff(None, "", current)
    assert lines[0] == "--- (never saved)"
    assert all(line.startswith("+") for line in lines[3:])
