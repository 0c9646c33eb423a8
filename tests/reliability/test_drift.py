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

Apply and dry-run read one comparison (`khz_tui.engine.drift`); these cases check both against what
the simulator holds, the changes made with the Go `hcloud` CLI when it is installed (hcloud-python
otherwise):
- The firewall deleted: apply creates it applied to every server of the cluster by label selector
  (a node added later is covered too); dry-run says it will be created.
- The firewall taken off one server (a cluster made before the selector): dry-run says apply will
  apply it by selector; apply does, and every server is covered.
- A volume detached: dry-run says apply attaches it again; apply does.
- A changed firewall rule, another load balancer type: dry-run reports them as left unchanged, as
  apply does; neither touches them.
- A server taken off the network: dry-run says apply attaches it again.
- One drifted cluster, dry-run then apply: every line dry-run shows is what apply did (the mutating
  requests the simulator answered, the DriftDetected events), nothing more.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
from collections import Counter
from pathlib import Path

import pytest
from hcloud import Client
from hcloud.firewalls.domain import Firewall, FirewallResource, FirewallRule
from hcloud.servers.domain import Server
from reliability_helpers import (
    KINDS,
    cluster_servers,
    clusters_holding,
    duplicates,
    labeled,
    ready_servers,
    repaired,
    target_of,
)

from khz_tui.engine.api import run
from khz_tui.engine.events import Change, EngineEvent
from khz_tui.engine.options import RunOptions
from khz_tui.sim.faults import FaultProfile, _uniform
from khz_tui.sim.simulator import Simulator

TIME_SCALE = 0.02


async def apply(plan, sim: Simulator) -> tuple[object, list[EngineEvent]]:
    events: list[EngineEvent] = []
    finished = await run("apply", plan, target_of(sim), sink=events.append, options=RunOptions())
    return finished, events


def hclient(sim: Simulator) -> Client:
    return Client(token=sim.token, api_endpoint=sim.endpoint, poll_interval=0.05, timeout=10)


async def dry_run(plan, sim: Simulator) -> list[Change]:
    """The lines of a dry-run, keeps left out."""
    events: list[EngineEvent] = []
    finished = await run("dry-run", plan, target_of(sim), sink=events.append, options=RunOptions())
    assert finished.ok, finished.message
    (diffed,) = [e for e in events if e.kind == "PlanDiffed"]
    return [c for c in diffed.changes if c.action != "keep"]


async def test_a_deleted_worker_is_recreated_and_rejoins(make_plan) -> None:
    plan = make_plan("drift", cp=3, workers=2)
    async with Simulator(time_scale=TIME_SCALE, seed=21) as sim:
        first, _ = await apply(plan, sim)
        assert first.ok, first.message
        old = sim.inspect.server("drift-default-2")
        hc = hclient(sim)
        server = await asyncio.to_thread(hc.servers.get_by_id, old.id)
        action = await asyncio.to_thread(hc.servers.delete, server)
        await asyncio.to_thread(action.wait_until_finished, 100)
        (cluster,) = clusters_holding(sim, cluster_servers(sim, "drift"))
        stale = cluster.nodes["drift-default-2"]
        assert stale.server_id == old.id and not stale.ready, "Kubernetes keeps the dead node NotReady"

        second, events = await apply(plan, sim)
        assert second.ok, (second.failed_step, second.message)
        created = [e for e in events if e.kind == "ResourceCreated"]
        assert [(e.resource_type, e.name) for e in created] == [("server", "drift-default-2")]
        assert repaired(events, "stale-node-removed") == ["drift-default-2"]

        new = sim.inspect.server("drift-default-2")
        assert new.id != old.id
        assert duplicates(sim, "drift") == []
        names, ready = ready_servers(sim, "drift")
        assert ready == names == {"drift-cp-1", "drift-cp-2", "drift-cp-3", "drift-default-1", "drift-default-2"}
        (holding,) = clusters_holding(sim, cluster_servers(sim, "drift"))
        assert holding.id == cluster.id, "the new server joined the existing cluster"
        node = holding.nodes["drift-default-2"]
        assert node.server_id == new.id and node.ready, "the stale Node object was replaced"
        assert len(holding.nodes) == 5


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
        (held,) = labeled(sim, "firewalls", "fw")
        assert [r.source_ips for r in held.rules if r.port == "22"] == [("203.0.113.7/32",)]

        third, events = await apply(plan, sim)  # reported on every run until someone decides
        assert third.ok and [e.field for e in events if e.kind == "DriftDetected"] == ["rule in tcp port 22"]

        before = sim.mutating_request_count
        lines = await dry_run(plan, sim)  # dry-run says what apply says
        assert [(c.action, c.resource_type, c.name, c.detail) for c in lines] == [
            ("change", "firewall", "fw", "rule in tcp port 22: from 203.0.113.7/32 (plan: from 127.0.0.1/32); not changed by apply")]
        assert sim.mutating_request_count == before


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
        assert name in repaired(events, "server-recreated")
        assert duplicates(sim, "fc") == []
        names, ready = ready_servers(sim, "fc")
        assert names == ready == {"fc-cp-1", name}


