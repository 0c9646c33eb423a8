"""The banner of `--sim` says which simulated project is in use (the one `khz-tui sim reset` empties), in the
longest wording that fits the terminal."""

from __future__ import annotations

import pytest
from support.recorded_runs import recorded_runner_factory

from khz_tui.engine.options import RunOptions
from khz_tui.launch.connect import connect
from khz_tui.ui.app import KhzApp
from khz_tui.ui.widgets.sim_banner import SimBanner


@pytest.mark.parametrize("size", [(80, 24), (120, 40), (200, 60)])
async def test_banner_names_the_simulated_project(size) -> None:
    app = KhzApp(None, RunOptions(sim=True), connect=connect, runner_factory=recorded_runner_factory())
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        text = str(app.screen.query_one(SimBanner).render())
        assert text.startswith("SIMULATED CLOUD")
        assert "project ~/data/khz-tui/simulated" in text  # the test's HOME holds XDG_DATA_HOME=~/data
        assert len(text) <= size[0]
        if size[0] >= 120:
            assert "nothing is billed" in text
