"""Fixtures for engine tests (made by `support.clusters`): an isolated HOME, an SSH key pair, plans
(`make_plan("c", cp=3, workers=2, **sections)`; by default one control plane named demo, no workers,
the API load balancer), `sim` and `api_sim` (machines that only record calls), and a run helper that
drives the real engine against a real simulator over HTTP and SSH."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from support.clusters import PlanShape, cluster_fixtures
from support.simulator import labeled as _labeled
from support.simulator import target_of

from khz_tui.engine.api import run
from khz_tui.engine.events import EngineEvent, RunFinished
from khz_tui.engine.options import RunOptions
from khz_tui.plan.model import ClusterPlan
from khz_tui.sim.simulator import Simulator

TIME_SCALE = 0.02

_fixtures = cluster_fixtures(PlanShape(cp=1, workers=0, lb=True, name="demo"), time_scale=TIME_SCALE)
isolated_home, ssh_keys, make_plan = _fixtures.isolated_home, _fixtures.ssh_keys, _fixtures.make_plan
sim, api_sim = _fixtures.sim, _fixtures.api_sim


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
    """`labeled(sim, "servers", cluster)`: resources of the simulated cloud carrying the cluster's label."""
    return _labeled