async def test_a_failed_create_left_by_a_run_is_recovered_by_the_next(make_plan) -> None:
    plan = make_plan("fl", cp=1, workers=1, lb=False)
    async with Simulator(time_scale=TIME_SCALE, seed=24, faults=FaultProfile(failed_create_names=["fl-default-1"])) as sim:
        first, events = await apply(plan, sim)
        assert not first.ok and "fl-default-1" in first.message, "a create that keeps failing names its server"
        broken = [s for s in labeled(sim, "servers", "fl") if s.name == "fl-default-1"]
        assert len(broken) == 1 and broken[0].status == "off", "the last broken server is left for the next run"
        sim.faults.failed_create_names = []  # the cloud recovers
        second, events = await apply(plan, sim)
        assert second.ok, (second.message, [e.text for e in events if e.kind == "LogLine" and "fatal" in e.text])
        assert any(e.kind == "ResourceDeleted" and e.id == broken[0].id for e in events)
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
        (cluster,) = clusters_holding(sim, cluster_servers(sim, "cpgone"))
        gone = {f"cpgone-{n}" for n in deleted}
        old_ids = {s.name: s.id for s in labeled(sim, "servers", "cpgone") if s.name in gone}
        await _delete_servers(sim, list(old_ids.values()))

        second, events = await apply(plan, sim)
        assert second.ok, (second.failed_step, second.message)
        created = {e.name for e in events if e.kind == "ResourceCreated"}
        assert created == gone, "only the deleted control planes are created again"
        stale = set(repaired(events, "stale-node-removed"))
        assert stale == gone, "the stale Node objects (and with them the etcd members) go before the joins"

        holding = clusters_holding(sim, cluster_servers(sim, "cpgone"))
        assert [c.id for c in holding] == [cluster.id], "the new control planes joined the live cluster; no second cluster"
        (live,) = sim.inspect.k3s_clusters()
        assert live.token == cluster.token, "the live cluster's token was kept"
        names, ready = ready_servers(sim, "cpgone")
        assert ready == names and len(names) == 4
        assert sorted(n.role for n in live.nodes.values()) == ["agent", "server", "server", "server"]
        for name, old_id in old_ids.items():
            assert live.nodes[name].server_id not in (old_id, None) and live.nodes[name].ready
        assert duplicates(sim, "cpgone") == []


