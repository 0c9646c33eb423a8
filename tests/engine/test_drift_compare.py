"""The one drift comparison (`khz_tui.engine.drift`) against the simulator's API (no SSH needed).

- A cluster made before khz-tui applied its firewall by label selector (applied to each server by id,
  one server left out): the firewall step adds the selector, every server is behind the firewall in
  the simulator, and the next run sends nothing.
- The run lock's question "will apply change anything?" reads the same lines dry-run shows: a line
  apply repairs needs the lock, a line it only reports does not.
- A firewall that has the selector but, as the API answers, still leaves a server out is a line apply
  cannot repair: the firewall step stops, naming the server.
"""

from __future__ import annotations

import asyncio

import pytest
from hcloud import Client
from hcloud.firewalls.client import BoundFirewall, FirewallsClient
from hcloud.firewalls.domain import FirewallResource, FirewallRule
from hcloud.images.domain import Image
from hcloud.locations.domain import Location
from hcloud.networks.domain import NetworkSubnet
from hcloud.server_types.domain import ServerType
from hcloud.servers.domain import Server

from khz_tui.engine import drift
from khz_tui.engine.apply.settled import acts_on
from khz_tui.engine.bus import EventBus
from khz_tui.engine.cloud import shared_resources
from khz_tui.engine.cloud.client import CloudClient, CloudError
from khz_tui.engine.cloud.facade import Cloud
from khz_tui.engine.cloud.inventory import discover
from khz_tui.engine.cloud.names import cluster_labels, cluster_selector
from khz_tui.engine.diff import compute_changes
from khz_tui.engine.requests import firewall_rules

CALLER = "127.0.0.1/32"


def build_old_cluster(sim, plan, *, direct: list[int]) -> dict[str, int]:
    """What an apply made before the label selector: network, firewall with the plan's rules applied
    to servers by id (only servers number `direct`), and two of its control-plane servers."""
    hc = Client(token=sim.token, api_endpoint=sim.endpoint, poll_interval=0.02)
    labels = cluster_labels(plan.name)
    hc.networks.create(name=plan.name, ip_range=plan.network.ip_range, labels=labels,
                       subnets=[NetworkSubnet(type="cloud", ip_range=plan.network.subnet, network_zone=plan.network.zone)])
    rules = firewall_rules(plan, CALLER)
    fw = hc.firewalls.create(name=plan.name, rules=rules, labels=labels).firewall
    ids = {}
    for i in (1, 2):
        name = f"{plan.name}-cp-{i}"
        created = hc.servers.create(
            name=name, server_type=ServerType(name=plan.control_plane.server_type), image=Image(name="ubuntu-24.04"),
            location=Location(name=plan.hcloud.location), networks=[hc.networks.get_by_name(plan.name)],
            labels=cluster_labels(plan.name, role="control-plane", pool="control-plane", index=str(i)),
        )
        created.action.wait_until_finished()
        ids[name] = created.server.id
    for i in direct:
        for action in hc.firewalls.apply_to_resources(fw, [FirewallResource(type="server", server=Server(id=ids[f"{plan.name}-cp-{i}"]))]):
            action.wait_until_finished()
    return ids


def covered(sim, cluster: str) -> dict[str, bool]:
    """Per server of the cluster: whether the simulator puts the cluster's firewall in front of it."""
    fw = sim.inspect.firewall(cluster)
    return {s.name: fw.id in s.firewalls for s in sim.inspect.servers(f"khz-tui.io/cluster={cluster}")}


