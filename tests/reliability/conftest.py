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
import sys
from pathlib import Path
from typing import Any

import pytest

from khz_tui.plan.model import ClusterPlan

TESTS = str(Path(__file__).resolve().parents[1])
if TESTS not in sys.path:  # tests/ is not a package: put it on the path for the shared `support` package
    sys.path.insert(0, TESTS)
from reliability_helpers import plan_data
from support.home import HCLOUD_CLIENT_VARS, isolate_home
from support.keys import ssh_keys  # noqa: F401 - a fixture, shared with the engine suites

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
    """HOME and the XDG dirs in tmp_path; no hcloud CLI token or context from the developer's shell."""
    return isolate_home(tmp_path, monkeypatch, also_unset=HCLOUD_CLIENT_VARS)


@pytest.fixture
def make_plan(ssh_keys: tuple[Path, Path]):
    """make_plan("c", cp=3, workers=2, lb=True, **sections) -> ClusterPlan."""

    def build(name: str, **kwargs: Any) -> ClusterPlan:
        return ClusterPlan.model_validate(plan_data(name, ssh_keys, **kwargs))

    return build