@pytest.mark.parametrize("who", ["pw-default-1", "pw-cp-1"])
async def test_a_powered_off_server_is_powered_on_not_waited_for(make_plan, who) -> None:
    plan = make_plan("pw", cp=1, workers=1, lb=False)
    async with Simulator(time_scale=TIME_SCALE, seed=26) as sim:
        first, _ = await apply(plan, sim)
        assert first.ok, first.message
        (cluster,) = clusters_holding(sim, cluster_servers(sim, "pw"))
        server = sim.inspect.server(who)
        hc = hclient(sim)
        action = await asyncio.to_thread(hc.servers.power_off, await asyncio.to_thread(hc.servers.get_by_id, server.id))
        await asyncio.to_thread(action.wait_until_finished, 100)
        assert sim.inspect.server(who).status == "off"

        second, events = await apply(plan, sim)
        assert second.ok, (second.failed_step, second.message)
        said = [i for i, e in enumerate(events) if e.kind == "NodeRepaired" and e.repair == "server-powered-on"]
        assert [events[i].node for i in said] == [who], "the power-on is announced, naming the server"
        # Powered on before any SSH attempt: a run that tried SSH first would wait out its deadline (the
        # first refused attempt is reported at once).
        waited = [i for i, e in enumerate(events) if e.kind == "LogLine" and e.node == who and e.text.startswith("waiting for SSH")]
        assert all(i > said[0] for i in waited), "the rerun waited for SSH before powering the server on"
        power = [a.command for a in sim.inspect.actions("servers", server.id) if a.command in ("start_server", "stop_server")]
        assert power == ["start_server", "stop_server", "start_server"], "started once more, by the rerun"
        assert sim.inspect.server(who).status == "running" and [s.id for s in labeled(sim, "servers", "pw") if s.name == who] == [server.id]
        assert not [e for e in events if e.kind in ("ResourceCreated", "ResourceDeleted")]
        names, ready = ready_servers(sim, "pw")
        assert ready == names == {"pw-cp-1", "pw-default-1"}
        (live,) = sim.inspect.k3s_clusters()
        assert live.id == cluster.id and live.token == cluster.token


# -- changes made with the hcloud CLI (or hcloud-python) -------------------------------------------

CLI = shutil.which("hcloud")
CLI_TIMEOUT = 60


def cli(sim: Simulator, home: Path, *args: str) -> str:
    """Run the Go `hcloud` CLI against the simulator (call it in a thread: the simulator shares our loop)."""
    env = {**os.environ, "HOME": str(home), "HCLOUD_ENDPOINT": sim.endpoint, "HCLOUD_TOKEN": sim.token}
    env.pop("HCLOUD_CONTEXT", None)
    done = subprocess.run([CLI or "hcloud", "--poll-interval", "50ms", *args], env=env, capture_output=True,
                          text=True, timeout=CLI_TIMEOUT)
    assert done.returncode == 0, f"hcloud {' '.join(args)}: {done.stderr}"
    return done.stdout


def _take_off(sim: Simulator, home: Path, firewall: str) -> None:
    """Remove the firewall from everything it is applied to (what the CLI must do before deleting it)."""
    if CLI:
        described = json.loads(cli(sim, home, "firewall", "describe", firewall, "-o", "json"))
        for entry in described.get("applied_to") or []:
            if entry["type"] == "server":
                cli(sim, home, "firewall", "remove-from-resource", firewall, "--type", "server", "--server", str(entry["server"]["id"]))
            else:
                cli(sim, home, "firewall", "remove-from-resource", firewall, "--type", "label_selector",
                    "--label-selector", entry["label_selector"]["selector"])
        return
    hc = hclient(sim)
    fw = hc.firewalls.get_by_name(firewall)
    if fw.applied_to:
        entries = [FirewallResource(type=e.type, server=Server(id=e.server.id) if e.server else None,
                                    label_selector=e.label_selector) for e in fw.applied_to]
        for action in hc.firewalls.remove_from_resources(fw, entries):
            action.wait_until_finished(100)


def delete_firewall(sim: Simulator, home: Path, firewall: str) -> None:
    _take_off(sim, home, firewall)
    if CLI:
        cli(sim, home, "firewall", "delete", firewall)
    else:
        hclient(sim).firewalls.delete(Firewall(id=hclient(sim).firewalls.get_by_name(firewall).id))


def apply_directly(sim: Simulator, home: Path, firewall: str, server_ids: list[int]) -> None:
    """What a cluster made before khz-tui used a label selector looks like: the firewall applied to
    each server by id (here to `server_ids` only)."""
    _take_off(sim, home, firewall)
    for sid in server_ids:
        if CLI:
            cli(sim, home, "firewall", "apply-to-resource", firewall, "--type", "server", "--server", str(sid))
        else:
            hc = hclient(sim)
            for action in hc.firewalls.apply_to_resources(
                    hc.firewalls.get_by_name(firewall), [FirewallResource(type="server", server=Server(id=sid))]):
                action.wait_until_finished(100)


