"""A delete of something already gone (`Cloud.delete`, engine/cloud/cloud_base.py): it succeeds, and no
`ResourceDeleted` is emitted, since the run did not delete it. One rule for every kind, and one behaviour
on every path that deletes a server: destroy, scale-down, and apply recreating a server whose create
failed. Against the simulator: the resource is deleted behind the engine's back, through the API, at the
moment the engine is about to delete it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hcloud import Client
from hcloud.images.domain import Image
from hcloud.load_balancer_types.domain import LoadBalancerType
from hcloud.locations.domain import Location
from hcloud.server_types.domain import ServerType
from support.simulator import target_of

from khz_tui.engine.api import run
from khz_tui.engine.bus import EventBus
from khz_tui.engine.cloud.client import CloudClient
from khz_tui.engine.cloud.cloud_base import DeletableKind
from khz_tui.engine.cloud.facade import Cloud
from khz_tui.engine.cloud.names import cluster_labels
from khz_tui.engine.events import EngineEvent, NodePhaseChanged, NodeRepaired, RunFinished
from khz_tui.engine.options import RunOptions
from khz_tui.plan.model import ClusterPlan
from khz_tui.sim.faults import FaultProfile, _uniform
from khz_tui.sim.simulator import Simulator, SimulatorThread, recording_node_host

TIME_SCALE = 0.02


def hclient(sim: Simulator) -> Client:
    return Client(token=sim.token, api_endpoint=sim.endpoint, poll_interval=0.02, timeout=10)


def make(hc: Client, kind: DeletableKind, name: str, public_key: str) -> Any:
    """One resource of `kind` made through the API, as anyone could (its create finished)."""
    here = Location(name="nbg1")
    if kind == "server":
        created = hc.servers.create(name=name, server_type=ServerType(name="cx23"), image=Image(name="ubuntu-24.04"),
                                    location=here)
        for action in [created.action, *created.next_actions]:
            action.wait_until_finished(max_retries=500)
        return created.server
    if kind == "volume":
        volume = hc.volumes.create(size=10, name=name, location=here)
        volume.action.wait_until_finished(max_retries=500)
        return volume.volume
    if kind == "load balancer":
        lb = hc.load_balancers.create(name=name, load_balancer_type=LoadBalancerType(name="lb11"), location=here)
        lb.action.wait_until_finished(max_retries=500)
        return lb.load_balancer
    if kind == "network":
        return hc.networks.create(name=name, ip_range="10.9.0.0/16")
    if kind == "firewall":
        return hc.firewalls.create(name=name).firewall
    if kind == "placement group":
        return hc.placement_groups.create(name=name, type="spread").placement_group
    return hc.ssh_keys.create(name=name, public_key=public_key)


def delete_through_the_api(hc: Client, kind: DeletableKind, resource: Any) -> None:
    """Delete `resource` through the API and wait until it is gone."""
    sub = {"server": hc.servers, "volume": hc.volumes, "load balancer": hc.load_balancers, "network": hc.networks,
           "firewall": hc.firewalls, "placement group": hc.placement_groups, "ssh key": hc.ssh_keys}[kind]
    answer = sub.delete(resource)
    action = getattr(answer, "action", answer)
    if hasattr(action, "wait_until_finished"):
        action.wait_until_finished(max_retries=500)


KINDS: list[DeletableKind] = ["server", "volume", "load balancer", "network", "firewall", "placement group", "ssh key"]


@pytest.mark.parametrize("kind", KINDS)
async def test_a_delete_of_something_already_gone_succeeds_without_an_event(api_sim, make_plan, kind) -> None:
    plan = make_plan("gone", cp=1, lb=False)
    public = Path(plan.ssh.public_key).read_text(encoding="utf-8").strip()
    hc = hclient(api_sim)
    events: list[EngineEvent] = []
    bus = EventBus(events.append)
    client = CloudClient(api_sim.endpoint, api_sim.token, bus.usage)
    try:
        cloud = Cloud(client, bus, plan)
        gone = await asyncio.to_thread(make, hc, kind, "gone-one", public)
        await asyncio.to_thread(delete_through_the_api, hc, kind, gone)
        assert await cloud.delete(kind, gone) is False
        assert [e for e in events if e.kind == "ResourceDeleted"] == []

        there = await asyncio.to_thread(make, hc, kind, "gone-two", public)
        assert await cloud.delete(kind, there) is True
        deleted = [(e.resource_type, e.name, e.id) for e in events if e.kind == "ResourceDeleted"]
        assert deleted == [(kind, "gone-two", there.id)], "one event for the one delete this run made"
    finally:
        client.close()


class DeleteOnCue:
    """An event sink that keeps every event and, at the first one `cue` picks, deletes server `name`
    through the API and waits until it is gone. The simulator runs on its own thread, so the engine
    (blocked in this sink) sends its own delete only once the server is gone."""

    def __init__(self, sim: Simulator, name: str, cue: Callable[[EngineEvent], bool]) -> None:
        self.sim, self.name, self.cue = sim, name, cue
        self.events: list[EngineEvent] = []
        self.deleted_id: int | None = None

    def __call__(self, event: EngineEvent) -> None:
        self.events.append(event)
        if self.deleted_id is None and self.cue(event):
            hc = hclient(self.sim)
            server = hc.servers.get_by_name(self.name)
            assert server is not None, f"server {self.name} should still be there at the cue"
            delete_through_the_api(hc, "server", server)
            assert hc.servers.get_by_name(self.name) is None
            self.deleted_id = server.id

    def of(self, kind: str) -> list[Any]:
        return [e for e in self.events if e.kind == kind]


async def engine(mode: str, plan: ClusterPlan, sim: Simulator, sink: Callable[[EngineEvent], None]) -> RunFinished:
    async def yes(question: str) -> bool:
        return True

    return await run(mode, plan, target_of(sim), sink=sink, confirm=yes, options=RunOptions())


def about_to_delete(node: str) -> Callable[[EngineEvent], bool]:
    return lambda e: isinstance(e, NodePhaseChanged) and e.node == node and e.phase == "deleting"


def servers_of(sim: Simulator, cluster: str) -> list[str]:
    return sorted(s.name or "" for s in hclient(sim).servers.get_all(label_selector=f"khz-tui.io/cluster={cluster}"))


async def test_destroy_counts_a_server_already_gone_as_deleted_without_an_event(make_plan) -> None:
    plan = make_plan("dg", cp=3, lb=False)
    with SimulatorThread(time_scale=TIME_SCALE, seed=3, node_host_factory=recording_node_host) as sim:
        hc = hclient(sim)
        for i in (1, 2):  # what is left of the cluster, as far as destroy needs: two labeled control planes
            created = hc.servers.create(
                name=f"dg-cp-{i}", server_type=ServerType(name="cx23"), image=Image(name="ubuntu-24.04"),
                location=Location(name="nbg1"), labels=cluster_labels("dg", role="control-plane"))
            for action in [created.action, *created.next_actions]:
                action.wait_until_finished(max_retries=500)
        sink = DeleteOnCue(sim, "dg-cp-2", about_to_delete("dg-cp-2"))
        finished = await engine("destroy", plan, sim, sink)
        assert finished.ok, finished.message
        assert sink.deleted_id is not None
        assert [(e.resource_type, e.name) for e in sink.of("ResourceDeleted") if e.resource_type == "server"] == [
            ("server", "dg-cp-1")], "only the server this run deleted is reported deleted"
        assert sorted(e.node for e in sink.of("NodePhaseChanged") if e.phase == "deleted") == ["dg-cp-1", "dg-cp-2"]
        assert servers_of(sim, "dg") == []


async def test_scale_down_counts_a_server_already_gone_as_deleted_without_an_event(make_plan) -> None:
    with SimulatorThread(time_scale=TIME_SCALE, seed=4) as sim:
        first = await engine("apply", make_plan("sg", cp=1, workers=2, lb=False), sim, lambda e: None)
        assert first.ok, first.message
        sink = DeleteOnCue(sim, "sg-default-2", about_to_delete("sg-default-2"))
        finished = await engine("apply", make_plan("sg", cp=1, workers=1, lb=False), sim, sink)
        assert finished.ok, (finished.failed_step, finished.message)
        assert sink.deleted_id is not None
        assert sink.of("ResourceDeleted") == [], "the run deleted nothing: the server was gone already"
        assert [(e.node, e.phase) for e in sink.of("NodePhaseChanged") if e.phase in ("deleting", "deleted")] == [
            ("sg-default-2", "deleting"), ("sg-default-2", "deleted")]
        assert servers_of(sim, "sg") == ["sg-cp-1", "sg-default-1"]


def _seed_failing_first_create_only(name: str, others: list[str], chance: float) -> int:
    """A seed whose first create of `name` fails and whose second succeeds, while the first create of
    each of `others` succeeds (the dice are public)."""
    for seed in range(1000):
        if (_uniform(seed, "create", "server", name, 0) < chance <= _uniform(seed, "create", "server", name, 1)
                and all(chance <= _uniform(seed, "create", "server", other, 0) for other in others)):
            return seed
    raise AssertionError("no such seed below 1000")


async def test_a_broken_server_already_gone_is_created_again_without_a_delete_event(make_plan) -> None:
    name = "rg-default-1"
    faults = FaultProfile(failed_create_probability=0.5)
    seed = _seed_failing_first_create_only(name, ["rg-cp-1"], 0.5)
    with SimulatorThread(time_scale=TIME_SCALE, seed=seed, faults=faults) as sim:
        def recreating(e: EngineEvent) -> bool:
            return isinstance(e, NodeRepaired) and e.node == name and e.repair == "server-recreated"

        sink = DeleteOnCue(sim, name, recreating)
        finished = await engine("apply", make_plan("rg", cp=1, workers=1, lb=False), sim, sink)
        assert finished.ok, (finished.failed_step, finished.message)
        assert sink.deleted_id is not None, "the first create failed and the server was deleted behind the engine"
        assert sink.of("ResourceDeleted") == [], "the broken server was gone already: the run deleted nothing"
        created = [e.id for e in sink.of("ResourceCreated") if e.name == name]
        assert len(created) == 2 and created[0] == sink.deleted_id, "created, found broken, created again"
        assert servers_of(sim, "rg") == ["rg-cp-1", name]
