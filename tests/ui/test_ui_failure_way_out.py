"""A failure the wizard can fix leads there: `e` opens the field; `c` shows the command instead of claiming a copy."""

from __future__ import annotations

from pathlib import Path

from support.recorded_runs import recorded_runner_factory, scripted_runner

from khz_tui.engine.events import RunFinished
from khz_tui.engine.options import RunOptions
from khz_tui.launch.connect import connect
from khz_tui.plan.model import ClusterPlan
from khz_tui.plan.toml_io import save_plan
from khz_tui.ui.app import KhzApp
from khz_tui.ui.screens.credentials import CredentialsStep
from khz_tui.ui.screens.run_console import RunConsole

SIZE = (100, 32)


async def _settle(pilot) -> None:
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


def _plan(tmp_path: Path) -> Path:
    path = tmp_path / "demo.toml"
    save_plan(ClusterPlan(name="demo"), path)
    return path


async def test_a_missing_key_failure_leads_to_the_key_field(tmp_path: Path) -> None:
    refused = RunFinished(mode="apply", ok=False, message="~/.ssh/id_ed25519 cannot be read", failed_step="ssh-key",
                          bad_input=True, hint="pick another key or generate one")
    demo = recorded_runner_factory()
    app = KhzApp(_plan(tmp_path), RunOptions(sim=True), connect=connect,
                 runner_factory=lambda mode, plan: scripted_runner([refused]) if mode == "apply" else demo(mode, plan))
    async with app.run_test(size=SIZE) as pilot:
        await _settle(pilot)
        await pilot.press("a")
        await _settle(pilot)
        console = app.screen
        assert isinstance(console, RunConsole)
        console.flush()
        await pilot.pause()
        assert "e opens ssh.public_key in the wizard" in str(console.query_one("#outcome").render())
        await pilot.press("e")
        await _settle(pilot)
        assert isinstance(app.screen, CredentialsStep)
        assert app.focused is app.screen.query_one("#ssh-key")


async def test_c_shows_the_command_rather_than_claiming_a_copy(tmp_path: Path) -> None:
    app = KhzApp(_plan(tmp_path), RunOptions(sim=True), connect=connect, runner_factory=recorded_runner_factory())
    async with app.run_test(size=SIZE) as pilot:
        await _settle(pilot)
        await pilot.press("a")
        await _settle(pilot)
        app.screen.flush()
        await pilot.press("c")
        await pilot.pause()
        shown = [(n.title, n.message) for n in app._notifications]
        assert any("kubectl --kubeconfig" in m and "OSC 52" in t for t, m in shown), shown
        assert not any("Copied" in m for _t, m in shown)