def detach_volume(sim: Simulator, home: Path, volume: str) -> None:
    if CLI:
        cli(sim, home, "volume", "detach", volume)
    else:
        hc = hclient(sim)
        hc.volumes.detach(hc.volumes.get_by_name(volume)).wait_until_finished(100)


def detach_from_network(sim: Simulator, home: Path, server: str, network: str) -> None:
    if CLI:
        cli(sim, home, "server", "detach-from-network", server, "--network", network)
    else:
        hc = hclient(sim)
        hc.servers.detach_from_network(hc.servers.get_by_name(server), hc.networks.get_by_name(network)).wait_until_finished(100)


def writes(sim: Simulator, before: Counter, cluster: str) -> list[str]:
    """Mutating requests answered since `before` that name (by id) a resource labeled for `cluster`.

    Left out: the run lock's marker (a placement group, taken whenever the run cannot tell at once
    that nothing will change, e.g. a slow readiness probe under load) and what the simulated cloud
    controller does to the load balancers it made for the cluster's Services; creates show up as
    ResourceCreated events instead."""
    sent = Counter(sim.counts.by_route) - before
    out = []
    for route in sent:
        method, path = route.split(" ", 1)
        parts = path.strip("/").split("/")
        if method == "GET" or parts[0] == "placement_groups" or len(parts) < 2 or not parts[1].isdigit():
            continue
        item = sim.inspect.find(parts[0], int(parts[1])) if parts[0] in KINDS else None
        if item is None or item.labels.get("khz-tui.io/cluster") == cluster:
            out.append(route)
    return sorted(out)


def bare_servers(sim: Simulator, cluster: str, firewall: str) -> set[str]:
    """The cluster's servers the simulator does not put behind `firewall` (directly or by selector)."""
    fws = [f for f in labeled(sim, "firewalls", cluster) if f.name == firewall]
    if not fws:
        return {s.name for s in labeled(sim, "servers", cluster)}
    return {s.name for s in labeled(sim, "servers", cluster) if fws[0].id not in s.firewalls}


def by_selector(sim: Simulator, cluster: str, firewall: str) -> bool:
    (fw,) = [f for f in labeled(sim, "firewalls", cluster) if f.name == firewall]
    return bool(fw.applied_to_selectors)


async def test_a_deleted_firewall_is_recreated_on_every_server_and_on_servers_added_later(make_plan, tmp_path) -> None:
    plan = make_plan("fwgone", cp=1, workers=1, lb=False)
    async with Simulator(time_scale=TIME_SCALE, seed=27) as sim:
        first, _ = await apply(plan, sim)
        assert first.ok, first.message
        assert bare_servers(sim, "fwgone", "fwgone") == set()
        await asyncio.to_thread(delete_firewall, sim, tmp_path, "fwgone")
        assert labeled(sim, "firewalls", "fwgone") == []

        lines = await dry_run(plan, sim)
        assert [(c.action, c.resource_type, c.name) for c in lines] == [("create", "firewall", "fwgone")]

        second, events = await apply(plan, sim)
        assert second.ok, second.message
        assert [(e.resource_type, e.name) for e in events if e.kind == "ResourceCreated"] == [("firewall", "fwgone")]
        assert bare_servers(sim, "fwgone", "fwgone") == set(), "the new firewall protects every server"
        assert by_selector(sim, "fwgone", "fwgone")

        grown = make_plan("fwgone", cp=1, workers=2, lb=False)
        third, _ = await apply(grown, sim)
        assert third.ok, third.message
        names = {s.name for s in labeled(sim, "servers", "fwgone")}
        assert "fwgone-default-2" in names and bare_servers(sim, "fwgone", "fwgone") == set(), "a node added later is covered"

        assert await dry_run(grown, sim) == []
        before = Counter(sim.counts.by_route)
        fourth, events = await apply(grown, sim)
        assert fourth.ok and writes(sim, before, "fwgone") == [], "a covered cluster's rerun changes nothing"
        assert not [e for e in events if e.kind in ("ResourceCreated", "ResourceDeleted")]


