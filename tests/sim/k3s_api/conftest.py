"""Clusters built by the real engine on a simulator, and the real `kubectl` to talk to their API.

`kubectl` comes from the machine (Debian's `kubernetes-client`, which tests/run.sh installs); tests
that need it skip with that reason when it is absent.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from khz_tui.plan.model import ClusterPlan
from khz_tui.sim.simulator import Simulator

TESTS = str(Path(__file__).resolve().parents[2])
if TESTS not in sys.path:  # tests/ is not a package: put it on the path for the shared `support` package
    sys.path.insert(0, TESTS)
from support.home import isolate_home
from support.keys import ssh_keys  # noqa: F401 - a fixture
from support.plans import plan_data

TIME_SCALE = 0.02


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """HOME and the XDG dirs in tmp_path: kubeconfigs and kubectl's discovery cache stay in the test."""
    return isolate_home(tmp_path, monkeypatch)


@pytest.fixture
def make_plan(ssh_keys: tuple[Path, Path]):
    """`make_plan("c", cp=1, workers=1)`: a plan using the test's key pair."""

    def build(name: str, *, cp: int = 1, workers: int = 0, lb: bool = True, **sections: Any) -> ClusterPlan:
        return ClusterPlan.model_validate(plan_data(name, ssh_keys, cp=cp, workers=workers, lb=lb, **sections))

    return build


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    """A simulator with simulated machines and k3s."""
    async with Simulator(time_scale=TIME_SCALE, seed=1) as running:
        yield running


@pytest.fixture
def kubectl_path() -> str:
    """The real kubectl, or a visible skip."""
    path = shutil.which("kubectl")
    if path is None:
        pytest.skip("kubectl is not installed (tests/run.sh installs Debian's kubernetes-client)")
    return path
