"""Whole clusters against the simulator: the HA seed, reruns, resume after a kill, scaling.

Assertions read what the simulator holds (what servers, load balancers and volumes exist, what its
k3s saw), not only the engine's events."""

from __future__ import annotations

import asyncio

import pytest
from hcloud import Client

from khz_tui.engine.api import run
from khz_tui.engine.events import NodePhaseChanged
from khz_tui.engine.options import RunOptions
from khz_tui.sim.inspection import K3sCluster, Server
from khz_tui.sim.simulator import Simulator


def cluster_of(sim: Simulator, server_ids: set[int]) -> K3sCluster | None:
    """The simulated k3s cluster that holds these servers."""
    return next(iter(sim.inspect.k3s_clusters(server_ids)), None) if server_ids else None


def ready_names(sim: Simulator, servers: list[Server]) -> set[str]:
    cluster = cluster_of(sim, {s.id for s in servers})
    assert cluster is not None, "no k3s cluster holds the servers"
    return cluster.ready_nodes


async def test_ha_seed_three_control_planes_two_workers(sim, make_plan, engine_run, labeled, tmp_path) -> None:
    plan = make_plan("seed", cp=3, workers=2, storage={"volumes": [{"name": "data", "size_gb": 10, "pool": "default"}]})
    out = await engine_run("apply", plan, sim, kubeconfig=tmp_path / "kc")
    assert out.finished.ok, (out.finished.failed_step, out.finished.message)

    servers = labeled(sim, "servers", "seed")
    assert sorted(s.name for s in servers) == ["seed-cp-1", "seed-cp-2", "seed-cp-3", "seed-default-1", "seed-default-2"]
    network = labeled(sim, "networks", "seed")[0]
    assert all(network.id in s.networks for s in servers)
    firewall = labeled(sim, "firewalls", "seed")[0]
    hc = Client(token=sim.token, api_endpoint=sim.endpoint)
    for s in servers:  # read the way any client sees it: over the wire
        wire = await asyncio.to_thread(hc.servers.get_by_id, s.id)
        assert [f.firewall.id for f in wire.public_net.firewalls] == [firewall.id]
        assert wire.placement_group is not None
    lb = labeled(sim, "load_balancers", "seed")[0]
    assert lb.services[0].listen_port == 6443
    assert lb.targets[0].label_selector is not None and lb.targets[0].use_private_ip
    assert any(p.network == network.id for p in lb.private_net)
    backends = {s.name for s in sim.inspect.backends(lb.name)}
    assert backends == {"seed-cp-1", "seed-cp-2", "seed-cp-3"}
    volumes = labeled(sim, "volumes", "seed")
    assert sorted(v.name for v in volumes) == ["seed-data-1", "seed-data-2"]
    assert all(v.server is not None for v in volumes)

    assert ready_names(sim, servers) == {s.name for s in servers}
    cluster = cluster_of(sim, {s.id for s in servers})
    assert sorted(n.role for n in cluster.nodes.values()) == ["agent", "agent", "server", "server", "server"]
    assert cluster.cloud_controller_running
    assert out.of("KubeconfigWritten")[0].server.startswith("https://")
    last = {e.node: e.phase for e in out.events if isinstance(e, NodePhaseChanged)}
    assert set(last.values()) == {"ready"}


async def test_rerun_makes_zero_mutating_calls(sim, make_plan, engine_run) -> None:
    plan = make_plan("again", cp=1, workers=1)
    first = await engine_run("apply", plan, sim)
    assert first.finished.ok, first.finished.message
    before = sim.mutating_request_count
    second = await engine_run("apply", plan, sim)
    assert second.finished.ok, second.finished.message
    assert sim.mutating_request_count == before
    assert not second.of("ResourceCreated")


