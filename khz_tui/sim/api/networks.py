"""Private networks: create (synchronous), subnets, private address allocation, delete."""

from __future__ import annotations

import ipaddress
from typing import Any

from aiohttp import web

from khz_tui.sim.api.actions import now_iso
from khz_tui.sim.api.addresses import next_private_ip, parse_ipv4_network, subnet_gateway
from khz_tui.sim.api.errors import ApiError, invalid_input, uniqueness_error
from khz_tui.sim.api.listing import list_response
from khz_tui.sim.api.store import STATE, CloudState
from khz_tui.sim.api.wire import created, labels_field, name_field, path_id, read_body, update_name_and_labels

ZONES = ("eu-central", "us-east", "us-west", "ap-southeast")


def render(state: CloudState, net: dict[str, Any]) -> dict[str, Any]:
    """A network as the API shows it."""
    return {
        "id": net["id"],
        "name": net["name"],
        "ip_range": net["ip_range"],
        "subnets": [dict(s) for s in net["subnets"]],
        "routes": list(net["routes"]),
        "servers": sorted(s["id"] for s in state.servers.values() if net["id"] in _net_ids(s)),
        "load_balancers": sorted(lb["id"] for lb in state.load_balancers.values() if net["id"] in _net_ids(lb)),
        "protection": {"delete": False},
        "labels": dict(net["labels"]),
        "created": net["created"],
        "expose_routes_to_vswitch": False,
    }


def _net_ids(record: dict[str, Any]) -> set[int]:
    return {p["network"] for p in record["private_net"]}


def used_ips(state: CloudState, network_id: int) -> set[str]:
    """Addresses taken in a network by servers and load balancers."""
    used = set()
    for record in [*state.servers.values(), *state.load_balancers.values()]:
        used |= {p["ip"] for p in record["private_net"] if p["network"] == network_id}
    return used


def allocate_ip(state: CloudState, net: dict[str, Any], zone: str, wanted: str | None = None) -> str:
    """A free address from a cloud subnet in `zone` (the requested one if given and free)."""
    subnets = [s for s in net["subnets"] if s["network_zone"] == zone]
    if not subnets:
        raise ApiError("no_subnet_available", f"network {net['id']} has no subnet in network zone {zone}")
    used = used_ips(state, net["id"])
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


def _subnet(net_range: ipaddress.IPv4Network, raw: Any, index: int, existing: list[dict[str, Any]]) -> dict[str, Any]:
    field = f"subnets[{index}]" if index >= 0 else "ip_range"
    if not isinstance(raw, dict):
        raise invalid_input({field: "subnet must be an object"})
    if raw.get("type", "cloud") not in ("cloud", "server"):
        raise invalid_input({f"{field}.type": "only cloud subnets are simulated"})
    zone = raw.get("network_zone")
    if zone not in ZONES:
        raise invalid_input({f"{field}.network_zone": f"unknown network zone '{zone}'"})
    sub = parse_ipv4_network(raw.get("ip_range"))
    if sub is None:
        raise invalid_input({f"{field}.ip_range": f"'{raw.get('ip_range')}' is not a valid IPv4 CIDR"})
    if not sub.subnet_of(net_range):
        raise invalid_input({f"{field}.ip_range": f"subnet {sub} is not inside the network's ip_range {net_range}"})
    if sub.prefixlen > 30:
        raise invalid_input({f"{field}.ip_range": "subnet must be at least a /30"})
    for other in existing:
        if sub.overlaps(ipaddress.ip_network(other["ip_range"])):
            raise invalid_input({f"{field}.ip_range": f"subnet {sub} overlaps subnet {other['ip_range']}"})
    return {
        "type": raw.get("type", "cloud"),
        "ip_range": str(sub),
        "network_zone": zone,
        "gateway": subnet_gateway(str(sub)),
        "vswitch_id": None,
    }


async def create(request: web.Request) -> web.Response:
    state: CloudState = request.app[STATE]
    body = await read_body(request)
    name = name_field(body)
    labels = labels_field(body) or {}
    net_range = parse_ipv4_network(body.get("ip_range"))
    if net_range is None:
        raise invalid_input({"ip_range": f"'{body.get('ip_range')}' is not a valid IPv4 CIDR"})
    if not net_range.is_private or net_range.prefixlen > 24:
        raise invalid_input({"ip_range": "ip_range must be a private range of /24 or larger (RFC 1918)"})
    if state.name_taken("networks", name):
        raise uniqueness_error("name")
    subnets: list[dict[str, Any]] = []
    for i, raw in enumerate(body.get("subnets") or []):
        subnets.append(_subnet(net_range, raw, i, subnets))
    net = {
        "id": state.new_id("networks"),
        "name": name,
        "ip_range": str(net_range),
        "subnets": subnets,
        "routes": list(body.get("routes") or []),
        "labels": labels,
        "created": now_iso(),
    }
    state.networks[net["id"]] = net
    return created(201, {"network": render(state, net)})


async def list_networks(request: web.Request) -> web.Response:
    state: CloudState = request.app[STATE]
    return list_response(request, "networks", state.networks.values(), lambda n: render(state, n))


async def get_network(request: web.Request) -> web.Response:
    state: CloudState = request.app[STATE]
    return web.json_response({"network": render(state, state.get("networks", path_id(request)))})


async def update(request: web.Request) -> web.Response:
    state: CloudState = request.app[STATE]
    net = state.get("networks", path_id(request))
    update_name_and_labels(state, "networks", net, await read_body(request))
    return web.json_response({"network": render(state, net)})


async def delete(request: web.Request) -> web.Response:
    state: CloudState = request.app[STATE]
    net = state.get("networks", path_id(request))
    state.ensure_unlocked("networks", net["id"])
    view = render(state, net)
    # Stricter than the spec's "detached automatically": failing keeps a destroy honest about its
    # order (servers and load balancers first), which is correct against the real API either way.
    if view["servers"] or view["load_balancers"]:
        raise ApiError(
            "resource_in_use",
            f"network {net['id']} is still in use by servers {view['servers']} "
            f"and load balancers {view['load_balancers']}",
        )
    del state.networks[net["id"]]
    return web.Response(status=204)


async def add_subnet(request: web.Request) -> web.Response:
    state: CloudState = request.app[STATE]
    net = state.get("networks", path_id(request))
    state.ensure_unlocked("networks", net["id"])
    body = await read_body(request)
    subnet = _subnet(ipaddress.ip_network(net["ip_range"]), body, -1, net["subnets"])
    action = state.actions.start(
        "add_subnet",
        [("network", net["id"])],
        state.config.durations.network_change,
    )
    net["subnets"].append(subnet)
    return created(201, {"action": state.actions.view(action["id"])})


async def delete_subnet(request: web.Request) -> web.Response:
    state: CloudState = request.app[STATE]
    net = state.get("networks", path_id(request))
    state.ensure_unlocked("networks", net["id"])
    body = await read_body(request)
    target = body.get("ip_range")
    subnet = next((s for s in net["subnets"] if s["ip_range"] == target), None)
    if subnet is None:
        raise invalid_input({"ip_range": f"network has no subnet {target}"})
    sub_net = ipaddress.ip_network(target)
    if any(ipaddress.ip_address(ip) in sub_net for ip in used_ips(state, net["id"])):
        raise ApiError("resource_in_use", f"subnet {target} still has servers or load balancers attached")
    net["subnets"].remove(subnet)
    action = state.actions.start("delete_subnet", [("network", net["id"])], state.config.durations.network_change)
    return created(201, {"action": state.actions.view(action["id"])})


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
    ]
