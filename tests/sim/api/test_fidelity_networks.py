"""Networks as Hetzner's spec describes them, probed over HTTP (raw `requests` and hcloud-python).

Each test quotes the line of the official OpenAPI spec (or Hetzner's public docs) that it follows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
from hcloud import Client
from hcloud.load_balancer_types.domain import LoadBalancerType
from hcloud.locations.domain import Location
from hcloud.networks.domain import NetworkRoute, NetworkSubnet

from khz_tui.sim.api.config import Durations
from khz_tui.sim.simulator import Simulator, SimulatorThread, recording_node_host

SUBNET = {"type": "cloud", "ip_range": "10.0.1.0/24", "network_zone": "eu-central"}


def call(sim: Simulator, method: str, path: str, body: Any = None) -> requests.Response:
    """One authenticated request, as any HTTP client sends it."""
    return requests.request(method, f"{sim.endpoint}{path}", json=body, headers={"Authorization": f"Bearer {sim.token}"}, timeout=10)


def error_of(response: requests.Response) -> tuple[int, str, set[str]]:
    """(status, error code, names in details.fields) of an error response."""
    error = response.json()["error"]
    fields = {f["name"] for f in (error.get("details") or {}).get("fields", [])}
    return response.status_code, error["code"], fields


def new_network(sim: Simulator, name: str = "net", **extra: Any) -> dict[str, Any]:
    body = {"name": name, "ip_range": "10.0.0.0/16", "subnets": [SUBNET], **extra}
    response = call(sim, "POST", "/networks", body)
    assert response.status_code == 201, response.text
    return response.json()["network"]


@pytest.fixture
def slow_sim() -> Iterator[Simulator]:
    """Network changes last 10 s, so a second request surely meets the first one still running."""
    with SimulatorThread(time_scale=0.01, node_host_factory=recording_node_host, durations=Durations(network_change=1000.0)) as running:
        yield running


# ---- row 5: a change while another one runs is `conflict` ---------------------------------------

CHANGES = {
    "PUT": ("PUT", "", {"name": "renamed"}),
    "add_subnet": ("POST", "/actions/add_subnet", {"type": "cloud", "ip_range": "10.0.3.0/24", "network_zone": "eu-central"}),
    "delete_subnet": ("POST", "/actions/delete_subnet", {"ip_range": "10.0.2.0/24"}),
    "add_route": ("POST", "/actions/add_route", {"destination": "10.100.2.0/24", "gateway": "10.0.1.3"}),
    "delete_route": ("POST", "/actions/delete_route", {"destination": "10.100.1.0/24", "gateway": "10.0.1.2"}),
}


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_network_change_while_another_runs_is_conflict(slow_sim: Simulator, change: str) -> None:
    """`PUT /networks/{id}`, `add_subnet`, `delete_subnet`, `add_route`, `delete_route`: "If a change is
    currently being performed on this Network, a error response with code `conflict` will be
    returned." (409 `conflict`, not 423 `locked`.)"""
    net = new_network(slow_sim, routes=[{"destination": "10.100.1.0/24", "gateway": "10.0.1.2"}])
    running = call(slow_sim, "POST", f"/networks/{net['id']}/actions/add_subnet", {"type": "cloud", "ip_range": "10.0.2.0/24", "network_zone": "eu-central"})
    assert running.status_code == 201 and running.json()["action"]["status"] == "running"
    method, suffix, body = CHANGES[change]
    status, code, _ = error_of(call(slow_sim, method, f"/networks/{net['id']}{suffix}", body))
    assert (status, code) == (409, "conflict")


# ---- row 10: ip_range RFC 1918 only --------------------------------------------------------------


@pytest.mark.parametrize("ip_range", ["198.18.0.0/16", "127.0.0.0/16", "169.254.0.0/16"])
def test_network_ip_range_outside_rfc1918_is_invalid(api_sim_thread: Simulator, ip_range: str) -> None:
    """`POST /networks` `ip_range`: "Must be one of the private IPv4 ranges of RFC1918." Python's
    notion of private (which the simulator used) also takes 198.18/15, 127/8 and 169.254/16."""
    response = call(api_sim_thread, "POST", "/networks", {"name": "n", "ip_range": ip_range})
    assert error_of(response) == (422, "invalid_input", {"ip_range"})


def test_network_ip_range_rfc1918_boundaries(api_sim_thread: Simulator) -> None:
    """`ip_range`: "Must be one of the private IPv4 ranges of RFC1918. Minimum network size is /24."
    RFC 1918 section 3: 10/8, 172.16/12, 192.168/16, and nothing else."""
    for n, ip_range in enumerate(["10.0.0.0/8", "172.16.0.0/12", "172.31.0.0/16", "192.168.0.0/16", "192.168.7.0/24"]):
        response = call(api_sim_thread, "POST", "/networks", {"name": f"n{n}", "ip_range": ip_range})
        assert response.status_code == 201 and response.json()["network"]["ip_range"] == ip_range
    for ip_range in ["172.32.0.0/16", "100.64.0.0/16", "198.18.0.0/15", "192.168.7.0/25"]:
        assert error_of(call(api_sim_thread, "POST", "/networks", {"name": "x", "ip_range": ip_range}))[:2] == (422, "invalid_input")


