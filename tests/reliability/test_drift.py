"""Drift: changes made behind the engine's back, then a rerun.

- A worker server deleted through the API: the rerun creates it again, deletes the stale Node object
  the old server left in Kubernetes (k3s refuses a second machine under a known node name) and the
  new server joins and turns Ready.
- A firewall rule changed through the API: the rerun reports DriftDetected naming the rule and leaves
  the firewall as it found it (no mutating request at all).
- A server whose create action failed: recovered in the same run (deleted and created again), or,
  when the failure outlived the run, on the next one.
- Control planes deleted through the API (cp-1; cp-1 and cp-2): the rerun keeps the live cluster and
  its token (seeded from a surviving control plane) and the new servers join it.
- A server powered off through the API: the rerun powers it on instead of waiting for SSH.
"""

from __future__ import annotations

import asyncio

import pytest

from hcloud import Client
from hcloud.firewalls.domain import FirewallRule

from khz_tui.engine.api import run
from khz_tui.engine.events import EngineEvent
from khz_tui.engine.options import RunOptions
from khz_tui.sim.faults import FaultProfile, _uniform
from khz_tui.sim.simulator import Simulator
from reliability_helpers import clusters_holding, duplicates, labeled, ready_servers, target_of

TIME_SCALE = 0.02


async def apply(plan, sim: Simulator) -> tuple[object, list[EngineEvent]]:
    events: list[EngineEvent] = []
    finished = await run("apply", plan, target_of(sim), sink=events.append, options=RunOptions())
    return finished, events


def hclient(sim: Simulator) -> Client:
    return Client(token=sim.token, api_endpoint=sim.endpoint, poll_interval=0.05, timeout=10)


async def test_a_deleted_worker_is_recreated_and_rejoins(make_plan) -> None:
    plan = make_plan("drift", cp=3, workers=2)
    async with Simulator(time_scale=TIME_SCALE, seed=21) as sim:
        first, _ = await apply(plan, sim)
        assert first.ok, first.message
        old = next(s for s in labeled(sim, "servers", "drift") if s["name"] == "drift-default-2")
        hc = hclient(sim)
        server = await asyncio.to_thread(hc.servers.get_by_id, old["id"])
        action = await asyncio.to_thread(hc.servers.delete, server)
        await asyncio.to_thread(action.wait_until_finished, 100)
        (cluster,) = clusters_holding(sim, {s["id"] for s in labeled(sim, "servers", "drift")})
        stale = cluster.nodes["drift-default-2"]
        assert stale.server_id == old["id"] and not cluster.is_ready(stale), "Kubernetes keeps the dead node NotReady"

        second, events = await apply(plan, sim)
        assert second.ok, (second.failed_step, second.message)
        created = [e for e in events if e.kind == "ResourceCreated"]
        assert [(e.resource_type, e.name) for e in created] == [("server", "drift-default-2")]
        assert any(e.kind == "LogLine" and "deleting that Node object" in e.text for e in events)

        new = next(s for s in labeled(sim, "servers", "drift") if s["name"] == "drift-default-2")
        assert new["id"] != old["id"]
        assert duplicates(sim, "drift") == []
        names, ready = ready_servers(sim, "drift")
        assert ready == names == {"drift-cp-1", "drift-cp-2", "drift-cp-3", "drift-default-1", "drift-default-2"}
        holding = clusters_holding(sim, {s["id"] for s in labeled(sim, "servers", "drift")})
        assert holding == [cluster], "the new server joined the existing cluster"
        node = cluster.nodes["drift-default-2"]
        assert node.server_id == new["id"] and cluster.is_ready(node), "the stale Node object was replaced"
        assert len(cluster.nodes) == 5


