"""Private networks: create (synchronous), subnets, routes, private address allocation, delete.

Rules quoted from the spec's `POST /networks` request body and the network actions; the one rule the
spec does not state (one network zone per network) is from Hetzner's Networks FAQ.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from aiohttp import web

from khz_tui.sim.api.actions import now_iso
from khz_tui.sim.api.addresses import next_private_ip, parse_ipv4_network, subnet_gateway
from khz_tui.sim.api.errors import ApiError, invalid_input, uniqueness_error
from khz_tui.sim.api.listing import list_response
from khz_tui.sim.api.store import CLOUD, CloudStore
from khz_tui.sim.api.wire import created, labels_field, name_field, path_id, read_body, update_name_and_labels

ZONES = ("eu-central", "us-east", "us-west", "ap-southeast")
# `ip_range`: "Must be one of the private IPv4 ranges of RFC1918." (Python's `is_private` is wider:
# it also takes 127/8, 100.64/10, 198.18/15 and more, which Hetzner refuses.)
RFC1918 = tuple(ipaddress.IPv4Network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"))
DEFAULT_ROUTE = ipaddress.IPv4Network("0.0.0.0/0")
# "`172.31.1.1` is being used as a gateway for the public network interface of Servers."
PUBLIC_GATEWAY = ipaddress.IPv4Address("172.31.1.1")


def _rfc1918(net: ipaddress.IPv4Network) -> bool:
    return any(net.subnet_of(block) for block in RFC1918)


def render(cloud: CloudStore, net: dict[str, Any]) -> dict[str, Any]:
    """A network as the API shows it."""
    return {
        "id": net["id"],
        "name": net["name"],
        "ip_range": net["ip_range"],
        "subnets": [dict(s) for s in net["subnets"]],
        "routes": [dict(r) for r in net["routes"]],
        "servers": sorted(s["id"] for s in cloud.servers.values() if net["id"] in _net_ids(s)),
        "load_balancers": sorted(lb["id"] for lb in cloud.load_balancers.values() if net["id"] in _net_ids(lb)),
        "protection": {"delete": False},
        "labels": dict(net["labels"]),
        "created": net["created"],
        "expose_routes_to_vswitch": False,
    }


def _net_ids(record: dict[str, Any]) -> set[int]:
    return {p["network"] for p in record["private_net"]}


def used_ips(cloud: CloudStore, network_id: int) -> set[str]:
    """Addresses taken in a network by servers and load balancers."""
    used = set()
    for record in [*cloud.servers.values(), *cloud.load_balancers.values()]:
        used |= {p["ip"] for p in record["private_net"] if p["network"] == network_id}
    return used


def allocate_ip(cloud: CloudStore, net: dict[str, Any], zone: str, wanted: str | None = None) -> str:
    """A free address from a cloud subnet in `zone` (the requested one if given and free)."""
    subnets = [s for s in net["subnets"] if s["network_zone"] == zone]
    if not subnets:
        raise ApiError("no_subnet_available", f"network {net['id']} has no subnet in network zone {zone}")
    used = used_ips(cloud, net["id"])
    if wanted is not None:
        try:
            address = ipaddress.ip_address(wanted)
        except ValueError:
            raise invalid_input({"ip": f"'{wanted}' is not an IP address"}) from None
        inside = any(address in ipaddress.ip_network(s["ip_range"]) for s in subnets)
        if not inside or wanted in used or wanted in {s["gateway"] for s in subnets}:
            raise ApiError("ip_not_available", f"IP {wanted} is not available in network {net['id']}")
        return wanted
    for subnet in subnets:
        found = next_private_ip(subnet["ip_range"], used)
        if found:
            return found
    raise ApiError("no_subnet_available", f"no free IP left in network {net['id']} for zone {zone}")


def _destinations(routes: list[dict[str, Any]]) -> list[ipaddress.IPv4Network]:
    """Route destinations that subnets must not overlap (the default route covers everything, so
    the spec's rules cannot mean it: it is left out)."""
    found = [ipaddress.IPv4Network(r["destination"]) for r in routes]
    return [d for d in found if d != DEFAULT_ROUTE]


def _first_free_24(net_range: ipaddress.IPv4Network, taken: list[ipaddress.IPv4Network]) -> ipaddress.IPv4Network | None:
    # Bounded: a network is at most a /8, so at most 65536 candidates.
    return next((c for c in net_range.subnets(new_prefix=24) if not any(c.overlaps(t) for t in taken)), None)


def _subnet(
    net_range: ipaddress.IPv4Network,
    raw: Any,
    field: str,
    existing: list[dict[str, Any]],
    destinations: list[ipaddress.IPv4Network],
) -> dict[str, Any]:
    """Validate one subnet of `POST /networks` or `add_subnet` against the subnets and routes so far."""
    if not isinstance(raw, dict):
        raise invalid_input({field: "subnet must be an object"})
    prefix = f"{field}." if field else ""
    if raw.get("type", "cloud") not in ("cloud", "server"):
        raise invalid_input({f"{prefix}type": "only cloud subnets are simulated"})
    zone = raw.get("network_zone")
    if zone not in ZONES:
        raise invalid_input({f"{prefix}network_zone": f"unknown network zone '{zone}'"})
    # Hetzner's Networks FAQ: "All subnets within a Network also have to be from the same network zone."
    zones = {s["network_zone"] for s in existing}
    if zones and zone not in zones:
        raise invalid_input({f"{prefix}network_zone": f"all subnets of a network must be in network zone {min(zones)}"})
    taken = [ipaddress.IPv4Network(s["ip_range"]) for s in existing] + destinations
    if raw.get("ip_range") is None:
        # "If the subnet `ip_range` is not provided, the first available `/24` IP range will be used."
        sub = _first_free_24(net_range, taken)
        if sub is None:
            raise invalid_input({f"{prefix}ip_range": f"no free /24 left in {net_range}"})
    else:
        sub = parse_ipv4_network(raw.get("ip_range"))
        if sub is None:
            raise invalid_input({f"{prefix}ip_range": f"'{raw.get('ip_range')}' is not a valid IPv4 CIDR"})
    # "Must be a subnet of the parent Networks `ip_range`. Must not overlap with any other subnets or
    # with any destinations in routes. Minimum network size is /30."
    if not sub.subnet_of(net_range):
        raise invalid_input({f"{prefix}ip_range": f"subnet {sub} is not inside the network's ip_range {net_range}"})
    if sub.prefixlen > 30:
        raise invalid_input({f"{prefix}ip_range": "subnet must be at least a /30"})
    for other in taken:
        if sub.overlaps(other):
            raise invalid_input({f"{prefix}ip_range": f"subnet {sub} overlaps {other}"})
    return {
        "type": raw.get("type", "cloud"),
        "ip_range": str(sub),
        "network_zone": zone,
        "gateway": subnet_gateway(str(sub)),
        "vswitch_id": None,
    }


def _route(net_range: ipaddress.IPv4Network, raw: Any, field: str, subnets: list[dict[str, Any]],
           routes: list[dict[str, Any]]) -> dict[str, str]:
    """Validate one route (`POST /networks` `routes[]`, `add_route`) by the spec's rules for it."""
    prefix = f"{field}." if field else ""
    if not isinstance(raw, dict):
        raise invalid_input({field or "route": "route must be an object with destination and gateway"})
    destination = parse_ipv4_network(raw.get("destination"))
    if destination is None:
        raise invalid_input({f"{prefix}destination": f"'{raw.get('destination')}' is not a valid IPv4 CIDR"})
    try:
        gateway = ipaddress.IPv4Address(raw.get("gateway"))
    except (ValueError, TypeError):
        raise invalid_input({f"{prefix}gateway": f"'{raw.get('gateway')}' is not an IPv4 address"}) from None
    # destination: "Must be one of private IPv4 ranges of RFC1918 or `0.0.0.0/0`. Must not overlap
    # with an existing ip_range in any subnets or with any destinations in other routes or with
    # `172.31.1.1`." The default route overlaps everything by nature, so only a second one is refused.
    others = [ipaddress.IPv4Network(r["destination"]) for r in routes]
    if destination == DEFAULT_ROUTE:
        if DEFAULT_ROUTE in others:
            raise invalid_input({f"{prefix}destination": "the network already has a route for 0.0.0.0/0"})
    else:
        if not _rfc1918(destination):
            raise invalid_input({f"{prefix}destination": f"{destination} is not inside an RFC 1918 range or 0.0.0.0/0"})
        clashes = [ipaddress.IPv4Network(s["ip_range"]) for s in subnets] + [o for o in others if o != DEFAULT_ROUTE]
        clash = next((c for c in clashes if destination.overlaps(c)), None)
        if clash is not None or PUBLIC_GATEWAY in destination:
            raise invalid_input({f"{prefix}destination": f"{destination} overlaps {clash or PUBLIC_GATEWAY}"})
    # gateway: "Cannot be the first IP of the networks ip_range, an IP behind a vSwitch or `172.31.1.1`."
    # (No vSwitch subnets are simulated.) The first IP is the network's default gateway, `.1`.
    if gateway in (net_range.network_address + 1, PUBLIC_GATEWAY):
        raise invalid_input({f"{prefix}gateway": f"{gateway} is reserved and cannot be a route's gateway"})
    return {"destination": str(destination), "gateway": str(gateway)}


async def create(request: web.Request) -> web.Response:
    cloud: CloudStore = request.app[CLOUD]
    body = await read_body(request)
    name = name_field(body)
    labels = labels_field(body) or {}
    net_range = parse_ipv4_network(body.get("ip_range"))
    if net_range is None:
        raise invalid_input({"ip_range": f"'{body.get('ip_range')}' is not a valid IPv4 CIDR"})
    # "Must be one of the private IPv4 ranges of RFC1918. Minimum network size is /24."
    if not _rfc1918(net_range) or net_range.prefixlen > 24:
        raise invalid_input({"ip_range": "ip_range must be inside 10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16 "
                                         "and at least a /24"})
    if cloud.name_taken("networks", name):
        raise uniqueness_error("name")
    raw_subnets, raw_routes = body.get("subnets") or [], body.get("routes") or []
    if not isinstance(raw_subnets, list) or not isinstance(raw_routes, list):
        raise invalid_input({"subnets" if not isinstance(raw_subnets, list) else "routes": "must be an array"})
    # Subnets that name their ip_range, then routes (checked against those), then subnets without one:
    # each takes the first /24 that neither the others nor a route destination claims.
    auto = [i for i, raw in enumerate(raw_subnets) if isinstance(raw, dict) and raw.get("ip_range") is None]
    placed: dict[int, dict[str, Any]] = {}
    for i in (i for i in range(len(raw_subnets)) if i not in auto):
        placed[i] = _subnet(net_range, raw_subnets[i], f"subnets[{i}]", list(placed.values()), [])
    routes: list[dict[str, str]] = []
    for i, raw in enumerate(raw_routes):
        routes.append(_route(net_range, raw, f"routes[{i}]", list(placed.values()), routes))
    for i in auto:
        placed[i] = _subnet(net_range, raw_subnets[i], f"subnets[{i}]", list(placed.values()), _destinations(routes))
    subnets = [placed[i] for i in range(len(raw_subnets))]
    net: dict[str, Any] = {
        "id": cloud.new_id("networks"),
        "name": name,
        "ip_range": str(net_range),
        "subnets": subnets,
        "routes": routes,
        "labels": labels,
        "created": now_iso(),
    }
    cloud.networks[net["id"]] = net
    return created(201, {"network": render(cloud, net)})


async def list_networks(request: web.Request) -> web.Response:
    cloud: CloudStore = request.app[CLOUD]
    return list_response(request, "networks", cloud.networks.values(), lambda n: render(cloud, n))


async def get_network(request: web.Request) -> web.Response:
    cloud: CloudStore = request.app[CLOUD]
    return web.json_response({"network": render(cloud, cloud.get("networks", path_id(request)))})


def _unchanging(cloud: CloudStore, request: web.Request) -> dict[str, Any]:
    """The network in the URL, unless a change to it is running.

    `PUT /networks/{id}`, `add_subnet`, `delete_subnet`, `add_route` and `delete_route` each say: "If
    a change is currently being performed on this Network, a error response with code `conflict` will
    be returned." (409, not the 423 `locked` other resources answer.)"""
    net = cloud.get("networks", path_id(request))
    if cloud.actions.is_locked("network", net["id"]):
        raise ApiError("conflict", f"a change is currently being performed on network {net['id']}")
    return net


async def update(request: web.Request) -> web.Response:
    cloud: CloudStore = request.app[CLOUD]
    net = _unchanging(cloud, request)
    update_name_and_labels(cloud, "networks", net, await read_body(request))
    return web.json_response({"network": render(cloud, net)})


async def delete(request: web.Request) -> web.Response:
    """`DELETE /networks/{id}`: "Attached resources will be detached automatically." """
    cloud: CloudStore = request.app[CLOUD]
    net = cloud.get("networks", path_id(request))
    cloud.ensure_unlocked("networks", net["id"])
    del cloud.networks[net["id"]]
    for lb in cloud.load_balancers.values():
        lb["private_net"] = [p for p in lb["private_net"] if p["network"] != net["id"]]
    for srv in list(cloud.servers.values()):
        if net["id"] not in _net_ids(srv):
            continue
        srv["private_net"] = [p for p in srv["private_net"] if p["network"] != net["id"]]
        # The machine loses the interface, as with `detach_from_network`.
        if cloud.nodes is not None:
            await cloud.nodes.networks_changed(srv["id"], cloud.node_spec(srv).private_ips)
    return web.Response(status=204)


async def add_subnet(request: web.Request) -> web.Response:
    cloud: CloudStore = request.app[CLOUD]
    net = _unchanging(cloud, request)
    body = await read_body(request)
    subnet = _subnet(ipaddress.IPv4Network(net["ip_range"]), body, "", net["subnets"], _destinations(net["routes"]))
    action = cloud.actions.start(
        "add_subnet",
        [("network", net["id"])],
        cloud.config.durations.network_change,
    )
    net["subnets"].append(subnet)
    return created(201, {"action": cloud.actions.view(action["id"])})


async def delete_subnet(request: web.Request) -> web.Response:
    cloud: CloudStore = request.app[CLOUD]
    net = _unchanging(cloud, request)
    body = await read_body(request)
    target = body.get("ip_range")
    subnet = next((s for s in net["subnets"] if s["ip_range"] == target), None)
    if subnet is None:
        raise invalid_input({"ip_range": f"network has no subnet {target}"})
    sub_net = ipaddress.ip_network(subnet["ip_range"])
    if any(ipaddress.ip_address(ip) in sub_net for ip in used_ips(cloud, net["id"])):
        raise ApiError("resource_in_use", f"subnet {target} still has servers or load balancers attached")
    net["subnets"].remove(subnet)
    action = cloud.actions.start("delete_subnet", [("network", net["id"])], cloud.config.durations.network_change)
    return created(201, {"action": cloud.actions.view(action["id"])})


async def add_route(request: web.Request) -> web.Response:
    cloud: CloudStore = request.app[CLOUD]
    net = _unchanging(cloud, request)
    body = await read_body(request)
    route = _route(ipaddress.IPv4Network(net["ip_range"]), body, "", net["subnets"], net["routes"])
    net["routes"].append(route)
    action = cloud.actions.start("add_route", [("network", net["id"])], cloud.config.durations.network_change)
    return created(201, {"action": cloud.actions.view(action["id"])})


async def delete_route(request: web.Request) -> web.Response:
    cloud: CloudStore = request.app[CLOUD]
    net = _unchanging(cloud, request)
    body = await read_body(request)
    destination = parse_ipv4_network(body.get("destination"))
    try:
        gateway = str(ipaddress.IPv4Address(body.get("gateway")))
    except (ValueError, TypeError):
        gateway = None
    wanted = {"destination": str(destination), "gateway": gateway}
    if destination is None or wanted not in net["routes"]:
        raise invalid_input({"destination": f"network has no route to {body.get('destination')} via {body.get('gateway')}"})
    net["routes"].remove(wanted)
    action = cloud.actions.start("delete_route", [("network", net["id"])], cloud.config.durations.network_change)
    return created(201, {"action": cloud.actions.view(action["id"])})


def routes() -> list[web.RouteDef]:
    """Routes of the networks family."""
    return [
        web.get("/v1/networks", list_networks),
        web.post("/v1/networks", create),
        web.get("/v1/networks/{id}", get_network),
        web.put("/v1/networks/{id}", update),
        web.delete("/v1/networks/{id}", delete),
        web.post("/v1/networks/{id}/actions/add_subnet", add_subnet),
        web.post("/v1/networks/{id}/actions/delete_subnet", delete_subnet),
        web.post("/v1/networks/{id}/actions/add_route", add_route),
        web.post("/v1/networks/{id}/actions/delete_route", delete_route),
    ]
