"""The apply's schedule as a value: the default policy is the engine's figures, `scaled` is the one
place time values follow the target's clock (each kept above its floor), and another policy changes
the order of a real apply on the simulator."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from dataclasses import fields, replace
from pathlib import Path

import pytest

from khz_tui.engine.apply.flow import apply
from khz_tui.engine.apply.policy import DEFAULT_POLICY, ApplyPolicy, Turns, WorkerStart
from khz_tui.engine.bus import EventBus
from khz_tui.engine.cloud.client import CloudClient
from khz_tui.engine.cloud.names import planned_nodes
from khz_tui.engine.cloud.node_access import probe_node_access
from khz_tui.engine.cluster_files import ClusterFiles
from khz_tui.engine.context import RunContext
from khz_tui.engine.events import EngineEvent, NodePhaseChanged
from khz_tui.engine.options import RunOptions
from khz_tui.plan.model import ClusterPlan
from khz_tui.sim.simulator import Simulator

#: Every time value of the default policy at Hetzner's speed, and the floor `scaled` keeps it above.
TIMES = {
    "ssh_deadline": (600.0, 5.0),
    "ready_deadline": (900.0, 10.0),
    "k3s_start_deadline": (300.0, 5.0),
    "interface_deadline": (60.0, 2.0),
    "lock_probe_deadline": (30.0, 2.0),
    "ssh_retry_interval": (1.0, 0.01),
    "ssh_max_interval": (2.0, 0.05),
    "readiness_poll": (1.0, 0.01),
    "restarted_ready_poll": (1.0, 0.05),
    "k3s_start_poll": (2.0, 0.05),
    "interface_poll": (2.0, 0.05),
    "learner_retry_delay": (5.0, 0.01),
}


def test_the_default_policy_is_the_engine_schedule() -> None:
    p = DEFAULT_POLICY
    assert (p.servers_created_at_once, p.create_attempts, p.session_retries, p.control_plane_join_attempts) == (10, 5, 5, 8)
    assert not p.installs_wait_for_every_server
    assert p.workers_start is WorkerStart.WITH_API and p.workers_joining_at_once is None
    assert {name: getattr(p, name) for name in TIMES} == {name: at_1 for name, (at_1, _) in TIMES.items()}


def test_every_time_value_is_scaled_and_nothing_else() -> None:
    # A float field without a floor would escape `scaled`: every one must be listed here, with its floor.
    floats = {f.name for f in fields(ApplyPolicy) if f.type in ("float", float)}
    assert floats == set(TIMES)
    custom = replace(DEFAULT_POLICY, servers_created_at_once=3, create_attempts=2, session_retries=1, control_plane_join_attempts=2,
                     installs_wait_for_every_server=True, workers_start=WorkerStart.AFTER_CONTROL_PLANE,
                     workers_joining_at_once=1)
    scaled = custom.scaled(0.2)
    for f in fields(ApplyPolicy):
        if f.name not in TIMES:
            assert getattr(scaled, f.name) == getattr(custom, f.name), f.name


@pytest.mark.parametrize("scale", [1.0, 0.2, 0.02, 0.0001])
def test_scaled_multiplies_time_values_and_keeps_their_floors(scale: float) -> None:
    scaled = DEFAULT_POLICY.scaled(scale)
    for name, (at_1, floor) in TIMES.items():
        assert getattr(scaled, name) == pytest.approx(max(floor, at_1 * scale)), name
    assert DEFAULT_POLICY.ssh_deadline == 600.0, "scaling returns a new policy; the default is unchanged"


def test_scaled_at_hetzner_speed_is_the_policy_itself() -> None:
    assert DEFAULT_POLICY.scaled(1.0) == DEFAULT_POLICY
    assert DEFAULT_POLICY.scaled(0.0001).ssh_deadline == 5.0 and DEFAULT_POLICY.scaled(0.0001).readiness_poll == 0.01


async def test_workers_join_one_at_a_time_when_the_policy_says_so() -> None:
    inside = most = 0

    async def worker(turns: Turns) -> None:
        nonlocal inside, most
        async with turns.worker_join():
            inside += 1
            most = max(most, inside)
            for _ in range(3):  # let the others run while this one holds its turn
                await asyncio.sleep(0)
            inside -= 1

    await asyncio.gather(*(worker(turns) for turns in [Turns(replace(DEFAULT_POLICY, workers_joining_at_once=1))] * 4))
    assert most == 1
    most = 0
    await asyncio.gather(*(worker(turns) for turns in [Turns(DEFAULT_POLICY)] * 4))
    assert most == 4, "no limit by default: every worker installs at once"


async def test_another_policy_changes_the_order_through_the_same_engine(
    sim: Simulator, make_plan: Callable[..., ClusterPlan], tmp_path: Path
) -> None:
    """The naive baseline's schedule: no install before every server answers SSH, workers only once
    every control plane is Ready, one worker at a time. Read from the phase events, in their order."""
    plan = make_plan("order", cp=3, workers=3, lb=False)
    naive = replace(DEFAULT_POLICY, installs_wait_for_every_server=True, workers_start=WorkerStart.AFTER_CONTROL_PLANE,
                    workers_joining_at_once=1)
    events: list[EngineEvent] = []
    bus = EventBus(events.append)
    client = CloudClient(sim.endpoint, sim.token, bus.usage)
    try:
        ctx = RunContext(plan=plan, client=client, bus=bus, access=await probe_node_access(client, ssh_port=plan.ssh.port),
                         files=ClusterFiles(plan.name, base=tmp_path / "state"), options=RunOptions(skip_verify=True),
                         hcloud_token=sim.token, time_scale=sim.time_scale)
        assert await apply(ctx, policy=naive) == (6, 6)
    finally:
        client.close()
    phases = [(e.node, e.phase) for e in events if isinstance(e, NodePhaseChanged)]
    at = {step: i for i, step in enumerate(phases)}  # each node passes each phase once
    nodes = {s.name: s.role for s in planned_nodes(plan)}
    workers = sorted((n for n, role in nodes.items() if role == "worker"), key=lambda n: at[(n, "installing")])
    assert min(at[(n, "installing")] for n in nodes) > max(at[(n, "ssh-ready")] for n in nodes)
    assert min(at[(n, "installing")] for n in workers) > max(at[(n, "ready")] for n in nodes if nodes[n] != "worker")
    for before, after in itertools.pairwise(workers):
        assert at[(after, "installing")] > at[(before, "joined")], f"{after} installed while {before} did"
