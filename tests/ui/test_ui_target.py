"""Every wizard screen and the destroy dialog say which project or endpoint would change; destroy asks once,
with what exists, the cost it saves and where (issue 13, medium items)."""

from __future__ import annotations

from pathlib import Path

from support.recorded_runs import recorded_runner_factory
from textual.widgets import Static

from khz_tui.engine.options import RunOptions
from khz_tui.launch.connect import connect
from khz_tui.plan.model import ClusterPlan
from khz_tui.plan.toml_io import save_plan
from khz_tui.ui.app import KhzApp
from khz_tui.ui.dialogs.confirm import ConfirmDialog
from khz_tui.ui.dialogs.destroy_confirm import DestroyDialog
from khz_tui.ui.screens.review import ReviewScreen
from khz_tui.ui.screens.run_console import RunConsole
from khz_tui.ui.widgets.target_line import TargetLine

SIZE = (100, 32)
ENDPOINT = "http://127.0.0.1:8099/v1"


async def _settle(pilot) -> None:
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


def _plan(tmp_path: Path) -> Path:
    path = tmp_path / "demo.toml"
    save_plan(ClusterPlan(name="demo"), path)
    return path


async def test_every_step_names_an_endpoint_and_never_calls_it_hetzner(monkeypatch) -> None:
    monkeypatch.setenv("HCLOUD_TOKEN", "t" * 64)
    app = KhzApp(None, RunOptions(endpoint=ENDPOINT), connect=connect, runner_factory=recorded_runner_factory())
    async with app.run_test(size=SIZE) as pilot:
        for _ in range(5):
            await _settle(pilot)
            line = str(app.screen.query_one(TargetLine).render())
            assert f"the API at {ENDPOINT}" in line and "Hetzner" not in line, (app.screen, line)
            await pilot.press("ctrl+n")
        assert isinstance(app.screen, ReviewScreen)


async def test_hetzner_says_where_the_token_comes_from(monkeypatch) -> None:
    monkeypatch.setenv("HCLOUD_TOKEN", "t" * 64)
    app = KhzApp(None, RunOptions(), connect=connect, runner_factory=recorded_runner_factory())
    async with app.run_test(size=SIZE) as pilot:
        await _settle(pilot)
        assert "Hetzner Cloud · project of the token in $HCLOUD_TOKEN" in str(app.screen.query_one(TargetLine).render())


async def test_verify_names_the_simulator_that_answered(make_app) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await _settle(pilot)
        await pilot.press("ctrl+r")
        await _settle(pilot)
        result = str(app.screen.query_one("#verify-result", Static).render())
        assert "simulator at http://127.0.0.1:8080/v1" in result and "Hetzner" not in result, result


async def test_destroy_asks_once_with_inventory_cost_and_target(make_app, tmp_path: Path) -> None:
    app = make_app(_plan(tmp_path))
    async with app.run_test(size=SIZE) as pilot:
        await _settle(pilot)
        await pilot.press("D")
        await _settle(pilot)
        dialog = app.screen
        assert isinstance(dialog, DestroyDialog)
        text = " ".join(str(s.render()) for s in dialog.query(Static))
        assert "5 servers, 1 load balancers" in text, text
        assert "Saves up to 59.84 EUR per month" in text, text
        assert "the simulated project ~/data/khz-tui/simulated" in text and "Hetzner" not in text, text
        await pilot.press(*"demo", "enter")
        await _settle(pilot)
        assert not any(isinstance(s, ConfirmDialog) for s in app.screen_stack), "asked a second time"
        console = app.screen
        assert isinstance(console, RunConsole) and console.mode == "destroy"
        assert console.finished is not None and console.finished.ok, console.finished


async def test_destroy_against_an_endpoint_does_not_say_hetzner(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HCLOUD_TOKEN", "t" * 64)
    app = KhzApp(_plan(tmp_path), RunOptions(endpoint=ENDPOINT), connect=connect, runner_factory=recorded_runner_factory())
    async with app.run_test(size=SIZE) as pilot:
        await _settle(pilot)
        await pilot.press("D")
        await _settle(pilot)
        text = " ".join(str(s.render()) for s in app.screen.query(Static))
        assert f"in the project behind {ENDPOINT}" in text and "Hetzner" not in text, text
