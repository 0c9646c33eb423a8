"""The run console: scripted streams end in success or failure panels; replay opens Review or the error screen;
destroy needs the typed name; a real apply on the simulator ends with every node Ready."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import Button, Input, Log

from khz_tui.engine.options import RunOptions
from khz_tui.launch.connect import connect
from khz_tui.plan.model import ClusterPlan
from khz_tui.plan.toml_io import save_plan
from khz_tui.ui.app import KhzApp
from khz_tui.ui.dialogs.destroy_confirm import DestroyDialog
from khz_tui.ui.screens.plan_error import PlanErrorScreen
from khz_tui.ui.screens.review import ReviewScreen
from khz_tui.ui.screens.run_console import RunConsole
from khz_tui.ui.screens.topology import TopologyStep
from khz_tui.ui.widgets.log_pane import LogPane
from khz_tui.ui.widgets.node_table import NodeTable
from khz_tui.ui.widgets.outcome_panel import OutcomePanel

SIZE = (100, 32)


def _plan_file(tmp_path: Path, name: str = "demo", **changes) -> Path:
    plan = ClusterPlan(name=name)
    for key, value in changes.items():
        setattr(plan, key, value)
    path = tmp_path / f"{name}.toml"
    save_plan(plan, path)
    return path


async def _finish(pilot) -> RunConsole:
    await pilot.app.workers.wait_for_complete()
    console = pilot.app.screen
    assert isinstance(console, RunConsole)
    console.flush()
    await pilot.pause()
    return console


def _footer_actions(screen) -> set[str]:
    """The names of the actions the footer offers (Textual has already asked check_action)."""
    return {b.binding.action.split("(")[0] for b in screen.active_bindings.values() if b.enabled}


async def test_replay_opens_review_and_apply_shows_every_node_ready(make_app, tmp_path: Path) -> None:
    app = make_app(_plan_file(tmp_path))
    async with app.run_test(size=SIZE) as pilot:
        assert isinstance(app.screen, ReviewScreen)
        await pilot.press("a")
        console = await _finish(pilot)
        table = console.query_one(NodeTable)
        assert [r.phase for r in table.nodes.values()] == ["ready"] * 5
        assert console.finished is not None and console.finished.ok
        outcome = str(console.query_one(OutcomePanel).render())
        assert "kubectl --kubeconfig" in outcome and "5/5 nodes Ready" in outcome
        assert "copy_command" in _footer_actions(console)
        assert "retry" not in _footer_actions(console)


async def test_failure_shows_step_message_hint_and_retry_destroy(make_app, tmp_path: Path) -> None:
    app = make_app(_plan_file(tmp_path), apply="apply-node-unreachable")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("a")
        console = await _finish(pilot)
        outcome = str(console.query_one(OutcomePanel).render())
        assert "failed at step cluster" in outcome
        assert "demo-default-1" in outcome and "did not accept SSH" in outcome
        assert "Hint:" in outcome
        assert {"retry", "destroy"} <= _footer_actions(console)
        assert console.query_one(NodeTable).nodes["demo-default-1"].phase == "failed"


async def test_node_row_filters_the_log_and_search_narrows_it(make_app, tmp_path: Path) -> None:
    app = make_app(_plan_file(tmp_path))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("a")
        console = await _finish(pilot)
        log = console.query_one(Log)
        everything = log.line_count
        console.query_one(NodeTable).focus()
        await pilot.press("down", "enter")
        assert console.query_one(LogPane).node == "demo-cp-2"
        assert 0 < log.line_count < everything
        assert all("demo-cp-2" in line for line in log.lines)
        await pilot.press("l", "slash")
        await pilot.press(*"systemd")
        await pilot.pause()
        assert 0 < log.line_count < everything and all("systemd" in line for line in log.lines)


async def test_destroy_needs_the_typed_cluster_name(make_app, tmp_path: Path) -> None:
    app = make_app(_plan_file(tmp_path))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("D")
        dialog = app.screen
        assert isinstance(dialog, DestroyDialog)
        destroy = dialog.query_one("#destroy", Button)
        await pilot.press(*"dem", "enter")
        assert app.screen is dialog and destroy.disabled, "a wrong name must not destroy"
        await pilot.press("o")
        assert not destroy.disabled
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, RunConsole) and app.screen.mode == "destroy"


async def test_cancel_asks_first(make_app, tmp_path: Path) -> None:
    app = make_app(_plan_file(tmp_path))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("a")
        console = await _finish(pilot)
        assert not console.running
        await pilot.press("escape")
        assert isinstance(app.screen, ReviewScreen), "a finished run leaves without asking"


async def test_invalid_plan_lists_every_problem_and_leads_into_the_wizard(make_app, tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('schema_version = 1\nname = "Bad_Name"\n\n[control_plane]\ncount = 2\n')
    app = make_app(path)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        assert isinstance(screen, PlanErrorScreen)
        paths = {p.path for p in screen.problems}
        assert {"name", "control_plane.count"} <= paths
        await pilot.press("w")
        await pilot.pause()
        # Straight to the first problem's field, the cursor in it.
        assert isinstance(app.screen, TopologyStep)
        assert app.focused is app.screen.query_one("#name", Input)
        assert app.screen.query_one("#name", Input).value == "Bad_Name"
        assert app.screen.query_one("#name").parent.has_class("-error")


async def test_palette_offers_the_plan_commands(make_app) -> None:
    from khz_tui.ui.command_palette import PLAN_COMMANDS

    names = {name for name, _help, _action in PLAN_COMMANDS}
    assert {"Save plan", "Apply", "Dry-run", "Destroy", "Toggle light/dark theme"} <= names
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        dark = app.current_theme.dark
        await pilot.press("ctrl+p")
        await pilot.press(*"toggle light")
        from textual.command import CommandList

        # The palette searches in a worker: wait (bounded) for its hit instead of a fixed pause.
        for _ in range(100):
            await pilot.pause(0.05)
            hits = app.screen.query(CommandList)
            if hits and hits.first().option_count > 0:
                break
        assert hits and hits.first().option_count > 0, "the palette found no command for 'toggle light'"
        await pilot.press("enter")
        await pilot.pause()
        assert app.current_theme.dark is not dark


@pytest.mark.slow
async def test_replay_apply_on_the_simulator_ends_with_every_node_ready(tmp_path: Path, home: Path) -> None:
    """The real engine against the in-process simulator (--sim), through the run console."""
    import asyncssh

    key = asyncssh.generate_private_key("ssh-ed25519")
    (home / ".ssh" / "id_ed25519").write_bytes(key.export_private_key("openssh"))
    (home / ".ssh" / "id_ed25519").chmod(0o600)
    (home / ".ssh" / "id_ed25519.pub").write_bytes(key.export_public_key("openssh"))
    plan = ClusterPlan(name="replay")
    plan.control_plane.count = 1
    plan.load_balancer.enabled = False
    plan.worker_pools[0].count = 1
    path = tmp_path / "replay.toml"
    save_plan(plan, path)
    app = KhzApp(path, RunOptions(sim=True), connect=connect)
    async with app.run_test(size=SIZE) as pilot:
        assert isinstance(app.screen, ReviewScreen)
        await pilot.press("a")
        console = app.screen
        assert isinstance(console, RunConsole)
        for _ in range(1200):
            await pilot.pause(0.1)
            if console.finished is not None:
                break
        console.flush()
        assert console.finished is not None, "the run did not finish within two minutes"
        assert console.finished.ok, (console.finished.failed_step, console.finished.message)
        phases = {name: row.phase for name, row in console.query_one(NodeTable).nodes.items()}
        assert phases == {"replay-cp-1": "ready", "replay-default-1": "ready"}


def test_log_columns_stay_aligned_at_any_elapsed_time() -> None:
    from khz_tui.ui.widgets.log_pane import NODE_WIDTH, clock, fit, log_line

    lines = [log_line(t, node, "booting: ok") for t, node in
             [(0.0, None), (9.3, "demo-default-1"), (10.0, "demo-default-2"), (3599.9, "demo-cp-1"),
              (3725.4, "demo-cp-2"), (35_999.0, "a-cluster-with-a-very-long-name-default-12")]]
    assert {line.index("booting") for line in lines} == {8 + NODE_WIDTH + 1}
    assert [clock(t) for t in (9.34, 10, 3599.94, 3599.96, 3725.4)] == [
        "00:09.3", "00:10.0", "59:59.9", "1:00:00", "1:02:05"]
    assert fit("a-cluster-with-a-very-long-name-default-12", NODE_WIDTH).endswith("default-12")


async def test_worker_pools_are_reached_by_keyboard_at_80x24(make_app) -> None:
    # At 80x24 the pool table starts below the fold: tabbing to it scrolls it into view.
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("ctrl+n")
        await pilot.pause()
        form = app.screen.query_one("#form")
        pools = app.screen.query_one("#pools")
        assert not form.region.contains_region(pools.region), "the table should start below the fold"
        for _ in range(10):
            if app.focused is pools:
                break
            await pilot.press("tab")
        assert app.focused is pools
        await pilot.pause()
        assert form.region.intersection(pools.region).height >= 3, "its header and first pool are shown"
