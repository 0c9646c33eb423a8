"""A missing SSH key is said on the credentials step and on review, and can be generated there after a yes
(issue 13, item 3)."""

from __future__ import annotations

import stat
from pathlib import Path

from textual.widgets import Static

from khz_tui.plan.model import ClusterPlan
from khz_tui.plan.toml_io import save_plan
from khz_tui.ui.dialogs.confirm import ConfirmDialog
from khz_tui.ui.screens.credentials import CredentialsStep

SIZE = (100, 32)


async def _settle(pilot) -> None:
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


async def test_missing_key_is_warned_and_generated_after_confirmation(make_app, home: Path) -> None:
    for name in ("id_ed25519", "id_ed25519.pub"):
        (home / ".ssh" / name).unlink()
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await _settle(pilot)
        assert isinstance(app.screen, CredentialsStep)
        warning = str(app.screen.query_one("#ssh-key-warning", Static).render())
        assert "~/.ssh/id_ed25519.pub" in warning and "ctrl+g" in warning
        await pilot.press("ctrl+g")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmDialog), "a key is generated only after a yes"
        await pilot.press("y")
        await _settle(pilot)
        private = home / ".ssh" / "id_ed25519"
        assert private.exists() and (home / ".ssh" / "id_ed25519.pub").read_text().startswith("ssh-ed25519 ")
        assert stat.S_IMODE(private.stat().st_mode) == 0o600
        assert str(app.screen.query_one("#ssh-key-warning", Static).render()) == ""
        assert app.draft.get("ssh.public_key") == "~/.ssh/id_ed25519.pub"


async def test_declining_generates_nothing(make_app, home: Path) -> None:
    (home / ".ssh" / "id_ed25519").unlink()
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await _settle(pilot)
        await pilot.press("ctrl+g")
        await pilot.pause()
        await pilot.press("n")
        await _settle(pilot)
        assert not (home / ".ssh" / "id_ed25519").exists()
        assert not list((home / ".ssh").glob("khz_*"))


async def test_review_warns_of_a_missing_key(make_app, home: Path, tmp_path: Path) -> None:
    (home / ".ssh" / "id_ed25519").unlink()
    path = tmp_path / "demo.toml"
    save_plan(ClusterPlan(name="demo"), path)
    app = make_app(path)
    async with app.run_test(size=SIZE) as pilot:
        await _settle(pilot)
        assert "~/.ssh/id_ed25519 does not exist" in str(app.screen.query_one("#warnings", Static).render())


async def test_fix_field_opens_the_step_with_the_cursor_on_the_key(make_app) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await _settle(pilot)
        app.action_fix_field("ssh.public_key")
        await _settle(pilot)
        assert isinstance(app.screen, CredentialsStep)
        assert app.focused is app.screen.query_one("#ssh-key")
