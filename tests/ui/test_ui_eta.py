"""While a run is going, the progress panel estimates the time left from the time spent and the progress
made, once past 10%; before that, and once the run has ended, it says nothing of the kind."""

from __future__ import annotations

from support.recorded_runs import recorded_events, scripted_runner

from khz_tui.engine.events import RunFinished
from khz_tui.engine.options import RunOptions
from khz_tui.launch.connect import connect
from khz_tui.plan.model import ClusterPlan
from khz_tui.ui.app import KhzApp
from khz_tui.ui.screens.run_console import RunConsole
from khz_tui.ui.widgets.progress_panel import ProgressPanel, eta_seconds

SIZE = (120, 40)


def _app(cut: float) -> KhzApp:
    """Runs play the first `cut` share of the recorded apply (no RunFinished: the run is still going)."""
    def factory(mode, plan):
        events = [e for e in recorded_events("apply", plan.name) if not isinstance(e, RunFinished)]
        return scripted_runner(events[: int(len(events) * cut)])

    return KhzApp(None, RunOptions(sim=True), connect=connect, runner_factory=factory)


async def _facts(cut: float) -> tuple[str, ProgressPanel]:
    app = _app(cut)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.app.workers.wait_for_complete()
        app.start_run("apply", ClusterPlan(name="demo"))
        await pilot.app.workers.wait_for_complete()
        console = app.screen
        assert isinstance(console, RunConsole) and console.running
        console.flush()
        await pilot.pause()
        panel = console.query_one(ProgressPanel)
        return str(panel.query_one("#progress-facts").render()), panel


async def test_mid_run_the_panel_says_about_how_long_is_left() -> None:
    facts, panel = await _facts(0.6)
    assert panel.best > 0.10
    left = eta_seconds(panel.elapsed, panel.best)
    assert left is not None and left > 0
    assert f"about {left:.0f} s left" in facts


async def test_no_estimate_before_ten_percent() -> None:
    facts, panel = await _facts(0.08)
    assert panel.best <= 0.10
    assert "s left" not in facts


def test_the_estimate_is_the_time_spent_scaled_by_what_remains() -> None:
    assert eta_seconds(30.0, 0.5) == 30.0
    assert eta_seconds(30.0, 0.75) == 10.0
    assert eta_seconds(30.0, 0.05) is None and eta_seconds(30.0, 1.0) is None
