"""Fixtures for engine tests: an isolated HOME, an SSH key pair, plans, and a run helper that
drives the real engine against a real simulator over HTTP and SSH."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncssh
import pytest

from khz_tui.engine.api import Target, run
from khz_tui.engine.events import EngineEvent, RunFinished
from khz_tui.engine.options import RunOptions
from khz_tui.plan.model import ClusterPlan
from khz_tui.sim.simulator import Simulator, recording_node_host

TIME_SCALE = 0.02


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """HOME and the XDG dirs in tmp_path, so state, kubeconfigs and logs never leave the test."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for var, sub in (("XDG_DATA_HOME", "data"), ("XDG_STATE_HOME", "state"), ("XDG_CONFIG_HOME", "config"),
                     ("XDG_CACHE_HOME", "cache")):
        monkeypatch.setenv(var, str(home / sub))
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.delenv("HCLOUD_ENDPOINT", raising=False)
    return home


@pytest.fixture
def ssh_keys(tmp_path: Path) -> tuple[Path, Path]:
    """An ed25519 client key pair (private, public) for the engine to sign in with."""
    key = asyncssh.generate_private_key("ssh-ed25519")
    private = tmp_path / "id_ed25519"
    private.write_bytes(key.export_private_key("openssh"))
    private.chmod(0o600)
    public = tmp_path / "id_ed25519.pub"
    public.write_bytes(key.export_public_key("openssh"))
    return private, public


@pytest.fixture
def make_plan(ssh_keys: tuple[Path, Path]):
    """Build a plan using the test's key pair: make_plan("c", cp=3, workers=2, **sections)."""

    def build(name: str = "demo", *, cp: int = 1, workers: int = 0, lb: bool = True, **sections: Any) -> ClusterPlan:
        private, public = ssh_keys
        data: dict[str, Any] = {
            "name": name,
            "ssh": {"public_key": str(public), "private_key": str(private)},
            "control_plane": {"count": cp, "server_type": "cpx22"},
            "worker_pools": [{"name": "default", "count": workers, "server_type": "cpx32"}] if workers else [],
            "load_balancer": {"enabled": lb},
        }
        data.update(sections)
        return ClusterPlan.model_validate(data)

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


def target_of(sim: Simulator) -> Target:
    return Target(endpoint=sim.endpoint, simulated=True, token=sim.token, time_scale=sim.time_scale)


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


def _labeled(sim: Simulator, kind: str, cluster: str) -> list[dict[str, Any]]:
    items = getattr(sim.state, kind)
    values = items.values() if isinstance(items, dict) else items
    return [r for r in values if (r.get("labels") or {}).get("khz-tui.io/cluster") == cluster]


@pytest.fixture
def labeled():
    """`labeled(sim, "servers", cluster)`: resources in the simulator's state carrying the cluster's label."""
    return _labeled
