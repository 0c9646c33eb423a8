"""The wizard: a full walk saves the expected plan; problems show beside fields and block Next; Back keeps values."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Input, Select

from khz_tui.plan.model import ClusterPlan, WorkerPool
from khz_tui.plan.toml_io import dumps_plan, load_plan
from khz_tui.ui.dialogs.pool_editor import PoolDialog
from khz_tui.ui.dialogs.save_plan import SavePlanDialog
from khz_tui.ui.screens.credentials import CredentialsStep
from khz_tui.ui.screens.networking import NetworkingStep
from khz_tui.ui.screens.review import ReviewScreen
from khz_tui.ui.screens.storage import StorageStep
from khz_tui.ui.screens.topology import TopologyStep
from khz_tui.ui.widgets.plan_field import PlanField

SIZE = (100, 32)


async def _type(pilot, selector: str, text: str) -> None:
    field = pilot.app.screen.query_one(selector, Input)
    field.value = ""
    field.focus()
    await pilot.press(*text)


async def test_full_walk_saves_the_expected_plan(make_app, tmp_path: Path) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        assert isinstance(app.screen, CredentialsStep)
        await pilot.press("ctrl+n")
        assert isinstance(app.screen, TopologyStep)
        await _type(pilot, "#name", "shop")
        app.screen.query_one("#cp-type", Select).value = "cpx32"
        await pilot.pause()
        app.screen.query_one("#pools").focus()
        await pilot.press("a")
        assert isinstance(app.screen, PoolDialog)
        await _type(pilot, "#pool-name", "gpu")
        await _type(pilot, "#pool-count", "1")
        await _type(pilot, "#pool-labels", "role=gpu")
        await _type(pilot, "#pool-taints", "gpu=true:NoSchedule")
        await pilot.press("ctrl+s")
        assert isinstance(app.screen, TopologyStep)
        await pilot.press("ctrl+n")
        assert isinstance(app.screen, NetworkingStep)
        await _type(pilot, "#ssh-cidrs", "198.51.100.0/24")
        await pilot.press("ctrl+n")
        assert isinstance(app.screen, StorageStep)
        await pilot.press("ctrl+n")
        assert isinstance(app.screen, ReviewScreen)
        await pilot.press("ctrl+s")
        assert isinstance(app.screen, SavePlanDialog)
        assert app.screen.query_one("#save-path", Input).value == "shop.toml"
        await pilot.press("enter")
        await pilot.pause()

    expected = ClusterPlan(name="shop")
    expected.control_plane.server_type = "cpx32"
    expected.ssh.allowed_cidrs = ["198.51.100.0/24"]
    expected.worker_pools = [
        WorkerPool(name="default"),
        WorkerPool(name="gpu", count=1, labels={"role": "gpu"}, taints=["gpu=true:NoSchedule"]),
    ]
    saved = (tmp_path / "shop.toml").read_text()
    assert saved == dumps_plan(expected)
    assert load_plan(tmp_path / "shop.toml") == expected


async def test_problem_shows_beside_the_field_and_blocks_next(make_app) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+n")
        await _type(pilot, "#name", "Bad_Name")
        await pilot.press("ctrl+n")
        assert isinstance(app.screen, TopologyStep), "Next must be refused while the name is invalid"
        field = app.screen.query_one("#name").parent
        assert isinstance(field, PlanField) and field.has_class("-error")
        assert "lowercase letters" in str(field.query_one(".field-problem").render())
        await _type(pilot, "#name", "good-name")
        await pilot.press("ctrl+n")
        assert isinstance(app.screen, NetworkingStep)


async def test_network_problem_and_open_world_warning(make_app) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+n", "ctrl+n")
        assert isinstance(app.screen, NetworkingStep)
        await _type(pilot, "#subnet", "192.168.0.0/24")
        await _type(pilot, "#api-cidrs", "0.0.0.0/0")
        await pilot.pause()
        subnet_field = app.screen.query_one("#subnet").parent
        assert subnet_field.has_class("-error")
        assert "outside ip_range" in str(subnet_field.query_one(".field-problem").render())
        api_field = app.screen.query_one("#api-cidrs").parent
        assert api_field.has_class("-warning")
        assert "0.0.0.0/0" in str(app.screen.query_one("#open-world").render())
        await pilot.press("ctrl+n")
        assert isinstance(app.screen, NetworkingStep)


async def test_back_keeps_every_value(make_app) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+n")
        await _type(pilot, "#name", "kept")
        app.screen.query_one("#cp-count", Select).value = 5
        await pilot.press("ctrl+n")
        await _type(pilot, "#pod-cidr", "10.100.0.0/16")
        await pilot.press("escape")
        assert isinstance(app.screen, TopologyStep)
        assert app.screen.query_one("#name", Input).value == "kept"
        assert app.screen.query_one("#cp-count", Select).value == 5
        await pilot.press("ctrl+n")
        assert app.screen.query_one("#pod-cidr", Input).value == "10.100.0.0/16"


async def test_typed_token_is_masked_saved_0600_and_never_in_the_plan(make_app, home: Path, tmp_path: Path) -> None:
    token = "T" * 64
    app = make_app(sim=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+n")
        assert isinstance(app.screen, CredentialsStep), "no token yet: Next is refused outside --sim"
        field = app.screen.query_one("#token", Input)
        assert field.password
        field.focus()
        await pilot.press(*token[:8])
        field.value = token
        app.screen.query_one("#save-token").value = True
        await pilot.pause()
        assert token not in app.export_screenshot()
        await pilot.press("ctrl+n")
        assert isinstance(app.screen, TopologyStep)
        assert token not in str(app.draft.data)
    saved = home / "config" / "khz-tui" / "token"
    assert saved.read_text().strip() == token
    assert oct(saved.stat().st_mode)[-3:] == "600"