@pytest.mark.parametrize("stop_at", ["creating", "ssh-ready", "installing", "joined"])
async def test_killed_run_resumes_without_duplicates_and_with_the_same_token(
    sim, make_plan, engine_run, labeled, stop_at
) -> None:
    plan = make_plan(f"kill-{stop_at}", cp=3, workers=2, lb=False)
    hit = asyncio.Event()

    def sink(event) -> None:
        if isinstance(event, NodePhaseChanged) and event.phase == stop_at:
            hit.set()

    task = asyncio.create_task(run("apply", plan, _target(sim), sink=sink, options=RunOptions()))
    await asyncio.wait({task, asyncio.create_task(hit.wait())}, return_when=asyncio.FIRST_COMPLETED)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    token_before = _token(sim, labeled(sim, "servers", plan.name))

    out = await engine_run("apply", plan, sim)
    assert out.finished.ok, (out.finished.failed_step, out.finished.message)
    servers = labeled(sim, "servers", plan.name)
    names = [s.name for s in servers]
    assert sorted(names) == sorted(set(names)) and len(names) == 5
    assert len(labeled(sim, "networks", plan.name)) == 1
    assert ready_names(sim, servers) == set(names)
    clusters = sim.inspect.k3s_clusters({s.id for s in servers})
    assert len(clusters) == 1, "a resumed run must not start a second cluster"
    if token_before is not None:
        assert clusters[0].token == token_before


async def test_scale_up_then_down_with_confirmation(sim, make_plan, engine_run, labeled) -> None:
    small = make_plan("grow", cp=1, workers=2, lb=False)
    assert (await engine_run("apply", small, sim)).finished.ok
    big = make_plan("grow", cp=1, workers=4, lb=False)
    out = await engine_run("apply", big, sim)
    assert out.finished.ok, out.finished.message
    servers = labeled(sim, "servers", "grow")
    assert len(servers) == 5 and ready_names(sim, servers) == {s.name for s in servers}
    assert {e.name for e in out.of("ResourceCreated") if e.resource_type == "server"} == {"grow-default-3", "grow-default-4"}

    asked: list[str] = []

    async def no(question: str) -> bool:
        asked.append(question)
        return False

    refused = await engine_run("apply", small, sim, confirm=no)
    assert not refused.finished.ok and refused.finished.bad_input
    assert asked and "grow-default-3" in asked[0] and "grow-default-4" in asked[0]
    assert len(labeled(sim, "servers", "grow")) == 5

    async def yes(question: str) -> bool:
        return True

    shrunk = await engine_run("apply", small, sim, confirm=yes)
    assert shrunk.finished.ok, shrunk.finished.message
    left = labeled(sim, "servers", "grow")
    assert sorted(s.name for s in left) == ["grow-cp-1", "grow-default-1", "grow-default-2"]
    cluster = cluster_of(sim, {s.id for s in left})
    assert set(cluster.nodes) == {"grow-cp-1", "grow-default-1", "grow-default-2"}, "drained nodes leave Kubernetes"


async def test_destroy_after_apply_leaves_nothing(sim, make_plan, engine_run, labeled) -> None:
    plan = make_plan("tidy", cp=1, workers=1, storage={"volumes": [{"name": "v", "size_gb": 10, "pool": "default"}]})
    assert (await engine_run("apply", plan, sim)).finished.ok
    out = await engine_run("destroy", plan, sim, yes=True)
    assert out.finished.ok, out.finished.message
    for kind in ("servers", "networks", "firewalls", "ssh_keys", "placement_groups", "load_balancers", "volumes"):
        assert labeled(sim, kind, "tidy") == [], kind


async def test_three_plus_twenty_with_cilium(sim, make_plan, engine_run, labeled) -> None:
    plan = make_plan("wide", cp=3, workers=20, network={"cni": "cilium"})
    out = await engine_run("apply", plan, sim)
    assert out.finished.ok, (out.finished.failed_step, out.finished.message)
    servers = labeled(sim, "servers", "wide")
    assert len(servers) == 23 and ready_names(sim, servers) == {s.name for s in servers}
    cluster = cluster_of(sim, {s.id for s in servers})
    assert "cilium" in cluster.addons and cluster.flannel_backend == "none"
    groups = labeled(sim, "placement_groups", "wide")
    assert sorted(g.name for g in groups) == ["wide-cp", "wide-default-pg-1", "wide-default-pg-2"]
    members = [sum(1 for s in servers if s.placement_group == g.id) for g in groups]
    assert sorted(members) == [3, 10, 10]


def _target(sim):
    from khz_tui.engine.api import Target

    return Target(sim.endpoint, True, sim.token, time_scale=sim.time_scale)


def _token(sim, servers):
    cluster = cluster_of(sim, {s.id for s in servers})
    return cluster.token if cluster else None
