"""Layout by width: 200 columns put fields side by side; the pools table shows Taints before what matters
less (issue 13, medium items)."""

from __future__ import annotations

from pathlib import Path

from khz_tui.plan.model import ClusterPlan
from khz_tui.plan.toml_io import save_plan
from khz_tui.ui.screens.topology import TopologyStep
from khz_tui.ui.widgets.pool_table import WorkerPoolTable


async def _topology(pilot) -> TopologyStep:
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()
    for _ in range(3):
        await pilot.press("escape")
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
    assert isinstance(pilot.app.screen, TopologyStep)
    return pilot.app.screen


def _plan(tmp_path: Path) -> Path:
    path = tmp_path / "web.toml"
    save_plan(ClusterPlan.model_validate({"name": "demo", "worker_pools": [{
        "name": "web", "server_type": "cpx32", "count": 2, "labels": {"role": "web"},
        "taints": ["dedicated=web:NoSchedule"]}]}), path)
    return path


async def test_200_columns_put_fields_side_by_side(make_app, tmp_path: Path) -> None:
    app = make_app(_plan(tmp_path))
    async with app.run_test(size=(200, 60)) as pilot:
        step = await _topology(pilot)
        name, location = (step.query_one(s).region for s in ("#name", "#location"))
        assert name.y == location.y and location.x > name.right, (name, location)
        table = step.query_one(WorkerPoolTable)
        assert table.region.height >= 2, "the pools table lost its rows"


async def test_the_pools_table_shows_taints_within_its_width(make_app, tmp_path: Path) -> None:
    app = make_app(_plan(tmp_path))
    async with app.run_test(size=(100, 32)) as pilot:
        step = await _topology(pilot)
        table = step.query_one(WorkerPoolTable)
        labels = [str(c.label) for c in table.columns.values()]
        through_taints = labels.index("Taints") + 1
        used = sum(c.get_render_width(table) for c in list(table.columns.values())[:through_taints])
        assert used <= table.scrollable_content_region.width, (used, table.scrollable_content_region.width)
