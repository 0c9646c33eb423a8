"""The log follows the tail while the person has not scrolled back, also once the outcome panel takes room when the
run ends; after a failure the node table's cursor is on the failed node."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Log

from khz_tui.plan.model import ClusterPlan
from khz_tui.plan.toml_io import save_plan
from khz_tui.ui.screens.run_console import RunConsole
from khz_tui.ui.widgets.node_table import NodeTable

SIZE = (100, 32)


def _plan_file(tmp_path: Path) -> Path:
    path = tmp_path / "demo.toml"
    save_plan(ClusterPlan(name="demo"), path)
    return path


async def _run(pilot) -> RunConsole:
    await pilot.press("a")
    await pilot.app.workers.wait_for_complete()
    console = pilot.app.screen
    assert isinstance(console, RunConsole)
    console.flush()
    await pilot.pause()
    await pilot.pause()
    return console


async def test_the_log_is_at_its_end_when_a_run_finishes(make_app, tmp_path) -> None:
    app = make_app(_plan_file(tmp_path))
    async with app.run_test(size=SIZE) as pilot:
        console = await _run(pilot)
        log = console.query_one(Log)
        assert log.max_scroll_y > 0  # more lines than fit: following matters
        assert log.scroll_y == log.max_scroll_y


async def test_a_failed_run_puts_the_cursor_on_the_failed_node(make_app, tmp_path) -> None:
    app = make_app(_plan_file(tmp_path), apply="apply-node-unreachable")
    async with app.run_test(size=SIZE) as pilot:
        console = await _run(pilot)
        table = console.query_one(NodeTable)
        failed = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        assert failed == "demo-default-1" and table.nodes[failed].phase == "failed"
        log = console.query_one(Log)
        assert log.scroll_y == log.max_scroll_y


async def test_scrolling_back_stops_following(make_app, tmp_path) -> None:
    app = make_app(_plan_file(tmp_path))
    async with app.run_test(size=SIZE) as pilot:
        console = await _run(pilot)
        log = console.query_one(Log)
        log.scroll_home(animate=False, immediate=True)
        await pilot.pause()
        from khz_tui.ui.widgets.log_pane import LogPane

        console.query_one(LogPane).add_lines([(None, f"late line {i}") for i in range(5)])
        await pilot.pause()
        assert log.scroll_y == 0  # the person reads where they scrolled to
