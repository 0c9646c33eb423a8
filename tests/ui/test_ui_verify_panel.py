"""The run console shows verify's checks (the end of every apply): ✓/✗ per check with what was found,
and for a failure what to do; the cursor goes to the node a failed check names."""

from __future__ import annotations

from support.recorded_runs import scripted_runner
from support.run_console import finished_run

from khz_tui.engine.events import (
    NodePlanned,
    RunFinished,
    RunStarted,
    VerifyCheckFinished,
    VerifyFinished,
)
from khz_tui.engine.options import RunOptions
from khz_tui.launch.connect import connect
from khz_tui.ui.app import KhzApp
from khz_tui.ui.widgets.node_table import NodeTable
from khz_tui.ui.widgets.verify_panel import VerifyPanel

SIZE = (100, 40)


def _app() -> KhzApp:
    def factory(mode, plan):
        return scripted_runner([
            RunStarted(cluster=plan.name, mode=mode, endpoint="http://127.0.0.1:9/v1", simulated=True, node_count=2),
            NodePlanned(node="demo-cp-1", role="control-plane", pool="cp", server_type="cpx22", location="fsn1"),
            NodePlanned(node="demo-default-1", role="worker", pool="default", server_type="cpx32", location="fsn1"),
            VerifyCheckFinished(check="nodes", title="Nodes", ok=False, status="fail",
                                detail="demo-default-1 is not Ready: its server is off at Hetzner",
                                hint="power it on (hcloud server poweron demo-default-1) and apply again",
                                nodes=["demo-default-1"]),
            VerifyCheckFinished(check="dns", title="DNS", ok=True, status="pass", detail="resolves from 1 node"),
            VerifyFinished(ok=False, deep=False, passed=1, failed=1, skipped=0, failed_checks=["nodes"]),
            RunFinished(mode=mode, ok=False, message="1 check failed", failed_step="verify"),
        ])

    return KhzApp(None, RunOptions(sim=True), connect=connect, runner_factory=factory)


async def test_verify_checks_are_shown_and_the_failed_node_is_selected() -> None:
    app = _app()
    async with app.run_test(size=SIZE) as pilot:
        console = await finished_run(pilot, app)
        panel = console.query_one(VerifyPanel)
        assert panel.has_class("-shown") and panel.has_class("-failed")
        shown = str(panel.render())
        assert "1 passed, 1 failed" in shown and "✗ Nodes" in shown and "✓ DNS" in shown
        assert "what to do: power it on" in shown
        table = console.query_one(NodeTable)
        assert table.cursor_row == table.get_row_index("demo-default-1")
