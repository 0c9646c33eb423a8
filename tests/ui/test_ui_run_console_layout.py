"""At 80x24 the run console keeps what matters: the node table's Phase, Ready and Time, the log after the
outcome appears, and `f1 Help` and `D Destroy` in the footer; from 100 columns every node column shows."""

from __future__ import annotations

import pytest
from support.recorded_runs import recorded_events, recorded_runner_factory
from support.run_console import finished_run

from khz_tui.engine.events import LogLine, StepFailed
from khz_tui.engine.options import RunOptions
from khz_tui.launch.connect import connect
from khz_tui.ui.app import KhzApp
from khz_tui.ui.widgets.log_pane import LogPane
from khz_tui.ui.widgets.node_table import COLUMNS, NodeTable


def _visible_columns(table: NodeTable, width: int) -> list[str]:
    """The labels of the columns whose whole width is on screen."""
    shown, x = [], table.region.x
    for column in table.ordered_columns:
        x += column.get_render_width(table)
        if x <= width:
            shown.append(str(column.label))
    return shown


@pytest.mark.parametrize("apply", ["apply", "apply-node-unreachable"], ids=["success", "failure"])
async def test_80x24_keeps_phase_the_log_and_the_footer_keys(apply) -> None:
    app = KhzApp(None, RunOptions(sim=True), connect=connect, runner_factory=recorded_runner_factory(apply=apply))
    async with app.run_test(size=(80, 24)) as pilot:
        console = await finished_run(pilot, app)
        columns = _visible_columns(console.query_one(NodeTable), 80)
        assert {"Node", "Phase", "Ready", "Time"} <= set(columns)
        log = console.query_one(LogPane)
        assert log.region.height >= 5 and log.region.bottom <= 23  # its lines in view, above the footer
        keys = {(k.key_display or k.key, k.description): k.region for k in console.query("FooterKey")}  # Textual does not export FooterKey
        on_screen = {desc for (_, desc), region in keys.items() if region.width and region.right <= 80}
        assert {"Help", "Destroy"} <= on_screen


async def test_wide_terminals_show_every_node_column_and_resizing_rebuilds() -> None:
    app = KhzApp(None, RunOptions(sim=True), connect=connect, runner_factory=recorded_runner_factory())
    async with app.run_test(size=(120, 40)) as pilot:
        console = await finished_run(pilot, app)
        table = console.query_one(NodeTable)
        assert _visible_columns(table, 120) == list(COLUMNS)
        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        assert "Private IP" not in [str(c.label) for c in table.ordered_columns]
        assert table.row_count == 5 and "ready" in str(table.get_row_at(0))


async def test_error_lines_wrap_and_w_wraps_every_line() -> None:
    app = KhzApp(None, RunOptions(sim=True), connect=connect, runner_factory=recorded_runner_factory(apply="apply-node-unreachable"))
    failure = next(e for e in recorded_events("apply-node-unreachable") if isinstance(e, StepFailed)).message
    async with app.run_test(size=(80, 24)) as pilot:
        console = await finished_run(pilot, app)
        log = console.query_one(LogPane).query_one("#log")
        width = log.scrollable_content_region.width
        lines = [str(line) for line in log.lines]
        assert all(len(line) <= width for line in lines if "✗" in line)
        joined = " ".join(" ".join(line.split()) for line in lines)
        assert " ".join(failure.split()) in joined  # the failure read whole, not cut
        long = "x" * 120
        console.sink(LogLine(node="demo-cp-1", stream="stdout", text=long))
        console.flush()
        await pilot.pause()
        assert any(len(str(line)) > width for line in log.lines)  # not an error: one line, cut
        await pilot.press("w")
        await pilot.pause()
        assert all(len(str(line)) <= width for line in log.lines)
        assert "w wrap on" in console.query_one(LogPane).border_subtitle
