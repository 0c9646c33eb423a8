"""`h` on the review lists the cluster's past runs (mode, when, ok or failed, message), read from the run
logs the engine writes in the cluster's state folder for the target in use."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import DataTable

from khz_tui.engine.cluster_files import ClusterFiles
from khz_tui.engine.events import RunFinished, RunStarted
from khz_tui.engine.simulated_project import simulated_project_dir
from khz_tui.plan.model import ClusterPlan
from khz_tui.plan.toml_io import save_plan
from khz_tui.ui.dialogs.run_history import RunHistory
from khz_tui.ui.run_history import cluster_state_dir, past_runs
from khz_tui.ui.screens.review import ReviewScreen

SIZE = (120, 32)


def _log(state: ClusterFiles, mode: str, finished: RunFinished | None) -> Path:
    """A run log written by the engine's own writer (the format the history reads)."""
    with state.new_run_log(mode) as log:
        log.write(RunStarted(cluster=state.cluster, mode=mode, endpoint="http://127.0.0.1:9/v1", simulated=True,
                             node_count=1))
        if finished is not None:
            log.write(finished)
    return log.path


async def test_h_lists_past_runs_newest_first(make_app, tmp_path: Path) -> None:
    state = ClusterFiles("demo", base=simulated_project_dir())
    assert cluster_state_dir("demo", simulated=True) == state.dir
    first = _log(state, "apply", RunFinished(mode="apply", ok=False, message="a node failed to install k3s"))
    second = _log(state, "dry-run", None)
    first.rename(first.with_name("20260101T100000Z-apply.jsonl"))  # distinct times, whatever the clock
    second.rename(second.with_name("20260102T100000Z-dry-run.jsonl"))
    _log(state, "apply", RunFinished(mode="apply", ok=True, message="cluster demo is ready")).rename(
        state.runs_dir / "20260103T100000Z-apply.jsonl")
    path = tmp_path / "demo.toml"
    save_plan(ClusterPlan(name="demo"), path)
    app = make_app(path)
    async with app.run_test(size=SIZE) as pilot:
        review = app.screen
        assert isinstance(review, ReviewScreen)
        await pilot.press("h")
        await pilot.pause()
        dialog = app.screen
        assert isinstance(dialog, RunHistory)
        table = dialog.query_one(DataTable)
        rows = [[str(cell) for cell in table.get_row_at(i)] for i in range(table.row_count)]
        assert rows == [
            ["2026-01-03 10:00:00 UTC", "apply", "ok", "cluster demo is ready"],
            ["2026-01-02 10:00:00 UTC", "dry-run", "unfinished",
             "no end recorded (the run was stopped, or is still going)"],
            ["2026-01-01 10:00:00 UTC", "apply", "failed", "a node failed to install k3s"],
        ]
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is review


async def test_no_runs_yet_and_a_real_target_keeps_its_own(make_app, tmp_path: Path) -> None:
    _log(ClusterFiles("demo", base=simulated_project_dir()), "apply",
         RunFinished(mode="apply", ok=True, message="ok"))
    assert past_runs(cluster_state_dir("demo", simulated=False)) == []  # a simulated run is not a real one
    path = tmp_path / "demo.toml"
    save_plan(ClusterPlan(name="demo"), path)
    app = make_app(path, sim=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("h")
        await pilot.pause()
        dialog = app.screen
        assert isinstance(dialog, RunHistory) and dialog.runs == []
        assert "No runs of cluster demo" in str(dialog.query_one(".dialog-question").render())
