"""`i` in the run console opens the highlighted node up close: its phases with times, its own log lines,
and ssh, kubectl and hcloud commands for it; c copies the highlighted command and shows it; escape closes."""

from __future__ import annotations

from pathlib import Path

from support.recorded_runs import recorded_events
from textual.widgets import Log, OptionList

from khz_tui.engine.events import NodePhaseChanged
from khz_tui.plan.model import ClusterPlan
from khz_tui.plan.toml_io import save_plan
from khz_tui.ui.dialogs.node_inspect import NodeInspect
from khz_tui.ui.run_history import cluster_state_dir
from khz_tui.ui.screens.run_console import RunConsole
from khz_tui.ui.widgets.node_table import NodeTable

SIZE = (100, 32)


def _plan_file(tmp_path: Path) -> Path:
    path = tmp_path / "demo.toml"
    save_plan(ClusterPlan(name="demo"), path)
    return path


async def test_inspect_shows_the_nodes_history_log_and_commands(make_app, tmp_path: Path) -> None:
    app = make_app(_plan_file(tmp_path), apply="apply-node-unreachable")
    address = next(e.public_ip for e in recorded_events("apply-node-unreachable")
                   if isinstance(e, NodePhaseChanged) and e.node == "demo-default-1" and e.public_ip)
    copied: list[str] = []
    app.copy_to_clipboard = copied.append  # what OSC 52 would carry
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("a")
        await pilot.app.workers.wait_for_complete()
        console = app.screen
        assert isinstance(console, RunConsole)
        console.flush()
        await pilot.pause()
        table = console.query_one(NodeTable)
        assert table.cursor_row == table.get_row_index("demo-default-1")  # the failed node
        await pilot.press("i")
        await pilot.pause()
        dialog = app.screen
        assert isinstance(dialog, NodeInspect)
        phases = str(dialog.query_one("#node-phases").render())
        assert "creating" in phases and "failed" in phases and "did not accept SSH" in phases
        log_lines = dialog.query_one(Log).lines
        assert log_lines and all("demo-default-1" in line for line in log_lines)
        commands = dialog.commands
        assert commands[0] == f"ssh -i ~/.ssh/id_ed25519 -p 22 root@{address}"  # no known_hosts file: no pin
        state = cluster_state_dir("demo", simulated=True)
        assert commands[1] == f"kubectl --kubeconfig {state / 'kubeconfig'} describe node demo-default-1"
        assert commands[2] == "hcloud server describe demo-default-1"
        dialog.query_one(OptionList).highlighted = 2
        await pilot.press("c")
        await pilot.pause()
        assert copied == ["hcloud server describe demo-default-1"]
        assert any(n.message == "hcloud server describe demo-default-1" for n in app._notifications)
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is console


async def test_ssh_pins_the_host_key_only_where_a_known_hosts_file_exists(make_app, tmp_path: Path) -> None:
    from khz_tui.engine.run_view import NodeView
    from khz_tui.ui.dialogs.node_inspect import node_commands

    row = NodeView("demo-cp-1", "control-plane", "control-plane", "cpx22", "fsn1", public_ip="127.1.0.5")
    plan = ClusterPlan(name="demo")
    state = tmp_path / "state"
    state.mkdir()
    assert "UserKnownHostsFile" not in node_commands(row, plan, state, None)[0]
    (state / "known_hosts").write_text("127.1.0.5 ssh-ed25519 AAAA\n")
    assert node_commands(row, plan, state, "/k/config")[0] == (
        f"ssh -i ~/.ssh/id_ed25519 -p 22 -o UserKnownHostsFile={state / 'known_hosts'} root@127.1.0.5")
    assert node_commands(row, plan, state, "/k/config")[1] == "kubectl --kubeconfig /k/config describe node demo-cp-1"
