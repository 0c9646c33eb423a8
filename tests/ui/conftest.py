"""Fixtures for the TUI tests: an isolated HOME with one SSH key, and apps whose runs play engine runs recorded
against the simulator (tests/support/recorded_runs.py)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from khz_tui.engine.options import RunOptions
from khz_tui.launch.connect import connect
from khz_tui.ui.app import KhzApp

TESTS = str(Path(__file__).resolve().parents[1])
if TESTS not in sys.path:  # tests/ is not a package: put it on the path for the shared `support` package
    sys.path.insert(0, TESTS)
from support.recorded_runs import recorded_runner_factory

SIZE = (100, 32)
#: A fixed public key (not a real one anybody uses), so screens listing ~/.ssh look the same every run.
PUBLIC_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFixedKeyForTheTuiTestsOnlyxxxxxxxxxxxxxxxx test@khz\n"


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """HOME and XDG dirs under tmp_path; no token or hcloud context leaks in from the machine."""
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "id_ed25519.pub").write_text(PUBLIC_KEY)
    # Its other half, present so the wizard does not warn of a missing key (its content is never read here).
    (home / ".ssh" / "id_ed25519").write_text("not a key: the TUI tests only check that it exists\n")
    (home / ".ssh" / "id_ed25519").chmod(0o600)
    monkeypatch.setenv("HOME", str(home))
    for var, sub in (("XDG_CONFIG_HOME", "config"), ("XDG_STATE_HOME", "state"), ("XDG_DATA_HOME", "data"),
                     ("XDG_CACHE_HOME", "cache")):
        monkeypatch.setenv(var, str(home / sub))
    for var in ("HCLOUD_TOKEN", "HCLOUD_CONTEXT", "HCLOUD_ENDPOINT", "HCLOUD_CONFIG", "KUBECONFIG"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(tmp_path)
    return home


@pytest.fixture
def make_app() -> Callable[..., KhzApp]:
    """An app whose runs play recorded engine runs; `apply` picks the apply (`apply-node-unreachable`: a node fails)."""

    def make(plan_path: Path | None = None, *, sim: bool = True, apply: str = "apply") -> KhzApp:
        return KhzApp(plan_path, RunOptions(sim=sim), connect=connect, runner_factory=recorded_runner_factory(apply=apply))

    return make
