"""Failure paths: a node that never answers SSH, a node presenting another host key, API faults."""

from __future__ import annotations

import pytest

from khz_tui.engine.cluster_files import ClusterFiles
from khz_tui.sim.contracts import NodeFaults
from khz_tui.sim.faults import EndpointFaults, FaultProfile
from khz_tui.sim.simulator import Simulator


async def test_unreachable_node_fails_with_a_message_naming_it(make_plan, engine_run) -> None:
    faults = FaultProfile(node=NodeFaults(never_reachable=["dark-cp-1"]))
    async with Simulator(time_scale=0.005, seed=3, faults=faults) as sim:
        out = await engine_run("apply", make_plan("dark", cp=1, lb=False), sim)
    assert not out.finished.ok and not out.finished.bad_input
    assert "dark-cp-1" in out.finished.message
    failed = [e for e in out.of("NodePhaseChanged") if e.phase == "failed"]
    assert [e.node for e in failed] == ["dark-cp-1"]
    assert out.of("StepFailed") and out.of("StepFailed")[-1].hint


async def test_wrong_host_key_aborts_before_any_command(sim, make_plan, engine_run, labeled) -> None:
    plan = make_plan("pin", cp=1, lb=False)
    await engine_run("apply", plan, sim)  # the server now exists with the host key we generated
    server = labeled(sim, "servers", "pin")[0]
    ran = sim.inspect.machine(server.id).commands_run
    assert ran > 0
    ClusterFiles("pin").forget_host_key("pin-cp-1")  # the engine now pins a key the node does not have
    out = await engine_run("apply", plan, sim)
    assert not out.finished.ok
    assert "host key" in out.finished.message and "pin-cp-1" in out.finished.message
    assert sim.inspect.machine(server.id).commands_run == ran, "no command may reach a node that failed verification"
    assert len(labeled(sim, "servers", "pin")) == 1


async def test_api_faults_are_survived(make_plan, engine_run, labeled) -> None:
    faults = FaultProfile(endpoints=[EndpointFaults(
        pattern="* *", rate_limited=0.08, locked=0.08, server_error=0.08, unavailable=0.08)])
    async with Simulator(time_scale=0.02, seed=7, faults=faults) as sim:
        plan = make_plan("bumpy", cp=1, lb=False)
        out = await engine_run("dry-run", plan, sim)
        assert out.finished.ok, out.finished.message
        out = await engine_run("apply", plan, sim)
        # Whatever happens on the node side, the cloud side must have converged without duplicates.
        assert [s.name for s in labeled(sim, "servers", "bumpy")] == ["bumpy-cp-1"]
        assert len(labeled(sim, "networks", "bumpy")) == 1
        assert len(labeled(sim, "firewalls", "bumpy")) == 1
        assert sim.counts.total > out.finished.api_requests // 2
        destroyed = await engine_run("destroy", plan, sim, yes=True)
        assert destroyed.finished.ok, destroyed.finished.message
        assert labeled(sim, "servers", "bumpy") == [] and labeled(sim, "networks", "bumpy") == []


@pytest.mark.parametrize("seed", [11, 12, 13])
async def test_ssh_drops_and_a_reboot_mid_install_are_survived(make_plan, engine_run, labeled, seed) -> None:
    faults = FaultProfile(node=NodeFaults(ssh_drop_probability=0.05, reboot_during_install_probability=0.3))
    async with Simulator(time_scale=0.02, seed=seed, faults=faults) as sim:
        plan = make_plan("shaky", cp=3, workers=2, lb=False)
        out = await engine_run("apply", plan, sim)
        assert out.finished.ok, (out.finished.failed_step, out.finished.message)
        servers = labeled(sim, "servers", "shaky")
        cluster = sim.inspect.k3s_clusters({s.id for s in servers})[0]
        assert cluster.ready_nodes == {s.name for s in servers}
        dropped = out.of("ConnectionDropped")
        assert dropped, "the fault profile should have dropped at least one session"


async def test_project_limit_fails_clearly_with_a_hint(make_plan, engine_run) -> None:
    async with Simulator(time_scale=0.02, seed=1, server_limit=2) as sim:
        out = await engine_run("apply", make_plan("cap", cp=1, workers=2, lb=False), sim)
    assert not out.finished.ok
    assert "resource_limit_exceeded" in out.finished.message
    assert "raise the project limit" in out.finished.hint


async def test_a_failed_create_action_names_the_server(make_plan, engine_run) -> None:
    async with Simulator(time_scale=0.02, seed=1, faults=FaultProfile(failed_create_names=["oops-default-1"])) as sim:
        out = await engine_run("apply", make_plan("oops", cp=1, workers=1, lb=False), sim)
    assert not out.finished.ok
    assert "oops-default-1" in out.finished.message
    failed = {e.node for e in out.of("NodePhaseChanged") if e.phase == "failed"}
    assert "oops-default-1" in failed