# ---- row 11: one network zone per network ---------------------------------------------------------


def test_subnets_of_two_network_zones_are_refused(api_sim_thread: Simulator) -> None:
    """Hetzner's Networks FAQ (docs.hetzner.com/cloud/networks/faq): "All subnets within a Network
    also have to be from the same network zone." (The spec says nothing either way.)"""
    us = {"type": "cloud", "ip_range": "10.0.2.0/24", "network_zone": "us-east"}
    both = call(api_sim_thread, "POST", "/networks", {"name": "n", "ip_range": "10.0.0.0/16", "subnets": [SUBNET, us]})
    assert error_of(both) == (422, "invalid_input", {"subnets[1].network_zone"})
    net = new_network(api_sim_thread)
    added = call(api_sim_thread, "POST", f"/networks/{net['id']}/actions/add_subnet", us)
    assert error_of(added) == (422, "invalid_input", {"network_zone"})
    same_zone = call(api_sim_thread, "POST", f"/networks/{net['id']}/actions/add_subnet", {**us, "network_zone": "eu-central"})
    assert same_zone.status_code == 201


# ---- row 12: routes validated; add_route / delete_route --------------------------------------------

BAD_ROUTES = [
    # destination: "Must be one of * private IPv4 ranges of RFC1918 * or `0.0.0.0/0`."
    ({"destination": "8.8.8.0/24", "gateway": "10.0.1.2"}, "destination"),
    # "Must not overlap with * an existing ip_range in any subnets"
    ({"destination": "10.0.1.128/25", "gateway": "10.0.1.2"}, "destination"),
    # "* or with `172.31.1.1`."
    ({"destination": "172.31.0.0/16", "gateway": "10.0.1.2"}, "destination"),
    ({"destination": "not-a-cidr", "gateway": "10.0.1.2"}, "destination"),
    # gateway: "Cannot be * the first IP of the networks ip_range, ... or * `172.31.1.1`."
    ({"destination": "10.100.1.0/24", "gateway": "10.0.0.1"}, "gateway"),
    ({"destination": "10.100.1.0/24", "gateway": "172.31.1.1"}, "gateway"),
    ({"destination": "10.100.1.0/24", "gateway": "10.0.1"}, "gateway"),
    # required: [destination, gateway]
    ({"destination": "10.100.1.0/24"}, "gateway"),
]


@pytest.mark.parametrize(("route", "field"), BAD_ROUTES)
def test_invalid_routes_are_refused_at_create_and_add_route(api_sim_thread: Simulator, route: dict[str, str], field: str) -> None:
    """The spec's `routes[].destination` and `routes[].gateway` rules, for `POST /networks` and
    `POST /networks/{id}/actions/add_route` alike. Before, routes were stored as sent and
    hcloud-python then crashed listing the networks."""
    created = call(api_sim_thread, "POST", "/networks", {"name": "n", "ip_range": "10.0.0.0/16", "subnets": [SUBNET], "routes": [route]})
    assert error_of(created) == (422, "invalid_input", {f"routes[0].{field}"})
    net = new_network(api_sim_thread)
    added = call(api_sim_thread, "POST", f"/networks/{net['id']}/actions/add_route", route)
    assert error_of(added) == (422, "invalid_input", {field})


def test_route_destinations_must_not_overlap_and_subnets_must_avoid_them(api_sim_thread: Simulator) -> None:
    """destination: "Must not overlap with ... any destinations in other routes"; subnet `ip_range`:
    "Must not overlap with any other subnets or with any destinations in routes." """
    routes = [{"destination": "10.100.0.0/16", "gateway": "10.0.1.2"}, {"destination": "10.100.5.0/24", "gateway": "10.0.1.3"}]
    twice = call(api_sim_thread, "POST", "/networks", {"name": "n", "ip_range": "10.0.0.0/8", "subnets": [SUBNET], "routes": routes})
    assert error_of(twice) == (422, "invalid_input", {"routes[1].destination"})
    net = new_network(api_sim_thread, ip_range="10.0.0.0/8", routes=routes[:1])
    subnet = call(api_sim_thread, "POST", f"/networks/{net['id']}/actions/add_subnet", {"type": "cloud", "ip_range": "10.100.9.0/24", "network_zone": "eu-central"})
    assert error_of(subnet) == (422, "invalid_input", {"ip_range"})


