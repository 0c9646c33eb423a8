"""The engine's own questions (scale-down, destroy) and the cancel question say where they act."""

from __future__ import annotations

from textual.widgets import Static

from khz_tui.engine.events import RunFinished, RunStarted
from khz_tui.engine.options import RunOptions
from khz_tui.launch.connect import connect
from khz_tui.plan.model import ClusterPlan
from khz_tui.ui.app import KhzApp
from khz_tui.ui.dialogs.confirm import ConfirmDialog

SIZE = (100, 32)


async def test_the_engines_question_names_the_target() -> None:
    async def asks(sink, confirm):
        sink(RunStarted(cluster="demo", mode="apply", endpoint="http://127.0.0.1:9/v1", simulated=False, node_count=0))
        yes = await confirm("Remove 2 workers (demo-default-3, demo-default-4)?")
        finished = RunFinished(mode="apply", ok=yes, message="scaled down" if yes else "not confirmed")
        sink(finished)
        return finished

    app = KhzApp(None, RunOptions(endpoint="http://127.0.0.1:9/v1"), connect=connect, runner_factory=lambda mode, plan: asks)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
        app.start_run("apply", ClusterPlan(name="demo"))
        for _ in range(50):  # bounded: the dialog opens as soon as the scripted run asks
            await pilot.pause()
            if isinstance(app.screen, ConfirmDialog):
                break
        assert isinstance(app.screen, ConfirmDialog)
        text = " ".join(str(s.render()) for s in app.screen.query(Static))
        assert "Remove 2 workers" in text and "the project behind http://127.0.0.1:9/v1" in text, text
