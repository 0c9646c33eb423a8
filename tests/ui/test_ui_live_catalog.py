"""After Verify, the wizard checks the plan against what the cloud sells today (issue 9, finding 10),
not the snapshot bundled with khz-tui; and the engine reads that catalog from a real (simulated) API."""

from __future__ import annotations

import dataclasses

from support.recorded_runs import recorded_runner_factory
from textual.widgets import Static

from khz_tui.engine.api import read_catalog
from khz_tui.engine.options import RunOptions
from khz_tui.launch.connect import connect
from khz_tui.plan.catalog import Catalog, bundled_catalog
from khz_tui.plan.model import ClusterPlan
from khz_tui.sim.simulator import Simulator, recording_node_host
from khz_tui.ui.app import KhzApp

SIZE = (100, 32)


async def test_after_verify_the_plan_is_checked_against_what_the_cloud_sells() -> None:
    bundled = bundled_catalog()
    # The cloud has stopped selling the plan's default control-plane type (as Hetzner did with CX Gen2).
    offered = dataclasses.replace(bundled, server_types={k: v for k, v in bundled.server_types.items() if k != "cpx22"})
    asked: list[ClusterPlan] = []

    async def reader(plan: ClusterPlan) -> Catalog:
        asked.append(plan)
        return offered

    app = KhzApp(None, RunOptions(sim=True), connect=connect, runner_factory=recorded_runner_factory(), catalog_reader=reader)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
        assert not [p for p in app.draft.problems if p.path == "control_plane.server_type"]
        await pilot.press("ctrl+r")
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
        assert len(asked) == 1
        assert "catalog read from the API" in str(app.screen.query_one("#verify-result", Static).render())
        assert [p for p in app.draft.problems if p.path == "control_plane.server_type" and p.severity == "error"]


async def test_the_engine_reads_the_catalog_of_the_target() -> None:
    async with Simulator(time_scale=0.02, node_host_factory=recording_node_host) as sim:
        catalog = await read_catalog(ClusterPlan(name="demo"), RunOptions(endpoint=sim.endpoint), connect, token=sim.token)
    assert "cpx22" in catalog.server_types and catalog.location("fsn1") is not None
