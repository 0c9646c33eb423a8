"""The footer shows the focused screen's keys (Textual's FooterKey widgets, found by their type's name: the
class is not public); every step in the indicator has its screen."""

from __future__ import annotations

from khz_tui.ui.app import step_screen
from khz_tui.ui.widgets.step_indicator import STEP_ORDER

SIZE = (100, 32)


async def test_footer_shows_the_first_steps_keys(make_app) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert "Verify" in [key.description for key in app.screen.query("FooterKey")]


async def test_footer_follows_keys_that_appear(make_app) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+n")  # topology: the pool table brings add/edit/remove
        app.screen.query_one("#pools").focus()
        await pilot.pause()
        assert {"Add", "Edit", "Remove"} <= {key.description for key in app.screen.query("FooterKey")}
        app.screen.query_one("#name").focus()
        await pilot.pause()
        assert "Add" not in {key.description for key in app.screen.query("FooterKey")}


def test_every_step_in_the_indicator_has_a_screen() -> None:
    assert [step_screen(step).STEP for step in STEP_ORDER] == list(STEP_ORDER)
