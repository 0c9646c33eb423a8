"""Clusters built by the real engine on a simulator whose in-cluster controllers (hcloud CCM, CSI
driver, Longhorn, the CNI's pod network) act on what was applied; probed over SSH (`k3s kubectl`
on a control plane) and over the simulator's HTTP API, as any client would."""

from __future__ import annotations

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
from ctl_helpers import READ_ONLY_TOKEN
from support.home import isolate_home
from support.keys import ssh_keys  # noqa: F401 - a fixture
from support.plans import plan_data

TIME_SCALE = 0.02


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """HOME and the XDG dirs in tmp_path: kubeconfigs stay in the test."""
    return isolate_home(tmp_path, monkeypatch)


@pytest.fixture
def make_plan(ssh_keys: tuple[Path, Path]):
    """`make_plan("c", cp=1, workers=1, **sections)`: a plan using the test's key pair."""

    def build(name: str, *, cp: int = 1, workers: int = 1, lb: bool = False, **sections: Any) -> ClusterPlan:
        return ClusterPlan.model_validate(plan_data(name, ssh_keys, cp=cp, workers=workers, lb=lb, **sections))

    return build


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    """A simulator with simulated machines, k3s and its controllers; it also knows a read-only token."""
    async with Simulator(time_scale=TIME_SCALE, seed=1, read_only_token=READ_ONLY_TOKEN) as running:
        yield running