def test_routes_via_hcloud_python_add_list_delete(api_client: Client, api_sim_thread: Simulator) -> None:
    """`add_route` ("Adds a route entry to a Network") and `delete_route` ("Delete a route entry from a
    Network") exist in the spec; hcloud-python lists networks that carry routes (it builds a
    `NetworkRoute(destination, gateway)` from each)."""
    subnet = NetworkSubnet(type="cloud", ip_range="10.0.1.0/24", network_zone="eu-central")
    default = NetworkRoute(destination="0.0.0.0/0", gateway="10.0.1.2")  # "or `0.0.0.0/0`"
    net = api_client.networks.create(name="routed", ip_range="10.0.0.0/16", subnets=[subnet], routes=[default])
    net.add_route(NetworkRoute(destination="10.100.1.0/24", gateway="10.0.1.1")).wait_until_finished()
    listed = {(r.destination, r.gateway) for r in api_client.networks.get_all()[0].routes}
    assert listed == {("0.0.0.0/0", "10.0.1.2"), ("10.100.1.0/24", "10.0.1.1")}
    net.delete_route(NetworkRoute(destination="0.0.0.0/0", gateway="10.0.1.2")).wait_until_finished()
    assert [(r.destination, r.gateway) for r in api_client.networks.get_by_id(net.id).routes] == [("10.100.1.0/24", "10.0.1.1")]
    missing = call(api_sim_thread, "POST", f"/networks/{net.id}/actions/delete_route", {"destination": "10.9.0.0/24", "gateway": "10.0.1.2"})
    assert error_of(missing)[:2] == (422, "invalid_input")


# ---- row 15: add_subnet without ip_range takes the first free /24 -----------------------------------


def test_subnet_without_ip_range_gets_the_first_available_24(api_client: Client) -> None:
    """`add_subnet`: "If the subnet `ip_range` is not provided, the first available `/24` IP range will
    be used." `POST /networks`: "If you do not specify an `ip_range` for the subnet the first available
    /24 range will be used." """
    net = api_client.networks.create(
        name="auto", ip_range="10.0.0.0/16", subnets=[NetworkSubnet(type="cloud", ip_range="10.0.1.0/24", network_zone="eu-central"), NetworkSubnet(type="cloud", ip_range=None, network_zone="eu-central")],
    )
    assert [s.ip_range for s in net.subnets] == ["10.0.1.0/24", "10.0.0.0/24"]
    net.add_subnet(NetworkSubnet(type="cloud", ip_range=None, network_zone="eu-central")).wait_until_finished()
    assert [s.ip_range for s in api_client.networks.get_by_id(net.id).subnets] == ["10.0.1.0/24", "10.0.0.0/24", "10.0.2.0/24"]



def test_subnet_without_ip_range_skips_route_destinations(api_sim_thread: Simulator) -> None:
    """"Available" as the subnet rules define it: "Must not overlap with any other subnets or with any
    destinations in routes." """
    body = {"name": "n", "ip_range": "10.0.0.0/16", "subnets": [{"type": "cloud", "network_zone": "eu-central"}], "routes": [{"destination": "10.0.0.0/24", "gateway": "10.0.5.2"}]}
    response = call(api_sim_thread, "POST", "/networks", body)
    assert response.status_code == 201 and [s["ip_range"] for s in response.json()["network"]["subnets"]] == ["10.0.1.0/24"]


# ---- row 21: DELETE detaches servers and load balancers --------------------------------------------


def test_delete_network_detaches_servers_and_load_balancers(
    api_client: Client, api_sim_thread: Simulator, make_network: Callable[..., Any], make_server: Callable[..., Any]
) -> None:
    """`DELETE /networks/{id}`: "Deletes a Network. Attached resources will be detached automatically."
    The server's machine loses the interface as with `detach_from_network`. (The simulator used to
    answer `resource_in_use`.)"""
    net = make_network(api_client)
    keep = api_client.networks.create(name="other", ip_range="10.1.0.0/16", subnets=[NetworkSubnet(type="cloud", ip_range="10.1.1.0/24", network_zone="eu-central")]).id
    server = make_server(api_client, "attached", networks=[net, api_client.networks.get_by_id(keep)])
    lb = api_client.load_balancers.create(name="lb", load_balancer_type=LoadBalancerType(name="lb11"), location=Location(name="nbg1"), network=net)
    lb.action.wait_until_finished()
    response = call(api_sim_thread, "DELETE", f"/networks/{net.id}")
    assert response.status_code == 204
    assert call(api_sim_thread, "GET", f"/networks/{net.id}").status_code == 404
    assert [p.network.id for p in api_client.servers.get_by_id(server.id).private_net] == [keep]
    assert api_client.load_balancers.get_by_id(lb.load_balancer.id).private_net == []
    left = {keep: next(p.ip for p in server.private_net if p.network.id == keep)}
    assert ("networks_changed", (server.id, left)) in api_sim_thread.nodes.calls
