"""The fixtures a suite that builds clusters needs, made in one place: an isolated HOME, the test's SSH
key pair, plans built around it, and running simulators. Each suite's conftest calls `cluster_fixtures`
with its own defaults and binds the fixtures it uses:

    fixtures = cluster_fixtures(PlanShape(cp=1, workers=0, lb=True, name="demo"), time_scale=0.02)
    isolated_home, ssh_keys, make_plan, sim = fixtures.isolated_home, fixtures.ssh_keys, fixtures.make_plan, fixtures.sim
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from khz_tui.plan.model import ClusterPlan
from khz_tui.sim.simulator import Simulator, recording_node_host
from support.home import isolate_home
from support.keys import write_private_key
from support.plans import plan_data

MakePlan = Callable[..., ClusterPlan]


@dataclass(frozen=True)
class PlanShape:
    """What `make_plan(...)` builds when a test does not say: control planes, workers of the one pool
    `default`, the API load balancer, and the cluster's name (None: every test names its cluster)."""

    cp: int
    workers: int
    lb: bool
    name: str | None = None


@dataclass(frozen=True)
class ClusterFixtures:
    isolated_home: Any
    """autouse: HOME and the XDG dirs in tmp_path, so state, kubeconfigs and run logs never leave the test."""
    ssh_keys: Any
    """An ed25519 client key pair (private, public) for the engine to sign in with."""
    make_plan: Any
    """`make_plan(name, cp=..., workers=..., lb=..., **sections)` -> ClusterPlan using `ssh_keys`."""
    sim: Any
    """A running simulator with simulated machines (SSH, cloud-init, k3s) on the test's event loop."""
    api_sim: Any
    """A running simulator whose machines only record calls: for runs that never reach SSH."""


def cluster_fixtures(shape: PlanShape, *, time_scale: float, seed: int = 1, also_unset: tuple[str, ...] = (),
                     read_only_token: str | None = None) -> ClusterFixtures:
    """The fixtures with this suite's defaults. `also_unset`: environment variables the isolated HOME
    clears besides KUBECONFIG and HCLOUD_ENDPOINT; `read_only_token`: a second, GET-only token the
    simulators also accept."""

    @pytest.fixture(autouse=True)
    def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
        return isolate_home(tmp_path, monkeypatch, also_unset=also_unset)

    @pytest.fixture
    def ssh_keys(tmp_path: Path) -> tuple[Path, Path]:
        private, key = write_private_key(tmp_path)
        public = tmp_path / "id_ed25519.pub"
        public.write_bytes(key.export_public_key("openssh"))
        return private, public

    @pytest.fixture
    def make_plan(ssh_keys: tuple[Path, Path]) -> MakePlan:
        def build(name: str | None = shape.name, *, cp: int = shape.cp, workers: int = shape.workers,
                  lb: bool = shape.lb, **sections: Any) -> ClusterPlan:
            if name is None:
                raise TypeError("make_plan needs the cluster's name in this suite")
            return ClusterPlan.model_validate(plan_data(name, ssh_keys, cp=cp, workers=workers, lb=lb, **sections))

        return build

    @pytest.fixture
    async def sim() -> AsyncIterator[Simulator]:
        async with Simulator(time_scale=time_scale, seed=seed, read_only_token=read_only_token) as running:
            yield running

    @pytest.fixture
    async def api_sim() -> AsyncIterator[Simulator]:
        async with Simulator(time_scale=time_scale, seed=seed, read_only_token=read_only_token,
                             node_host_factory=recording_node_host) as running:
            yield running

    return ClusterFixtures(isolated_home=isolated_home, ssh_keys=ssh_keys, make_plan=make_plan, sim=sim, api_sim=api_sim)
