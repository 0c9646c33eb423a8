"""The footer shows the focused screen's keys, rebuilt only when those keys change."""

from __future__ import annotations

from textual.widgets._footer import FooterKey

from khz_tui.ui.app import STEP_SCREENS
from khz_tui.ui.widgets.step_indicator import STEP_ORDER

SIZE = (100, 32)


async def test_footer_keeps_its_keys_while_focus_moves(make_app) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        before = list(app.screen.query(FooterKey))
        assert "Verify" in [key.description for key in before]
        app.screen.query_one("#token-source").focus()  # other hidden bindings, the same keys shown
        await pilot.pause()
        assert list(app.screen.query(FooterKey)) == before


async def test_footer_follows_keys_that_appear(make_app) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+n")  # topology: the pool table brings add/edit/remove
        app.screen.query_one("#pools").focus()
        await pilot.pause()
        assert {"Add", "Edit", "Remove"} <= {key.description for key in app.screen.query(FooterKey)}
        app.screen.query_one("#name").focus()
        await pilot.pause()
        assert "Add" not in {key.description for key in app.screen.query(FooterKey)}


def test_every_step_in_the_indicator_has_a_screen() -> None:
    assert set(STEP_SCREENS) == set(STEP_ORDER)