async def test_a_changed_firewall_rule_is_reported_not_reverted(make_plan) -> None:
    plan = make_plan("fw", cp=1, workers=1, lb=False)
    async with Simulator(time_scale=TIME_SCALE, seed=22) as sim:
        first, _ = await apply(plan, sim)
        assert first.ok, first.message
        hc = hclient(sim)
        fw = await asyncio.to_thread(hc.firewalls.get_by_name, "fw")
        rules = [r for r in fw.rules if r.port != "22"] + [
            FirewallRule(direction="in", protocol="tcp", port="22", source_ips=["203.0.113.7/32"])]
        actions = await asyncio.to_thread(hc.firewalls.set_rules, fw, rules)
        for a in actions:
            await asyncio.to_thread(a.wait_until_finished, 100)
        before = sim.mutating_request_count

        second, events = await apply(plan, sim)
        assert second.ok, second.message
        drift = [e for e in events if e.kind == "DriftDetected"]
        assert [(d.resource_type, d.name, d.field) for d in drift] == [("firewall", "fw", "rule in tcp port 22")]
        assert drift[0].actual == "from 203.0.113.7/32" and drift[0].expected == "from 127.0.0.1/32"
        assert sim.mutating_request_count == before, "drift is reported, never silently changed"
        (state_fw,) = labeled(sim, "firewalls", "fw")
        ssh = [r for r in state_fw["rules"] if r.get("port") == "22"]
        assert [r["source_ips"] for r in ssh] == [["203.0.113.7/32"]]

        third, events = await apply(plan, sim)  # reported on every run until someone decides
        assert third.ok and [e.field for e in events if e.kind == "DriftDetected"] == ["rule in tcp port 22"]


async def test_an_unchanged_cluster_reports_no_drift(make_plan) -> None:
    plan = make_plan("calm", cp=1, workers=1, lb=False)
    async with Simulator(time_scale=TIME_SCALE, seed=23) as sim:
        assert (await apply(plan, sim))[0].ok
        second, events = await apply(plan, sim)
        assert second.ok and not [e for e in events if e.kind == "DriftDetected"]


def _seed_failing_first_create_only(name: str, chance: float) -> int:
    """A seed whose first create of `name` fails and whose second succeeds (the dice are public)."""
    for seed in range(1000):
        if _uniform(seed, "create", "server", name, 0) < chance <= _uniform(seed, "create", "server", name, 1):
            return seed
    raise AssertionError("no such seed below 1000")


async def test_a_failed_create_is_recovered_in_the_same_run(make_plan) -> None:
    name = "fc-default-1"
    seed = _seed_failing_first_create_only(name, 0.5)
    plan = make_plan("fc", cp=1, workers=1, lb=False)
    faults = FaultProfile(failed_create_probability=0.5)
    async with Simulator(time_scale=TIME_SCALE, seed=seed, faults=faults) as sim:
        finished, events = await apply(plan, sim)
        assert finished.ok, finished.message
        assert any(e.kind == "ResourceDeleted" and e.name == name for e in events), "the broken server is deleted"
        assert any(e.kind == "LogLine" and "creating it again" in e.text and e.node == name for e in events)
        assert duplicates(sim, "fc") == []
        names, ready = ready_servers(sim, "fc")
        assert names == ready == {"fc-cp-1", name}


async def test_a_failed_create_left_by_a_run_is_recovered_by_the_next(make_plan) -> None:
    plan = make_plan("fl", cp=1, workers=1, lb=False)
    async with Simulator(time_scale=TIME_SCALE, seed=24, faults=FaultProfile(failed_create_names=["fl-default-1"])) as sim:
        first, events = await apply(plan, sim)
        assert not first.ok and "fl-default-1" in first.message, "a create that keeps failing names its server"
        broken = [s for s in labeled(sim, "servers", "fl") if s["name"] == "fl-default-1"]
        assert len(broken) == 1 and broken[0]["status"] == "off", "the last broken server is left for the next run"
        sim.dice.profile.failed_create_names = []  # the cloud recovers
        second, events = await apply(plan, sim)
        assert second.ok, (second.message, [e.text for e in events if e.kind == "LogLine" and "fatal" in e.text])
        assert any(e.kind == "ResourceDeleted" and e.id == broken[0]["id"] for e in events)
        assert duplicates(sim, "fl") == []
        names, ready = ready_servers(sim, "fl")
        assert names == ready == {"fl-cp-1", "fl-default-1"}


