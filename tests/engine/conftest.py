"""Fixtures for engine tests: an isolated HOME, an SSH key pair, plans, and a run helper that
drives the real engine against a real simulator over HTTP and SSH."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from khz_tui.engine.api import run
from khz_tui.engine.events import EngineEvent, RunFinished
from khz_tui.engine.options import RunOptions
from khz_tui.plan.model import ClusterPlan
from khz_tui.sim.simulator import Simulator, recording_node_host

TESTS = str(Path(__file__).resolve().parents[1])
if TESTS not in sys.path:  # tests/ is not a package: put it on the path for the shared `support` package
    sys.path.insert(0, TESTS)
from support.home import isolate_home
from support.keys import ssh_keys  # noqa: F401 - a fixture, shared with the reliability suites
from support.plans import plan_data
from support.simulator import labeled as _labeled
from support.simulator import target_of

TIME_SCALE = 0.02


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """HOME and the XDG dirs in tmp_path, so state, kubeconfigs and logs never leave the test."""
    return isolate_home(tmp_path, monkeypatch)


@pytest.fixture
def make_plan(ssh_keys: tuple[Path, Path]):
    """Build a plan using the test's key pair: make_plan("c", cp=3, workers=2, **sections)."""

    def build(name: str = "demo", *, cp: int = 1, workers: int = 0, lb: bool = True, **sections: Any) -> ClusterPlan:
        return ClusterPlan.model_validate(plan_data(name, ssh_keys, cp=cp, workers=workers, lb=lb, **sections))

    return build


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    """A running simulator with simulated nodes (SSH, cloud-init, k3s)."""
    async with Simulator(time_scale=TIME_SCALE, seed=1) as running:
        yield running


@pytest.fixture
async def api_sim() -> AsyncIterator[Simulator]:
    """A simulator whose machines only record calls: for runs that never reach SSH."""
    async with Simulator(time_scale=TIME_SCALE, seed=1, node_host_factory=recording_node_host) as running:
        yield running


@dataclass
class Outcome:
    finished: RunFinished
    events: list[EngineEvent] = field(default_factory=list)

    def of(self, kind: str) -> list[Any]:
        return [e for e in self.events if e.kind == kind]


@pytest.fixture
def engine_run(tmp_path: Path):
    """`await engine_run(mode, plan, sim, yes=..., confirm=...)` -> Outcome with every event."""

    async def go(mode: str, plan: ClusterPlan, sim: Simulator, *, yes: bool = False, confirm=None,
                 kubeconfig: Path | None = None) -> Outcome:
        events: list[EngineEvent] = []
        options = RunOptions(yes=yes, kubeconfig=kubeconfig)
        finished = await run(mode, plan, target_of(sim), sink=events.append, confirm=confirm, options=options)
        assert events[-1] is finished or events[-1] == finished, "RunFinished must be the last event"
        return Outcome(finished, events)

    return go


@pytest.fixture
def labeled():
    """`labeled(sim, "servers", cluster)`: resources in the simulator's state carrying the cluster's label."""
    return _labeled
