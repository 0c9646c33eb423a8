"""Focus starts where the typing goes: on each wizard step's first field and in the pool and volume editors,
never on the scroll container around them (keys typed there were lost)."""

from __future__ import annotations

import pytest
from textual.widgets import Input

from khz_tui.ui.dialogs.pool_editor import PoolDialog
from khz_tui.ui.dialogs.volume_editor import VolumeDialog
from khz_tui.ui.widgets.plan_field import PlanField
from khz_tui.ui.widgets.pool_table import WorkerPoolTable

SIZE = (100, 32)


@pytest.mark.parametrize(("presses", "first"), [(1, "name"), (2, None), (3, "csi")],
                         ids=["topology", "networking", "storage"])
async def test_each_step_starts_on_its_first_field(make_app, presses, first) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        for _ in range(presses):
            await pilot.press("ctrl+n")
            await pilot.app.workers.wait_for_complete()
            await pilot.pause()
        focused = app.focused
        assert focused is not None and isinstance(focused.parent, PlanField), focused  # a field, not the form
        assert focused.id == (first or focused.id)
        if first == "name":  # typed keys reach the field
            await pilot.press("end", "x")
            assert app.screen.query_one("#name", Input).value.endswith("x")


async def test_pool_and_volume_editors_start_on_their_first_field(make_app) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+n")
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
        app.screen.query_one(WorkerPoolTable).focus()
        await pilot.press("a")
        await pilot.pause()
        assert isinstance(app.screen, PoolDialog)
        assert app.focused is app.screen.query_one("#pool-name", Input)
        await pilot.press("escape")
        await pilot.press("ctrl+n", "ctrl+n")
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
        app.screen.query_one("#volumes").focus()
        await pilot.press("a")
        await pilot.pause()
        assert isinstance(app.screen, VolumeDialog)
        assert app.focused is app.screen.query_one("#volume-name", Input)