async def test_an_old_clusters_firewall_gets_the_selector_and_covers_every_server(api_sim, make_plan) -> None:
    plan = make_plan("old", cp=3, lb=False)
    await asyncio.to_thread(build_old_cluster, api_sim, plan, direct=[1])
    assert covered(api_sim, "old") == {"old-cp-1": True, "old-cp-2": False}
    events: list = []
    bus = EventBus(events.append)
    client = CloudClient(api_sim.endpoint, api_sim.token, bus.usage)
    try:
        inv = await discover(client, plan.name)
        fw = await Cloud(client, bus, plan, inv).ensure_firewall(CALLER)
        assert drift.has_cluster_selector(fw, "old")
        assert covered(api_sim, "old") == {"old-cp-1": True, "old-cp-2": True}
        assert cluster_selector("old") in api_sim.inspect.firewall("old").applied_to_selectors
        repaired = [(e.node, e.repair) for e in events if e.kind == "NodeRepaired"]
        assert repaired == [("old-cp-2", "firewall-reapplied")], repaired

        before = api_sim.mutating_request_count
        inv = await discover(client, plan.name)
        await Cloud(client, bus, plan, inv).ensure_firewall(CALLER)
        assert api_sim.mutating_request_count == before, "a covered firewall is left alone"
    finally:
        client.close()


async def test_the_run_lock_reads_the_lines_dry_run_shows(api_sim, make_plan) -> None:
    plan = make_plan("lines", cp=3, lb=False)
    await asyncio.to_thread(build_old_cluster, api_sim, plan, direct=[1, 2])
    hc = Client(token=api_sim.token, api_endpoint=api_sim.endpoint, poll_interval=0.02)
    fw = await asyncio.to_thread(hc.firewalls.get_by_name, "lines")
    changed = [r for r in fw.rules if r.port != "22"] + [FirewallRule(direction="in", protocol="tcp", port="22", source_ips=["203.0.113.7/32"])]
    for action in await asyncio.to_thread(hc.firewalls.set_rules, fw, changed):
        await asyncio.to_thread(action.wait_until_finished)
    bus = EventBus(lambda e: None)
    client = CloudClient(api_sim.endpoint, api_sim.token, bus.usage)
    try:
        inv = await discover(client, plan.name)
    finally:
        client.close()
    lines = [c for c in compute_changes(plan, inv, ssh_key_known=True, caller_cidr=CALLER) if c.action == "change"]
    by_detail = {c.detail: acts_on(c) for c in lines}
    assert by_detail == {
        f"applied to: applied to each server by id, not to servers added later (plan: every server labeled "
        f"{cluster_selector('lines')}); repaired by apply": True,
        "rule in tcp port 22: from 203.0.113.7/32 (plan: from 127.0.0.1/32); not changed by apply": False,
    }


def _firewall_as_answered(applied_to: list[dict]) -> BoundFirewall:
    """A firewall as hcloud-python reads the API's JSON."""
    client = FirewallsClient(Client(token="unused"))
    return BoundFirewall(client, {"id": 7, "name": "held", "labels": {}, "rules": [], "applied_to": applied_to})


def test_a_firewall_leaving_a_labeled_server_out_is_not_repairable(make_plan) -> None:
    servers = {"held-cp-1": Server(id=1), "held-cp-2": Server(id=2)}
    selector = {"type": "label_selector", "label_selector": {"selector": cluster_selector("held")},
                "applied_to_resources": [{"type": "server", "server": {"id": 1}}]}
    (line,) = drift.firewall_coverage("held", _firewall_as_answered([selector]), servers)
    assert (line.kind, line.field, line.actual) == ("report", drift.APPLIED_TO, "not applied to held-cp-2")
    with pytest.raises(CloudError) as stopped:
        shared_resources._refuse_uncovered(make_plan("held"), _firewall_as_answered([selector]), [line])
    assert "held-cp-2" in stopped.value.message and stopped.value.code == "firewall_not_applied"

    (missing,) = drift.firewall_coverage("held", _firewall_as_answered([]), servers)
    assert (missing.kind, missing.actual) == ("change", "not applied to held-cp-1, held-cp-2")
    full = dict(selector, applied_to_resources=[{"type": "server", "server": {"id": i}} for i in (1, 2)])
    assert drift.firewall_coverage("held", _firewall_as_answered([full]), servers) == []

