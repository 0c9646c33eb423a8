"""The run console says what happened: its title after the run, a progress bar that never goes back, and
destroy and dry-run in their own words (each deleted resource in the log, never "0/8 nodes Ready")."""

from __future__ import annotations

import asyncio

import pytest
from support.recorded_runs import scripted_runner
from support.run_console import finished_run

from khz_tui.engine.events import (
    Change,
    NodePhaseChanged,
    NodePlanned,
    PlanDiffed,
    ResourceDeleted,
    RunFinished,
    RunStarted,
)
from khz_tui.engine.options import RunOptions
from khz_tui.launch.connect import connect
from khz_tui.plan.model import ClusterPlan
from khz_tui.ui.app import KhzApp
from khz_tui.ui.screens.run_console import RunConsole
from khz_tui.ui.widgets.log_pane import LogPane
from khz_tui.ui.widgets.node_table import NodeTable
from khz_tui.ui.widgets.outcome_panel import OutcomePanel
from khz_tui.ui.widgets.progress_panel import ProgressPanel

SIZE = (100, 32)
START = dict(cluster="demo", endpoint="http://127.0.0.1:9/v1", simulated=True, node_count=2)


def _app(script) -> KhzApp:
    return KhzApp(None, RunOptions(sim=True), connect=connect, runner_factory=lambda mode, plan: scripted_runner(script(mode)))


def _title(console: RunConsole) -> str:
    return str(console.query_one("#run-title").render())


def _log(console: RunConsole) -> list[str]:
    return [str(line) for line in console.query_one(LogPane).query_one("#log").lines]


@pytest.mark.parametrize(("mode", "ok", "title"), [
    ("apply", True, "Applied cluster demo"),
    ("apply", False, "Apply of demo failed"),
    ("destroy", True, "Destroyed cluster demo"),
    ("destroy", False, "Destroy of demo failed"),
    ("dry-run", True, "Dry run of demo done"),
])
async def test_title_says_how_the_run_ended(mode, ok, title) -> None:
    app = _app(lambda m: [RunStarted(mode=m, **START), RunFinished(mode=m, ok=ok, message="done" if ok else "boom")])
    async with app.run_test(size=SIZE) as pilot:
        console = await finished_run(pilot, app, mode)
        assert _title(console) == title
        assert "Applying" not in _title(console)


async def test_progress_never_goes_back() -> None:
    planned = [NodePlanned(node=f"demo-cp-{i}", role="control-plane", pool="cp", server_type="cpx22",
                           location="fsn1") for i in (1, 2)]
    script = [RunStarted(mode="apply", **START), *planned,
              NodePhaseChanged(node="demo-cp-1", phase="joined"), NodePhaseChanged(node="demo-cp-2", phase="joined")]

    async def never_ends(sink, confirm):
        for event in script:
            sink(event)
        await asyncio.Event().wait()

    app = KhzApp(None, RunOptions(sim=True), connect=connect, runner_factory=lambda m, p: never_ends)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
        app.start_run("apply", ClusterPlan(name="demo"))
        await pilot.pause()
        console = app.screen
        assert isinstance(console, RunConsole)
        console.flush()
        bar = console.query_one(ProgressPanel).query_one("#overall")
        before = bar.progress
        assert before > 80
        # A node found late (the engine's second look) would pull the average down.
        console.sink(NodePhaseChanged(node="demo-worker-9", phase="creating"))
        console.flush()
        assert bar.progress >= before
        assert "Applying" in _title(console)


async def test_destroy_lists_each_deleted_resource_and_counts_them() -> None:
    def script(mode):
        return [
            RunStarted(mode=mode, **START),
            NodePhaseChanged(node="demo-cp-1", phase="deleting"),
            ResourceDeleted(resource_type="server", name="demo-cp-1", id=41),
            NodePhaseChanged(node="demo-cp-1", phase="deleted"),
            ResourceDeleted(resource_type="server", name="demo-default-1", id=42),
            ResourceDeleted(resource_type="network", name="demo", id=7),
            RunFinished(mode=mode, ok=True, message="cluster demo is gone", nodes_total=8),
        ]

    app = _app(script)
    async with app.run_test(size=SIZE) as pilot:
        console = await finished_run(pilot, app, "destroy")
        log = "\n".join(_log(console))
        assert "deleted server demo-cp-1 (id 41)" in log
        assert "deleted server demo-default-1 (id 42)" in log
        assert "deleted network demo (id 7)" in log
        outcome = str(console.query_one(OutcomePanel).render())
        assert "nodes Ready" not in outcome
        assert "2 servers, 1 network deleted" in outcome
        table = console.query_one(NodeTable)
        assert table.nodes["demo-cp-1"].phase == "deleted"
        # A found server's row says what it was (from the plan), not blanks.
        row = table.nodes["demo-cp-1"]
        assert (row.role, row.server_type, row.location) == ("control-plane", "cpx22", "fsn1")
        assert "gone" in str(table.get_row("demo-cp-1"))


async def test_dry_run_lists_each_change_and_says_nothing_changed() -> None:
    def script(mode):
        return [RunStarted(mode=mode, **START),
                PlanDiffed(changes=[Change(action="create", resource_type="server", name="demo-cp-1", detail="cpx22")]),
                RunFinished(mode=mode, ok=True, message="1 to create")]

    app = _app(script)
    async with app.run_test(size=SIZE) as pilot:
        console = await finished_run(pilot, app, "dry-run")
        assert any("+ create server demo-cp-1 (cpx22)" in line for line in _log(console))
        outcome = str(console.query_one(OutcomePanel).render())
        assert "nothing was changed" in outcome and "nodes Ready" not in outcome


@pytest.mark.parametrize("ok", [True, False])
async def test_run_end_rings_the_bell_and_notifies(ok, monkeypatch) -> None:
    app = _app(lambda m: [RunStarted(mode=m, **START), RunFinished(mode=m, ok=ok, message="the end")])
    rings: list[int] = []
    monkeypatch.setattr(app, "bell", lambda: rings.append(1))
    async with app.run_test(size=SIZE) as pilot:
        console = await finished_run(pilot, app, "apply")
        console.flush()
        assert rings == [1]
        notes = [(n.title, n.severity) for n in app._notifications]
        assert (("Applied cluster demo", "information") if ok else ("Apply of demo failed", "error")) in notes
