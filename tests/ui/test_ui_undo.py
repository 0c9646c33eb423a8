"""ctrl+z in the wizard takes back the draft's newest change (a field's whole edit, not one letter), shows
the fields as they were, and says so; the footer offers Undo only once there is something to take back."""

from __future__ import annotations

from textual.widgets import Input, Select

from khz_tui.ui.draft import UNDO_DEPTH, PlanDraft
from khz_tui.ui.screens.topology import TopologyStep

SIZE = (100, 32)


def _footer_offers_undo(screen) -> bool:
    return any(b.binding.action == "undo" and b.enabled for b in screen.active_bindings.values())


async def test_ctrl_z_takes_back_each_field_change_in_turn(make_app) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+n")
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
        step = app.screen
        assert isinstance(step, TopologyStep)
        assert not app.draft.can_undo and not _footer_offers_undo(step)
        before = app.draft.get("name")
        await pilot.press("end", "x", "y", "z")  # one edit of one field
        await pilot.pause()
        assert app.draft.get("name") == before + "xyz"
        count = app.draft.get("control_plane.count")
        other = 1 if count != 1 else 3
        step.query_one("#cp-count", Select).value = other
        await pilot.pause()
        assert app.draft.get("control_plane.count") == other
        assert _footer_offers_undo(step)

        await pilot.press("ctrl+z")
        await pilot.pause()
        assert app.draft.get("control_plane.count") == count
        step = app.screen
        assert step.query_one("#cp-count", Select).value == count
        assert app.focused is step.query_one("#cp-count", Select)
        assert app.draft.get("name") == before + "xyz"
        assert any("control_plane.count" in n.message for n in app._notifications)

        await pilot.press("ctrl+z")
        await pilot.pause()
        assert app.draft.get("name") == before
        step = app.screen
        assert step.query_one("#name", Input).value == before
        assert not app.draft.can_undo and not _footer_offers_undo(step)


def test_the_undo_stack_is_bounded() -> None:
    draft = PlanDraft.new("a")
    draft.complete()
    for n in range(UNDO_DEPTH + 20):
        draft.update({"name": f"n{n}"})
        draft.update({"control_plane.count": 3 if n % 2 else 1})
    undone = 0
    while draft.undo() is not None and undone < 10 * UNDO_DEPTH:
        undone += 1
    assert undone == UNDO_DEPTH
