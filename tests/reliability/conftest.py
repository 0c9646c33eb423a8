"""Fixtures for the reliability suites (chaos, crash-resume, drift).

- Soak tests (`@pytest.mark.soak`) run only with KHZ_SOAK=1; otherwise they are skipped with a
  visible reason, so CI runs the bounded versions only.
- HOME and the XDG dirs live in tmp_path (state, host keys, kubeconfigs and run logs never leave the test).
- `ssh_keys`, `make_plan`: a client key pair and plans using it.
- Helpers that read the simulator's own state live in `reliability_helpers.py`.

Security and fuzz modules in this folder bring their own fixtures; this file is shared by all.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import asyncssh
import pytest

from khz_tui.plan.model import ClusterPlan
from reliability_helpers import plan_data

SOAK = os.environ.get("KHZ_SOAK") == "1"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if SOAK:
        return
    skip = pytest.mark.skip(reason="soak test: set KHZ_SOAK=1 to run the long reliability variant")
    for item in items:
        if "soak" in item.keywords and Path(str(item.fspath)).parent == Path(__file__).parent:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """HOME and the XDG dirs in tmp_path."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for var, sub in (("XDG_DATA_HOME", "data"), ("XDG_STATE_HOME", "state"), ("XDG_CONFIG_HOME", "config"),
                     ("XDG_CACHE_HOME", "cache")):
        monkeypatch.setenv(var, str(home / sub))
    for var in ("KUBECONFIG", "HCLOUD_ENDPOINT", "HCLOUD_TOKEN", "HCLOUD_CONTEXT", "HCLOUD_CONFIG"):
        monkeypatch.delenv(var, raising=False)
    return home


@pytest.fixture
def ssh_keys(tmp_path: Path) -> tuple[Path, Path]:
    """An ed25519 client key pair (private, public)."""
    key = asyncssh.generate_private_key("ssh-ed25519")
    private = tmp_path / "id_ed25519"
    private.write_bytes(key.export_private_key("openssh"))
    private.chmod(0o600)
    public = tmp_path / "id_ed25519.pub"
    public.write_bytes(key.export_public_key("openssh"))
    return private, public


@pytest.fixture
def make_plan(ssh_keys: tuple[Path, Path]):
    """make_plan("c", cp=3, workers=2, lb=True, **sections) -> ClusterPlan."""

    def build(name: str, **kwargs: Any) -> ClusterPlan:
        return ClusterPlan.model_validate(plan_data(name, ssh_keys, **kwargs))

    return build