async def test_a_firewall_off_a_server_is_applied_by_selector_again(make_plan, tmp_path) -> None:
    plan = make_plan("fwoff", cp=1, workers=2, lb=False)
    async with Simulator(time_scale=TIME_SCALE, seed=28) as sim:
        first, _ = await apply(plan, sim)
        assert first.ok, first.message
        ids = {s.name: s.id for s in labeled(sim, "servers", "fwoff")}
        await asyncio.to_thread(apply_directly, sim, tmp_path, "fwoff", [ids["fwoff-cp-1"], ids["fwoff-default-1"]])
        assert bare_servers(sim, "fwoff", "fwoff") == {"fwoff-default-2"}

        lines = await dry_run(plan, sim)
        assert [(c.action, c.resource_type, c.name) for c in lines] == [("change", "firewall", "fwoff")]
        assert "not applied to fwoff-default-2" in lines[0].detail and lines[0].detail.endswith("repaired by apply")

        second, events = await apply(plan, sim)
        assert second.ok, second.message
        assert bare_servers(sim, "fwoff", "fwoff") == set() and by_selector(sim, "fwoff", "fwoff")
        repaired = [(e.node, e.repair) for e in events if e.kind == "NodeRepaired"]
        assert repaired == [("fwoff-default-2", "firewall-reapplied")], repaired
        assert await dry_run(plan, sim) == []


async def test_a_detached_volume_is_attached_again(make_plan, tmp_path) -> None:
    plan = make_plan("vol", cp=1, workers=1, lb=False, storage={"volumes": [{"name": "data", "size_gb": 10, "pool": "default"}]})
    async with Simulator(time_scale=TIME_SCALE, seed=29) as sim:
        first, _ = await apply(plan, sim)
        assert first.ok, first.message
        (volume,) = labeled(sim, "volumes", "vol")
        worker = sim.inspect.server("vol-default-1").id
        assert volume.server == worker
        await asyncio.to_thread(detach_volume, sim, tmp_path, "vol-data-1")
        assert sim.inspect.volume("vol-data-1").server is None

        lines = await dry_run(plan, sim)
        assert [(c.action, c.resource_type, c.name, c.detail) for c in lines] == [
            ("change", "volume", "vol-data-1", "attached to: detached (plan: vol-default-1); repaired by apply")]

        second, _ = await apply(plan, sim)
        assert second.ok, second.message
        volume = sim.inspect.volume("vol-data-1")
        assert volume.server == worker and volume.automount is True
        assert await dry_run(plan, sim) == []


async def test_another_load_balancer_type_is_reported_by_both(make_plan) -> None:
    # The simulator has no change_type action; a plan asking for another type than the cloud holds
    # is the same comparison.
    plan = make_plan("lbt", cp=1, workers=0, lb=True)
    async with Simulator(time_scale=TIME_SCALE, seed=30) as sim:
        first, _ = await apply(plan, sim)
        assert first.ok, first.message
        bigger = make_plan("lbt", cp=1, workers=0, load_balancer={"enabled": True, "type": "lb21"})
        lines = await dry_run(bigger, sim)
        assert [(c.action, c.resource_type, c.name, c.detail) for c in lines] == [
            ("change", "load balancer", "lbt-api", "type: lb11 (plan: lb21); not changed by apply")]
        before = Counter(sim.counts.by_route)
        second, events = await apply(bigger, sim)
        assert second.ok, second.message
        assert [(e.resource_type, e.field, e.actual, e.expected) for e in events if e.kind == "DriftDetected"] == [
            ("load balancer", "type", "lb11", "lb21")]
        (lb,) = labeled(sim, "load_balancers", "lbt")
        assert lb.type == "lb11" and writes(sim, before, "lbt") == []
        assert not [e for e in events if e.kind in ("ResourceCreated", "ResourceDeleted")]


