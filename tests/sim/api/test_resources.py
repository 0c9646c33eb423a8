"""Resource conformance through the pinned hcloud-python client over real HTTP."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import asyncssh
from hcloud import Client
from hcloud.firewalls.domain import FirewallResource, FirewallResourceLabelSelector, FirewallRule
from hcloud.images.domain import Image
from hcloud.load_balancer_types.domain import LoadBalancerType
from hcloud.load_balancers.domain import (
    LoadBalancerHealthCheck,
    LoadBalancerService,
    LoadBalancerTarget,
    LoadBalancerTargetLabelSelector,
)
from hcloud.locations.domain import Location
from hcloud.networks.domain import NetworkSubnet
from hcloud.placement_groups.domain import PlacementGroup
from hcloud.server_types.domain import ServerType

from khz_tui.sim.simulator import Simulator


def test_catalog_is_served(api_client: Client) -> None:
    types = api_client.server_types.get_all()
    assert {"cx23", "cax11", "ccx13"} <= {t.name for t in types}
    assert all(loc.available is not None for t in types for loc in t.locations)
    assert {loc.name for loc in api_client.locations.get_all()} == {"fsn1", "nbg1", "hel1", "ash", "hil", "sin"}
    arm = api_client.images.get_by_name_and_architecture("ubuntu-24.04", "arm")
    assert arm.architecture == "arm"
    assert api_client.load_balancer_types.get_by_name("lb11").max_targets == 25
    datacenter = api_client.request("GET", "/datacenters", params={"name": "nbg1-dc3"})["datacenters"][0]
    assert datacenter["location"]["name"] == "nbg1"
    pricing = api_client.request("GET", "/pricing")["pricing"]
    assert pricing["currency"] == "EUR" and pricing["server_types"]


def test_server_lifecycle_with_network_keys_and_labels(api_client: Client, api_sim_thread: Simulator, make_network: Callable[..., Any], make_server: Callable[..., Any]) -> None:
    public_key = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode()
    key = api_client.ssh_keys.create(name="admin", public_key=public_key)
    assert len(key.fingerprint.split(":")) == 16
    net = make_network(api_client)
    group = api_client.placement_groups.create(name="spread", type="spread").placement_group
    server = make_server(
        api_client, "cp-1", ssh_keys=[key], networks=[net], labels={"role": "cp"}, placement_group=group,
        user_data="#cloud-config\n",
    )
    assert server.status == "running"
    assert server.private_net[0].ip == "10.0.1.2"  # .1 is the gateway
    assert server.public_net.ipv4.ip and server.public_net.ipv6.ip.endswith("/64")
    assert server.placement_group.id == group.id
    assert [s.name for s in api_client.servers.get_all(label_selector="role=cp")] == ["cp-1"]
    assert api_client.servers.get_all(label_selector="role!=cp") == []
    assert api_client.servers.get_by_name("cp-1").id == server.id
    booted = api_sim_thread.nodes.booted[server.id]
    assert booted.authorized_keys == [public_key.strip()] and booted.private_ips == {net.id: "10.0.1.2"}

    server.power_off().wait_until_finished()
    assert api_client.servers.get_by_id(server.id).status == "off"
    server.power_on().wait_until_finished()
    server.reboot().wait_until_finished()
    assert [c[0] for c in api_sim_thread.nodes.calls] == ["boot", "power_off", "boot", "reboot"]

    server.update(labels={"role": "worker"})
    assert api_client.servers.get_all(label_selector="role in (worker)")[0].id == server.id
    server.delete().wait_until_finished()
    assert api_client.servers.get_all() == []
    assert api_sim_thread.nodes.calls[-1] == ("remove", server.id)


def test_network_attach_detach_and_subnets(api_client: Client, api_sim_thread: Simulator, make_network: Callable[..., Any], make_server: Callable[..., Any]) -> None:
    net = make_network(api_client)
    server = make_server(api_client, "w-1")
    server.attach_to_network(net).wait_until_finished()
    assert api_client.servers.get_by_id(server.id).private_net[0].ip == "10.0.1.2"
    # Same zone: Hetzner's Networks FAQ, "All subnets within a Network also have to be from the same network zone."
    api_client.networks.add_subnet(net, NetworkSubnet(type="cloud", ip_range="10.0.2.0/24", network_zone="eu-central")).wait_until_finished()
    assert len(api_client.networks.get_by_id(net.id).subnets) == 2
    server.detach_from_network(net).wait_until_finished()
    assert api_client.servers.get_by_id(server.id).private_net == []
    assert ("networks_changed", (server.id, {})) in api_sim_thread.nodes.calls


def test_load_balancer_with_label_selector_and_private_ips(api_client: Client, api_sim_thread: Simulator, make_network: Callable[..., Any], make_server: Callable[..., Any]) -> None:
    net = make_network(api_client)
    servers = [make_server(api_client, f"cp-{i}", networks=[net], labels={"role": "cp"}) for i in range(2)]
    service = LoadBalancerService(
        protocol="tcp", listen_port=6443, destination_port=6443, proxyprotocol=False,
        health_check=LoadBalancerHealthCheck(protocol="tcp", port=6443, interval=15, timeout=10, retries=3),
    )
    created = api_client.load_balancers.create(
        name="api", load_balancer_type=LoadBalancerType(name="lb11"), location=Location(name="nbg1"), network=net,
    )
    created.action.wait_until_finished()
    lb = api_client.load_balancers.get_by_id(created.load_balancer.id)
    lb.add_service(service).wait_until_finished()
    selector = LoadBalancerTargetLabelSelector(selector="role=cp")
    lb.add_target(LoadBalancerTarget(type="label_selector", label_selector=selector, use_private_ip=True)).wait_until_finished()
    lb = api_client.load_balancers.get_by_id(lb.id)
    assert lb.private_net[0].ip == "10.0.1.4"
    assert sorted(t.server.id for t in lb.targets[0].targets) == sorted(s.id for s in servers)
    cloud = api_sim_thread.cloud  # the CloudView the simulated machines ask
    assert cloud.load_balancer_backends(lb.private_net[0].ip, 6443) == sorted(s.id for s in servers)
    assert cloud.load_balancer_backends(lb.public_net.ipv4.ip, 6443) == sorted(s.id for s in servers)
    assert cloud.load_balancer_backends(lb.private_net[0].ip, 80) is None
    lb.remove_target(LoadBalancerTarget(type="label_selector", label_selector=selector)).wait_until_finished()
    assert cloud.load_balancer_backends(lb.private_net[0].ip, 6443) == []
    lb.delete()
    assert api_client.load_balancers.get_all() == []


def test_volume_and_firewall(api_client: Client, make_server: Callable[..., Any]) -> None:
    server = make_server(api_client, "w-1", labels={"role": "worker"})
    created = api_client.volumes.create(size=10, name="data", server=server, automount=True, format="ext4")
    created.action.wait_until_finished()
    for action in created.next_actions:
        action.wait_until_finished()
    volume = api_client.volumes.get_by_name("data")
    assert volume.server.id == server.id and volume.linux_device.endswith(f"HC_Volume_{volume.id}")
    volume.detach().wait_until_finished()
    volume.delete()

    rule = FirewallRule(direction="in", protocol="tcp", port="22", source_ips=["0.0.0.0/0"])
    selector = FirewallResource(type="label_selector", label_selector=FirewallResourceLabelSelector(selector="role=worker"))
    response = api_client.firewalls.create(name="fw", rules=[rule], resources=[selector])
    for action in response.actions:
        action.wait_until_finished()
    firewall = api_client.firewalls.get_by_name("fw")
    assert firewall.applied_to[0].applied_to_resources[0].server.id == server.id
    assert api_client.servers.get_by_id(server.id).public_net.firewalls[0].firewall.id == firewall.id
    icmp = FirewallRule(direction="in", protocol="icmp", source_ips=["0.0.0.0/0", "::/0"])
    for action in firewall.set_rules([rule, icmp]):
        action.wait_until_finished()
    for action in firewall.remove_from_resources([selector]):
        action.wait_until_finished()
    assert firewall.delete() is True


def test_pagination_past_fifty(api_client: Client) -> None:
    for i in range(60):
        api_client.placement_groups.create(name=f"pg-{i:02}", type="spread", labels={"batch": "a" if i % 2 else "b"})
    assert len(api_client.placement_groups.get_all()) == 60
    page = api_client.placement_groups.get_list(page=2, per_page=50)
    assert len(page.placement_groups) == 10
    meta = page.meta.pagination
    assert (meta.page, meta.per_page, meta.previous_page, meta.next_page, meta.last_page, meta.total_entries) == (2, 50, 1, None, 2, 60)
    assert len(api_client.placement_groups.get_list().placement_groups) == 25  # default per_page
    assert api_client.placement_groups.get_list(per_page=500).meta.pagination.per_page == 50
    assert len(api_client.placement_groups.get_all(label_selector="batch=a")) == 30
    assert isinstance(api_client.placement_groups.get_by_name("pg-07"), object)
    assert api_client.placement_groups.get_by_name("pg-07").name == "pg-07"
    assert PlacementGroup  # imported type is the one the client returns
    assert type(api_client.placement_groups.get_by_name("pg-07").data_model) is PlacementGroup


def test_actions_progress_and_bulk_read(api_client: Client) -> None:
    first = api_client.servers.create(name="a", server_type=ServerType(name="cx23"), image=Image(name="ubuntu-24.04"))
    second = api_client.servers.create(name="b", server_type=ServerType(name="cx23"), image=Image(name="ubuntu-24.04"))
    ids = [first.action.id, second.action.id]
    bulk = api_client.request("GET", "/actions", params={"id": ids})["actions"]
    assert [a["id"] for a in bulk] == ids and all(a["command"] == "create_server" for a in bulk)
    first.action.wait_until_finished()
    second.action.wait_until_finished()
    done = api_client.actions.get_by_id(first.action.id)
    assert done.status == "success" and done.progress == 100 and done.finished is not None
    per_server = api_client.servers.get_actions(api_client.servers.get_by_id(first.server.id))
    assert {a.command for a in per_server} >= {"create_server"}
