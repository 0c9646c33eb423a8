"""After a failed run, `r` repeats the same mode (a failed dry-run or destroy never turns into an apply) and says
what it will do, in the footer, on the failure panel and when pressed."""

from __future__ import annotations

import pytest
from support.recorded_runs import scripted_runner
from support.run_console import finished_run

from khz_tui.engine.events import RunFinished, RunStarted
from khz_tui.engine.options import RunOptions
from khz_tui.launch.connect import connect
from khz_tui.ui.app import KhzApp
from khz_tui.ui.widgets.outcome_panel import OutcomePanel

SIZE = (100, 32)


def failing_app(started: list[str]) -> KhzApp:
    def factory(mode, plan):
        started.append(mode)
        return scripted_runner([
            RunStarted(cluster=plan.name, mode=mode, endpoint="http://127.0.0.1:9/v1", simulated=True, node_count=0),
            RunFinished(mode=mode, ok=False, message=f"the {mode} failed", failed_step="connect"),
        ])

    return KhzApp(None, RunOptions(sim=True), connect=connect, runner_factory=factory)


@pytest.mark.parametrize("mode", ["dry-run", "destroy", "apply"])
async def test_retry_repeats_the_failed_mode_and_says_so(mode) -> None:
    started: list[str] = []
    app = failing_app(started)
    async with app.run_test(size=SIZE) as pilot:
        console = await finished_run(pilot, app, mode)  # the wizard's first frame and plan package, as a person sees it
        footer = {b.binding.description for b in console.active_bindings.values() if b.enabled}
        assert f"Retry {mode}" in footer
        assert not {f"Retry {m}" for m in ("apply", "destroy", "dry-run") if m != mode} & footer
        panel = str(console.query_one(OutcomePanel).render())
        assert {"apply": "r applies again", "destroy": "r destroys again", "dry-run": "r asks again"}[mode] in panel
        await pilot.press("r")
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
        assert started == [mode, mode]
        notes = [n.title or "" for n in app._notifications]
        assert f"Retrying {mode} of demo" in notes
