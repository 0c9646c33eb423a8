"""The pool and volume editors check as fields change and keep nothing wrong; `x` can be undone with `u`;
problems name pools by name (issue 13, medium and low items)."""

from __future__ import annotations

from textual.widgets import Input

from khz_tui.ui.dialogs.pool_editor import PoolDialog
from khz_tui.ui.dialogs.volume_editor import VolumeDialog
from khz_tui.ui.screens.topology import TopologyStep
from khz_tui.ui.widgets.plan_field import PlanField
from khz_tui.ui.widgets.pool_table import WorkerPoolTable

SIZE = (100, 32)


async def _settle(pilot) -> None:
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


async def _type(pilot, selector: str, text: str) -> None:
    field = pilot.app.screen.query_one(selector, Input)
    field.value = ""
    field.focus()
    await pilot.press(*text)
    await pilot.pause()


def _field(screen, selector: str) -> PlanField:
    parent = screen.query_one(selector).parent
    assert isinstance(parent, PlanField)
    return parent


async def test_pool_editor_checks_as_you_type_and_keeps_nothing_wrong(make_app) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+n")
        await _settle(pilot)
        app.screen.query_one(WorkerPoolTable).focus()
        await pilot.press("a")
        await pilot.pause()
        dialog = app.screen
        assert isinstance(dialog, PoolDialog)
        await _type(pilot, "#pool-name", "default")  # the first pool's name
        name = _field(dialog, "#pool-name")
        assert name.has_class("-error"), "a taken name is shown before Keep"
        assert "already used" in str(name.query_one(".field-problem").render())
        await _type(pilot, "#pool-count", "x")
        assert _field(dialog, "#pool-count").has_class("-error")
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert app.screen is dialog, "Keep took an entry with errors"
        await _type(pilot, "#pool-name", "gpu")
        await _type(pilot, "#pool-count", "1")
        assert not name.has_class("-error")
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert isinstance(app.screen, TopologyStep)
        assert [p["name"] for p in app.draft.get("worker_pools")] == ["default", "gpu"]


async def test_volume_editor_checks_as_you_type(make_app) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        for _ in range(3):
            await pilot.press("ctrl+n")
            await _settle(pilot)
        app.screen.query_one("#volumes").focus()
        await pilot.press("a")
        await pilot.pause()
        assert isinstance(app.screen, VolumeDialog)
        await _type(pilot, "#volume-size", "0")
        assert _field(app.screen, "#volume-size").has_class("-error")


async def test_removing_a_pool_can_be_undone(make_app) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+n")
        await _settle(pilot)
        table = app.screen.query_one(WorkerPoolTable)
        table.focus()
        before = list(table.rows_data)
        await pilot.press("x")
        await pilot.pause()
        assert table.rows_data == [] and app.draft.get("worker_pools") == []
        await pilot.press("u")
        await pilot.pause()
        assert table.rows_data == before and app.draft.get("worker_pools") == before


async def test_a_pools_problem_names_the_pool(make_app) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+n")
        await _settle(pilot)
        table = app.screen.query_one(WorkerPoolTable)
        table.set_rows([*table.rows_data, {"name": "web", "server_type": "cpx32", "count": 2,
                                           "labels": {"kubernetes.io/role": "x"}, "taints": []}])
        table.post_message(WorkerPoolTable.RowsChanged(table))
        await _settle(pilot)
        shown = str(app.screen.query_one("#pools").parent.query_one(".field-problem").render())
        assert 'pool "web" labels:' in shown and "worker_pools[1]" not in shown, shown