async def test_a_server_off_the_network_is_shown_as_attached_again_by_apply(make_plan, tmp_path) -> None:
    plan = make_plan("offnet", cp=1, workers=1, lb=False)
    async with Simulator(time_scale=TIME_SCALE, seed=32) as sim:
        first, _ = await apply(plan, sim)
        assert first.ok, first.message
        await asyncio.to_thread(detach_from_network, sim, tmp_path, "offnet-default-1", "offnet")
        (server,) = [s for s in labeled(sim, "servers", "offnet") if s.name == "offnet-default-1"]
        assert server.private_net == ()
        lines = await dry_run(plan, sim)
        assert [(c.action, c.resource_type, c.name, c.detail) for c in lines] == [
            ("change", "server", "offnet-default-1", "network: not attached (plan: attached to network offnet); repaired by apply")]


def _touched(sim: Simulator, routes: list[str]) -> set[tuple[str, str]]:
    """(resource type, name) of every resource a mutating request named by id."""
    kinds = {"firewalls": "firewall", "volumes": "volume", "servers": "server", "load_balancers": "load balancer",
             "networks": "network"}
    out = set()
    for route in routes:
        path = route.split(" ", 1)[1]
        parts = path.strip("/").split("/")
        if parts[0] not in kinds or len(parts) < 2:
            continue
        item = sim.inspect.find(parts[0], int(parts[1]))
        out.add((kinds[parts[0]], item.name if item else f"#{parts[1]}"))
    return out


async def test_dry_run_shows_every_change_apply_makes_on_a_drifted_cluster(make_plan, tmp_path) -> None:
    volumes = {"volumes": [{"name": "data", "size_gb": 10, "pool": "default"}]}
    plan = make_plan("both", cp=1, workers=1, lb=True, storage=volumes)
    async with Simulator(time_scale=TIME_SCALE, seed=33) as sim:
        first, _ = await apply(plan, sim)
        assert first.ok, first.message
        ids = {s.name: s.id for s in labeled(sim, "servers", "both")}
        await asyncio.to_thread(apply_directly, sim, tmp_path, "both", [ids["both-cp-1"]])
        await asyncio.to_thread(detach_volume, sim, tmp_path, "both-data-1")
        hc = hclient(sim)
        fw = await asyncio.to_thread(hc.firewalls.get_by_name, "both")
        rules = [r for r in fw.rules if r.port != "6443"] + [
            FirewallRule(direction="in", protocol="tcp", port="6443", source_ips=["0.0.0.0/0"])]
        for action in await asyncio.to_thread(hc.firewalls.set_rules, fw, rules):
            await asyncio.to_thread(action.wait_until_finished, 100)
        drifted = make_plan("both", cp=1, workers=1, load_balancer={"enabled": True, "type": "lb21"}, storage=volumes)

        lines = await dry_run(drifted, sim)
        repaired = {(c.resource_type, c.name) for c in lines if c.detail.endswith("repaired by apply")}
        reported = {(c.resource_type, c.name, c.detail) for c in lines if c.detail.endswith("not changed by apply")}
        assert repaired == {("firewall", "both"), ("volume", "both-data-1")}
        assert {(t, n) for t, n, _ in reported} == {("firewall", "both"), ("load balancer", "both-api")}
        assert len(lines) == len(repaired) + len(reported), [c for c in lines]

        before = Counter(sim.counts.by_route)
        second, events = await apply(drifted, sim)
        assert second.ok, second.message
        sent = writes(sim, before, "both")
        assert _touched(sim, sent) == repaired, sent
        assert not [e for e in events if e.kind in ("ResourceCreated", "ResourceDeleted")]
        assert all(r.split(" ")[1].split("/")[1] in ("firewalls", "volumes") for r in sent), sent
        said = {(e.resource_type, e.name, f"{e.field}: {e.actual} (plan: {e.expected}); not changed by apply")
                for e in events if e.kind == "DriftDetected"}
        assert said == reported

        assert bare_servers(sim, "both", "both") == set()
        (volume,) = labeled(sim, "volumes", "both")
        assert volume.server == ids["both-default-1"]
        after = await dry_run(drifted, sim)
        assert {(c.resource_type, c.name, c.detail) for c in after} == reported, "only what apply leaves is left"
