"""The wizard: a full walk saves the expected plan; problems show beside fields and block Next; Back keeps values."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from textual.widgets import Input, RadioButton, RadioSet, Select

from khz_tui.engine.credentials import save_token
from khz_tui.plan.defaults import PRIVATE_KEY, PUBLIC_KEY, TOKEN_ENV
from khz_tui.plan.model import ClusterPlan, WorkerPool
from khz_tui.plan.toml_io import dumps_plan, load_plan
from khz_tui.ui.dialogs.pool_editor import PoolDialog
from khz_tui.ui.dialogs.save_plan import SavePlanDialog
from khz_tui.ui.draft import PlanDraft, field_help
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


async def test_saved_token_is_offered_unless_the_variable_is_set(make_app, monkeypatch) -> None:
    # The wizard offers sources in the engine's order: the variable first, then the saved token.
    token = "S" * 64
    save_token(token)
    app = make_app(sim=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert app.screen.query_one("#paste").value
        assert app.screen.query_one("#token", Input).value == token
        assert token not in app.export_screenshot()
    monkeypatch.setenv("HCLOUD_TOKEN", "from-the-shell")
    app = make_app(sim=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert app.screen.query_one("#env").value
        assert app.token is None


def test_first_screen_loads_without_the_plan_model() -> None:
    # Start-up speed depends on it: the plan package, the engine's events and the review's syntax
    # highlighter load after the first frame (see app.py), so none may be imported on the way to it.
    heavy = ("pydantic", "khz_tui.plan.model", "khz_tui.plan.checks", "khz_tui.engine.events", "rich.syntax")
    code = ("import sys, khz_tui.ui.app, khz_tui.ui.screens.credentials; "
            f"print([m for m in {heavy!r} if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_first_screen_shows_the_plans_own_defaults() -> None:
    plan = ClusterPlan(name="x")
    assert (plan.hcloud.token_env, plan.ssh.public_key, plan.ssh.private_key) == (TOKEN_ENV, PUBLIC_KEY, PRIVATE_KEY)


def test_a_new_draft_gets_the_defaults_under_what_was_typed_first() -> None:
    draft = PlanDraft.new()
    assert not draft.ready and draft.plan is None and draft.get("control_plane.count", "?") == "?"
    draft.update({"hcloud.token_env": "MY_TOKEN", "name": "early"})
    assert not draft.ready
    draft.complete()
    assert draft.ready and draft.plan is not None
    assert draft.plan.hcloud.token_env == "MY_TOKEN" and draft.plan.name == "early"
    assert draft.get("control_plane.count") == ClusterPlan(name="x").control_plane.count


async def test_field_help_and_checks_arrive_after_the_first_frame(make_app) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert app.draft.ready and app.draft.plan is not None
        field = app.screen.query_one("#ssh-key").parent
        assert isinstance(field, PlanField) and field.control.tooltip == field_help("ssh.public_key") != ""
        assert app.draft.get("hcloud.token_env") == "HCLOUD_TOKEN"


async def test_a_token_source_gets_its_fields_when_picked(make_app) -> None:
    # Only the chosen source's fields are in the first frame; picking another builds its fields,
    # described and checked like the rest, and what is typed there reaches the plan.
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await app.workers.wait_for_complete()
        screen = app.screen
        assert app.focused is screen.query_one("#token", Input), "the cursor starts in the token field"
        assert not screen.query("#token-env") and not screen.query("#context-name")
        screen.query_one("#env").value = True
        await pilot.pause()
        field = screen.query_one("#token-env", Input)
        assert field.parent.control.tooltip == field_help("hcloud.token_env") != ""
        assert not screen.query_one("#source-paste").display
        await _type(pilot, "#token-env", "MY_PROJECT_TOKEN")
        assert app.draft.get("hcloud.token_env") == "MY_PROJECT_TOKEN"
        await _type(pilot, "#token-env", "not a name")
        assert "-error" in field.parent.classes, "a bad variable name is shown beside the new field"
        screen.query_one("#paste").value = True
        await pilot.pause()
        assert screen.query_one("#source-paste").display and not screen.query_one("#source-env").display
        assert len(screen.query("#token")) == 1, "a source's fields are built once"


async def test_ssh_key_is_picked_from_the_keys_found(make_app, home: Path) -> None:
    (home / ".ssh" / "work.pub").write_text("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIWorkKeyForTestsOnly work@khz\n")
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await app.workers.wait_for_complete()
        keys = app.screen.query_one("#ssh-key", RadioSet)
        assert [str(b.label) for b in keys.query(RadioButton)] == ["~/.ssh/id_ed25519.pub", "~/.ssh/work.pub"]
        assert keys.pressed_index == 0, "the plan's default key is chosen"
        keys.query(RadioButton)[1].value = True
        await pilot.pause()
        assert app.draft.get("ssh.public_key") == "~/.ssh/work.pub"
        assert app.draft.get("ssh.private_key") == "~/.ssh/work"


async def test_the_first_step_offers_no_way_back(make_app) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert not app.screen.query("#back")
        assert "Back" not in [key.description for key in app.screen.query("FooterKey")]
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert app.screen.query("#back")
        assert "Back" in [key.description for key in app.screen.query("FooterKey")]


def test_the_command_line_opens_the_wizard_without_the_plan_model() -> None:
    """The composition root runs before the wizard's first frame: it must not import pydantic, the plan
    model, the engine's facade or rich.syntax (they load in the background once the first frame is up)."""
    heavy = ("pydantic", "khz_tui.plan.model", "khz_tui.engine.api", "rich.syntax")
    code = ("import sys; from khz_tui import cli; from khz_tui.ui.app import KhzApp; "
            f"KhzApp.run = lambda app, **kw: print([m for m in {heavy!r} if m in sys.modules]) or 0; cli.main(['--sim'])")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert done.stdout.strip() == "[]", done.stdout
