"""Keyboard and state without colour: switches and the location checklist say their state in text, Enter
goes Next from a switch as from a text field, lists run in order, the focused field's help is on screen,
and the theme is remembered (issue 13, medium items)."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Select

from khz_tui.plan.model import ClusterPlan
from khz_tui.plan.toml_io import dumps_plan
from khz_tui.ui.screens.review import ReviewScreen
from khz_tui.ui.screens.topology import TopologyStep
from khz_tui.ui.widgets.controls import CheckList, PlanSwitch
from khz_tui.ui.widgets.field_help import FieldHelp

SIZE = (100, 32)


async def _settle(pilot) -> None:
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


async def _next(pilot, times: int = 1) -> None:
    for _ in range(times):
        await pilot.press("ctrl+n")
        await _settle(pilot)


async def test_switches_and_checklist_say_their_state_in_text(make_app) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await _next(pilot)
        spread = app.screen.query_one("#cp-locations", CheckList)
        spread.focus()
        await pilot.press("space")  # choose the first location
        await pilot.pause()
        first, second = (spread.render_line(y).text for y in (0, 1))
        assert "✓" in first and "✓" not in second, (first, second)
        await _next(pilot)
        lb = app.screen.query_one("#lb-enabled", PlanSwitch)
        encryption = app.screen.query_one("#encryption", PlanSwitch)
        assert lb.value and "on" in lb.render_line(0).text
        assert not encryption.value and "off" in encryption.render_line(0).text


async def test_enter_on_a_switch_goes_next_and_space_toggles(make_app) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await _next(pilot, 3)
        csi = app.screen.query_one("#csi", PlanSwitch)
        csi.focus()
        await pilot.press("space")
        assert not csi.value
        await pilot.press("enter")
        await _settle(pilot)
        assert isinstance(app.screen, ReviewScreen), "enter toggled instead of going on"
        assert app.draft.get("storage.hcloud_csi") is False


async def test_a_count_that_is_not_allowed_sits_in_order(make_app, tmp_path: Path) -> None:
    path = tmp_path / "four.toml"
    path.write_text(dumps_plan(ClusterPlan(name="demo")).replace("count = 3", "count = 4", 1))
    app = make_app(path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("w")
        await _settle(pilot)
        assert isinstance(app.screen, TopologyStep)
        count = app.screen.query_one("#cp-count", Select)
        assert app.focused is count, "the way into the wizard lands on the problem's field"
        await pilot.press("enter", "down", "enter")
        await pilot.pause()
        assert count.value == 5, "one arrow down from 4 reaches 5, not the top of the list"


async def test_the_focused_fields_help_is_on_screen(make_app) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await _next(pilot)
        help_line = app.screen.query_one(FieldHelp)
        assert "Cluster name:" in str(help_line.render())
        await pilot.press("tab")
        await pilot.pause()
        assert "Location:" in str(help_line.render())


async def test_the_theme_is_remembered(make_app, home: Path) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        assert app.current_theme.dark
        await pilot.press("ctrl+t")
        await pilot.pause()
    assert list((home / "config" / "khz-tui").glob("tui.json"))
    again = make_app()
    async with again.run_test(size=SIZE):
        assert not again.current_theme.dark


def _luminance(color) -> float:
    def channel(c: int) -> float:
        c = c / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = color.triplet
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


async def test_the_sim_banner_is_readable_in_both_themes(make_app) -> None:
    from khz_tui.ui.widgets.sim_banner import SimBanner

    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        for _ in range(2):
            await pilot.pause()
            style = app.screen.query_one(SimBanner).rich_style
            lighter, darker = sorted((_luminance(style.color), _luminance(style.bgcolor)), reverse=True)
            ratio = (lighter + 0.05) / (darker + 0.05)
            assert ratio >= 4.5, (app.theme, style, ratio)  # WCAG AA for text
            await pilot.press("ctrl+t")


async def test_radio_buttons_and_checkbox_mark_only_the_chosen(make_app) -> None:
    from khz_tui.ui.widgets.controls import PlanCheckbox

    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await _settle(pilot)
        sources = app.screen.query_one("#token-source")
        lines = [sources.query("RadioButton")[i].render_line(0).text for i in range(3)]
        assert [("●" in line) for line in lines] == [False, False, True], lines
        save = app.screen.query_one(PlanCheckbox)
        assert "✓" not in save.render_line(0).text
        save.value = True
        await pilot.pause()
        assert "✓" in save.render_line(0).text
