"""`sim.inspect`: what tests read of the simulated cloud, as typed snapshots, from any thread."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pytest
from hcloud import Client
from hcloud.firewalls.domain import FirewallResource, FirewallResourceLabelSelector, FirewallRule
from hcloud.load_balancer_types.domain import LoadBalancerType
from hcloud.load_balancers.domain import LoadBalancerService, LoadBalancerTarget, LoadBalancerTargetLabelSelector
from hcloud.locations.domain import Location
from hcloud.servers.domain import Server

from khz_tui.sim.simulator import Simulator


def test_servers_by_name_selector_and_id_are_snapshots(api_client: Client, api_sim_thread: Simulator,
                                                       make_network: Callable[..., Any],
                                                       make_server: Callable[..., Any]) -> None:
    net = make_network(api_client)
    made = make_server(api_client, "cp-1", networks=[net], labels={"role": "cp"})
    make_server(api_client, "worker-1", labels={"role": "worker"})
    inspect = api_sim_thread.inspect  # this test runs outside the simulator's loop: reads go through it
    server = inspect.server("cp-1")
    assert (server.id, server.status, server.labels["role"]) == (made.id, "running", "cp")
    assert server.networks == (net.id,) and server.private_ip(net.id) == made.private_net[0].ip
    assert [s.name for s in inspect.servers("role in (cp,worker)")] == ["cp-1", "worker-1"]
    assert [s.name for s in inspect.servers("role=worker")] == ["worker-1"]
    assert inspect.find("servers", made.id) == server and inspect.find("servers", 1) is None
    assert inspect.ids("servers") == {made.id, inspect.server("worker-1").id}
    with pytest.raises(dataclasses.FrozenInstanceError):
        server.status = "off"  # type: ignore[misc]
    with pytest.raises(TypeError):
        server.labels["role"] = "other"  # type: ignore[index]
    api_client.servers.power_off(Server(id=made.id)).wait_until_finished()
    assert server.status == "running" and inspect.server("cp-1").status == "off", "a snapshot; ask again"
    with pytest.raises(LookupError, match="no server named 'cp-9'"):
        inspect.server("cp-9")


def test_firewalls_say_where_they_apply_and_servers_which_apply(api_client: Client, api_sim_thread: Simulator,
                                                                make_server: Callable[..., Any]) -> None:
    one = make_server(api_client, "a", labels={"fw": "yes"})
    two = make_server(api_client, "b")
    rule = FirewallRule(direction="in", protocol="tcp", port="22", source_ips=["198.51.100.0/24"])
    created = api_client.firewalls.create(name="fw", rules=[rule], resources=[
        FirewallResource(type="label_selector", label_selector=FirewallResourceLabelSelector(selector="fw=yes"))])
    for action in created.actions:
        action.wait_until_finished()
    fw = created.firewall
    for action in api_client.firewalls.apply_to_resources(fw, [FirewallResource(type="server", server=Server(id=two.id))]):
        action.wait_until_finished()
    seen = api_sim_thread.inspect.firewall("fw")
    assert seen.applied_to_selectors == ("fw=yes",) and seen.applied_to_servers == (two.id,)
    assert seen.servers == (one.id, two.id)
    assert [(r.direction, r.protocol, r.port, r.source_ips) for r in seen.rules] == [
        ("in", "tcp", "22", ("198.51.100.0/24",))]
    assert api_sim_thread.inspect.server("a").firewalls == (seen.id,)


def test_load_balancer_backends_and_actions(api_client: Client, api_sim_thread: Simulator,
                                            make_network: Callable[..., Any], make_server: Callable[..., Any]) -> None:
    net = make_network(api_client)
    cp = make_server(api_client, "cp-1", networks=[net], labels={"role": "cp"})
    made = api_client.load_balancers.create(
        name="api", load_balancer_type=LoadBalancerType(name="lb11"), location=Location(name="nbg1"), network=net,
        services=[LoadBalancerService(protocol="tcp", listen_port=6443, destination_port=6443)],
        targets=[LoadBalancerTarget(type="label_selector", label_selector=LoadBalancerTargetLabelSelector(selector="role=cp"),
                                    use_private_ip=True)])
    made.action.wait_until_finished()
    inspect = api_sim_thread.inspect
    lb = inspect.load_balancer("api")
    assert [(s.listen_port, s.destination_port) for s in lb.services] == [(6443, 6443)]
    assert (lb.targets[0].label_selector, lb.targets[0].use_private_ip) == ("role=cp", True)
    assert [s.id for s in inspect.backends("api")] == [cp.id]
    assert [a.command for a in inspect.actions("servers", cp.id)][:2] == ["create_server", "start_server"]
    assert [a.command for a in inspect.actions("load_balancers")] == ["create_load_balancer"]
    assert all(a.status == "success" and a.error is None for a in inspect.actions())


def test_an_api_only_simulator_has_no_machines_to_inspect(api_sim_thread: Simulator) -> None:
    with pytest.raises(LookupError, match="only record calls"):
        api_sim_thread.inspect.k3s_clusters()


async def test_no_servers_hold_no_cluster(sim: Simulator) -> None:
    assert sim.inspect.k3s_clusters() == [] and sim.inspect.k3s_clusters(set()) == []
    assert sim.inspect.machines() == []
    with pytest.raises(LookupError, match="no simulated machine"):
        sim.inspect.machine(100001)
