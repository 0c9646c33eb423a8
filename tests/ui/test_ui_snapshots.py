"""SVG snapshots of every screen at a fixed size, with fixed data and recorded engine runs (no clocks)."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.recorded_runs import mid_run_runner, recorded_runner_factory

from khz_tui.engine.options import RunOptions
from khz_tui.launch.connect import connect
from khz_tui.plan.model import ClusterPlan
from khz_tui.plan.toml_io import save_plan
from khz_tui.ui.app import KhzApp

SIZE = (100, 32)
#: The sizes every wizard step and the review are checked at: a small terminal, a usual one, a wide one.
SIZES = [(80, 24), (120, 40), (200, 60)]
SIZE_IDS = ["80x24", "120x40", "200x60"]


def _app(plan_path: Path | None = None) -> KhzApp:
    return KhzApp(plan_path, RunOptions(sim=True), connect=connect, runner_factory=recorded_runner_factory())


def _plan(tmp_path: Path) -> Path:
    path = tmp_path / "demo.toml"
    save_plan(ClusterPlan(name="demo"), path)
    return path


async def _settle(pilot) -> None:
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


@pytest.mark.parametrize("presses", [0, 1, 2, 3], ids=["credentials", "topology", "networking", "storage"])
def test_wizard_step(snap_compare, presses: int) -> None:
    async def walk(pilot) -> None:
        for _ in range(presses):
            await pilot.press("ctrl+n")
        await _settle(pilot)

    assert snap_compare(_app(), run_before=walk, terminal_size=SIZE)


def test_review(snap_compare, tmp_path: Path) -> None:
    assert snap_compare(_app(_plan(tmp_path)), run_before=_settle, terminal_size=SIZE)


def test_run_console_mid_run(snap_compare, tmp_path: Path) -> None:
    app = KhzApp(_plan(tmp_path), RunOptions(sim=True), connect=connect, runner_factory=lambda mode, p: (
        mid_run_runner(p) if mode == "apply" else recorded_runner_factory()(mode, p)))

    async def apply(pilot) -> None:
        await _settle(pilot)
        await pilot.press("a")
        await pilot.pause()
        pilot.app.screen.flush()
        await pilot.pause()

    assert snap_compare(app, run_before=apply, terminal_size=SIZE)


def test_run_console_success(snap_compare, tmp_path: Path) -> None:
    async def apply(pilot) -> None:
        await _settle(pilot)
        await pilot.press("a")
        await _settle(pilot)
        pilot.app.screen.flush()
        pilot.app.clear_notifications()  # the end-of-run toast would cover the log
        await pilot.pause()

    assert snap_compare(_app(_plan(tmp_path)), run_before=apply, terminal_size=SIZE)


@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
@pytest.mark.parametrize("presses", [0, 1, 2, 3], ids=["credentials", "topology", "networking", "storage"])
def test_wizard_step_at_size(snap_compare, presses: int, size: tuple[int, int]) -> None:
    async def walk(pilot) -> None:
        for _ in range(presses):
            await pilot.press("ctrl+n")
            await _settle(pilot)
        await _settle(pilot)

    assert snap_compare(_app(), run_before=walk, terminal_size=size)


@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
def test_review_at_size(snap_compare, tmp_path: Path, size: tuple[int, int]) -> None:
    assert snap_compare(_app(_plan(tmp_path)), run_before=_settle, terminal_size=size)


@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
def test_destroy_dialog_at_size(snap_compare, tmp_path: Path, size: tuple[int, int]) -> None:
    async def destroy(pilot) -> None:
        await _settle(pilot)
        await pilot.press("D")
        await _settle(pilot)
        await pilot.press(*"dem")
        await pilot.pause()

    assert snap_compare(_app(_plan(tmp_path)), run_before=destroy, terminal_size=size)


def test_plan_error(snap_compare, tmp_path: Path) -> None:
    path = Path("bad.toml")  # relative: the title shows it, and the test runs in tmp_path
    path.write_text('schema_version = 1\nname = "Bad_Name"\n\n[control_plane]\ncount = 2\n\n'
                    '[[worker_pools]]\nname = "web"\ntaints = ["oops"]\n')
    assert snap_compare(_app(path), run_before=_settle, terminal_size=SIZE)


def test_light_theme_topology(snap_compare) -> None:
    async def walk(pilot) -> None:
        await pilot.press("ctrl+t", "ctrl+n")
        await _settle(pilot)

    assert snap_compare(_app(), run_before=walk, terminal_size=(80, 24))
