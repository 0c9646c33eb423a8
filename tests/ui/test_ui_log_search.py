"""Log search marks every match and n / N step through them (round the ends), saying which one is shown."""

from __future__ import annotations

from rich.text import Text
from support.recorded_runs import recorded_runner_factory
from support.run_console import finished_run

from khz_tui.engine.events import LogLine
from khz_tui.engine.options import RunOptions
from khz_tui.launch.connect import connect
from khz_tui.ui.app import KhzApp
from khz_tui.ui.widgets.log_pane import LogPane, TailLog


async def test_search_highlights_matches_and_n_steps_through_them() -> None:
    app = KhzApp(None, RunOptions(sim=True), connect=connect, runner_factory=recorded_runner_factory())
    async with app.run_test(size=(120, 40)) as pilot:
        console = await finished_run(pilot, app)
        console.sink(LogLine(node="demo-cp-1", stream="stdout", text="STARTING the KERNEL"))
        console.flush()
        app.clear_notifications()
        await pilot.pause()
        await pilot.press("slash", *"starting", "enter")
        await pilot.pause()
        pane = console.query_one(LogPane)
        log = pane.query_one(TailLog)
        matches = [y for y, line in enumerate(log.lines) if "starting" in line.lower()]
        assert len(matches) == 6  # the installer's "systemd: Starting k3s" of each node and the one with another case
        # Each match is marked, whatever its case.
        text = Text(log.lines[matches[-1]])
        log.highlighter.highlight(text)
        assert any("yellow" in str(span.style) for span in text.spans)
        await pilot.press("n")
        await pilot.pause()
        assert log.current_match == matches[0] and "match 1/6" in str(pane.border_title)
        await pilot.press("n")
        assert log.current_match == matches[1]
        await pilot.press("N", "N")
        await pilot.pause()
        assert log.current_match == matches[-1] and "match 6/6" in str(pane.border_title)  # round the start
        assert log.scroll_y <= matches[-1] < log.scroll_y + log.size.height  # in view