async def _delete_servers(sim: Simulator, ids: list[int]) -> None:
    hc = hclient(sim)
    for server_id in ids:
        server = await asyncio.to_thread(hc.servers.get_by_id, server_id)
        action = await asyncio.to_thread(hc.servers.delete, server)
        await asyncio.to_thread(action.wait_until_finished, 100)


@pytest.mark.parametrize("deleted", [("cp-1",), ("cp-1", "cp-2")], ids=["cp-1", "cp-1-and-cp-2"])
async def test_deleted_control_planes_rejoin_the_live_cluster_with_its_token(make_plan, deleted) -> None:
    plan = make_plan("cpgone", cp=3, workers=1)
    async with Simulator(time_scale=TIME_SCALE, seed=25) as sim:
        first, _ = await apply(plan, sim)
        assert first.ok, first.message
        (cluster,) = clusters_holding(sim, {s["id"] for s in labeled(sim, "servers", "cpgone")})
        token = cluster.token
        gone = {f"cpgone-{n}" for n in deleted}
        old_ids = {s["name"]: s["id"] for s in labeled(sim, "servers", "cpgone") if s["name"] in gone}
        await _delete_servers(sim, list(old_ids.values()))

        second, events = await apply(plan, sim)
        assert second.ok, (second.failed_step, second.message)
        created = {e.name for e in events if e.kind == "ResourceCreated"}
        assert created == gone, "only the deleted control planes are created again"
        stale = {e.node for e in events if e.kind == "LogLine" and "deleting that Node object" in e.text}
        assert stale == gone, "the stale Node objects (and with them the etcd members) go before the joins"

        servers = labeled(sim, "servers", "cpgone")
        holding = clusters_holding(sim, {s["id"] for s in servers})
        assert holding == [cluster], "the new control planes joined the live cluster; no second cluster"
        assert len(sim.nodes.clusters) == 1 and cluster.token == token, "the live cluster's token was kept"
        names, ready = ready_servers(sim, "cpgone")
        assert ready == names and len(names) == 4
        assert sorted(n.role for n in cluster.nodes.values()) == ["agent", "server", "server", "server"]
        for name, old_id in old_ids.items():
            assert cluster.nodes[name].server_id not in (old_id, None) and cluster.is_ready(cluster.nodes[name])
        assert duplicates(sim, "cpgone") == []


@pytest.mark.parametrize("who", ["pw-default-1", "pw-cp-1"])
async def test_a_powered_off_server_is_powered_on_not_waited_for(make_plan, who) -> None:
    plan = make_plan("pw", cp=1, workers=1, lb=False)
    async with Simulator(time_scale=TIME_SCALE, seed=26) as sim:
        first, _ = await apply(plan, sim)
        assert first.ok, first.message
        (cluster,) = clusters_holding(sim, {s["id"] for s in labeled(sim, "servers", "pw")})
        token = cluster.token
        (server,) = [s for s in labeled(sim, "servers", "pw") if s["name"] == who]
        hc = hclient(sim)
        action = await asyncio.to_thread(hc.servers.power_off, await asyncio.to_thread(hc.servers.get_by_id, server["id"]))
        await asyncio.to_thread(action.wait_until_finished, 100)
        assert server["status"] == "off"

        loop = asyncio.get_running_loop()
        started = loop.time()
        second, events = await apply(plan, sim)
        took = loop.time() - started
        assert second.ok, (second.failed_step, second.message)
        # The scaled SSH deadline is 600 s x 0.02 = 12 s: a run that waited for SSH would take that long.
        assert took < 8, f"the rerun took {took:.1f}s: it waited for SSH instead of powering the server on"
        said = [e for e in events if e.kind == "LogLine" and e.node == who and "powering it on" in e.text]
        assert said and said[0].level == "warning", "the power-on is announced, naming the server"
        assert server["status"] == "running" and [s["id"] for s in labeled(sim, "servers", "pw") if s["name"] == who] == [server["id"]]
        assert not [e for e in events if e.kind in ("ResourceCreated", "ResourceDeleted")]
        names, ready = ready_servers(sim, "pw")
        assert ready == names == {"pw-cp-1", "pw-default-1"}
        assert sim.nodes.clusters == [cluster] and cluster.token == token
