"""Bringing a TUI test to the end of a scripted run: the step most run-console tests share."""

from __future__ import annotations

from typing import Any

from khz_tui.engine.events import RunMode
from khz_tui.plan.model import ClusterPlan
from khz_tui.ui.app import KhzApp
from khz_tui.ui.screens.run_console import RunConsole


async def finished_run(pilot: Any, app: KhzApp, mode: RunMode = "apply") -> RunConsole:
    """Once the wizard has settled (first frame, plan package), run `mode` for the demo plan, let the
    app's scripted run finish and return its console with every event drawn."""
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()
    app.start_run(mode, ClusterPlan(name="demo"))
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()
    console = app.screen
    assert isinstance(console, RunConsole)
    console.flush()
    await pilot.pause()
    return console
