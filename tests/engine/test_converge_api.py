"""Cloud-side convergence against the simulator's API (no SSH needed): find-or-create by label,
adopting only what is ours, dry-run without mutations, destroy exactly what is labeled."""

from __future__ import annotations

from pathlib import Path

import pytest
from hcloud import Client
from hcloud.networks.domain import NetworkSubnet

from khz_tui.engine.bus import EventBus
from khz_tui.engine.cloud.client import CloudClient, CloudError
from khz_tui.engine.cloud.facade import Cloud
from khz_tui.engine.cloud.inventory import discover
from khz_tui.engine.events import ResourceCreated, ResourceFound


async def converge_infrastructure(sim, plan) -> tuple[list, CloudClient]:
    events: list = []
    bus = EventBus(events.append)
    client = CloudClient(sim.endpoint, sim.token, bus.usage)
    inv = await discover(client, plan.name)
    public = Path(plan.ssh.public_key).read_text()
    cloud = Cloud(client, bus, plan, inv)
    await cloud.ensure_network()
    await cloud.ensure_firewall("127.0.0.1/32")
    await cloud.ensure_ssh_key(public)
    await cloud.ensure_placement_group(f"{plan.name}-cp")
    return events, client


async def test_infrastructure_is_created_once_then_found(api_sim, make_plan, labeled) -> None:
    plan = make_plan("infra", cp=1)
    events, client = await converge_infrastructure(api_sim, plan)
    assert sorted(e.resource_type for e in events if isinstance(e, ResourceCreated)) == [
        "firewall", "network", "placement group", "ssh key"]
    client.close()
    assert len(labeled(api_sim, "networks", "infra")) == 1
    firewall = labeled(api_sim, "firewalls", "infra")[0]
    sources = {r.port: r.source_ips for r in firewall.rules if r.protocol == "tcp"}
    assert sources["22"] == ("127.0.0.1/32",) and sources["6443"] == ("127.0.0.1/32",)
    assert all("0.0.0.0/0" not in r.source_ips for r in firewall.rules)

    before = api_sim.mutating_request_count
    events, client = await converge_infrastructure(api_sim, plan)
    client.close()
    assert api_sim.mutating_request_count == before, "a second converge must not mutate anything"
    assert {e.resource_type for e in events if isinstance(e, ResourceFound)} == {
        "firewall", "network", "placement group", "ssh key"}


async def test_a_foreign_look_alike_is_never_adopted(api_sim, make_plan) -> None:
    plan = make_plan("twin", cp=1)
    hc = Client(token=api_sim.token, api_endpoint=api_sim.endpoint)
    # Created by hand: same name, no labels. The engine must refuse rather than take it over.
    await __import__("asyncio").to_thread(
        hc.networks.create, name="twin", ip_range="10.0.0.0/16",
        subnets=[NetworkSubnet(type="cloud", ip_range="10.0.1.0/24", network_zone="eu-central")],
    )
    bus = EventBus(lambda e: None)
    client = CloudClient(api_sim.endpoint, api_sim.token, bus.usage)
    inv = await discover(client, plan.name)
    with pytest.raises(CloudError) as err:
        await Cloud(client, bus, plan, inv).ensure_network()
    client.close()
    assert err.value.code == "uniqueness_error"
    assert "not labeled for cluster 'twin'" in err.value.message


async def test_dry_run_makes_no_mutating_call(api_sim, make_plan, engine_run) -> None:
    plan = make_plan("dry", cp=3, workers=2, lb=False)
    before = api_sim.mutating_request_count
    out = await engine_run("dry-run", plan, api_sim)
    assert out.finished.ok, out.finished.message
    assert api_sim.mutating_request_count == before
    diffed = out.of("PlanDiffed")[0]
    creates = {(c.resource_type, c.name) for c in diffed.changes if c.action == "create"}
    assert ("server", "dry-cp-1") in creates and ("server", "dry-default-2") in creates
    assert float(diffed.monthly_cost_delta) > 0


async def test_destroy_deletes_only_labeled_resources_and_twice_is_a_no_op(api_sim, make_plan, engine_run, labeled) -> None:
    plan = make_plan("gone", cp=1)
    _, client = await converge_infrastructure(api_sim, plan)
    client.close()
    hc = Client(token=api_sim.token, api_endpoint=api_sim.endpoint)
    import asyncio

    await asyncio.to_thread(hc.placement_groups.create, name="gone-lookalike", type="spread")
    refused = await engine_run("destroy", plan, api_sim)
    assert not refused.finished.ok and refused.finished.bad_input
    assert labeled(api_sim, "networks", "gone"), "nothing may be deleted without confirmation"

    out = await engine_run("destroy", plan, api_sim, yes=True)
    assert out.finished.ok, out.finished.message
    for kind in ("servers", "networks", "firewalls", "ssh_keys", "placement_groups"):
        assert labeled(api_sim, kind, "gone") == [], kind
    assert [pg.name for pg in api_sim.inspect.placement_groups()] == ["gone-lookalike"]

    before = api_sim.mutating_request_count
    again = await engine_run("destroy", plan, api_sim, yes=True)
    assert again.finished.ok and "nothing to delete" in again.finished.message
    assert api_sim.mutating_request_count == before
