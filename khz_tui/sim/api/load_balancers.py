"""Load balancers: create (TCP services, targets, network), add_service, add_target / remove_target
(server or label selector, `use_private_ip`), attach_to_network, delete.

Only TCP services are simulated (the cluster needs 6443/tcp); HTTP(S) services are refused with
`invalid_input` rather than half-emulated.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from khz_tui.sim.api.actions import now_iso
from khz_tui.sim.api.errors import ApiError, invalid_input, uniqueness_error
from khz_tui.sim.api.labels import SelectorError, parse_selector
from khz_tui.sim.api.listing import list_response
from khz_tui.sim.api.networks import allocate_ip
from khz_tui.sim.api.store import CLOUD, CloudStore
from khz_tui.sim.api.wire import created, id_field, labels_field, name_field, path_id, read_body, update_name_and_labels


def _stamp(lb: dict[str, Any], key: str) -> None:
    """Remember when something the health checks depend on began (wall clock, persisted with the LB)."""
    lb.setdefault("since", {})[key] = time.time()


def _target_key(target: dict[str, Any]) -> str:
    if target["type"] == "server":
        return f"server:{target['server']['id']}"
    return f"label_selector:{target['label_selector']['selector']}"


def _created_epoch(srv: dict[str, Any]) -> float:
    try:
        return datetime.strptime(srv["created"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()
    except (KeyError, TypeError, ValueError):
        return 0.0


def _reachable(cloud: CloudStore, lb: dict[str, Any], srv: dict[str, Any], private: bool) -> bool:
    """Whether the load balancer has a path to the server the way the target asks for."""
    if private:
        return bool({p["network"] for p in lb["private_net"]} & set(cloud.server_network_ids(srv["id"])))
    return bool(srv.get("public_ipv4"))


def _health(cloud: CloudStore, lb: dict[str, Any], target: dict[str, Any], srv: dict[str, Any]) -> list[dict[str, Any]]:
    """`health_status` per service, computed on read from timestamps (no background task).

    Spec, LoadBalancerTargetHealthStatus: `status` is one of `healthy`, `unhealthy`, `unknown`, and
    the service's health check runs every `interval` seconds on its `port`. A target is `unknown`
    until its first check, one (time-scaled) interval after the later of: the load balancer ready,
    the service added, the target added, the server created. Afterwards the check is a TCP connect
    to the port on the simulated machine: `healthy` while something listens there (k3s serves 6443
    only while its server unit runs), else `unhealthy`. The spec's `retries` hysteresis is not
    modelled: each read shows the current check.
    """
    since = lb.get("since", {})
    now = time.time()
    begun = max(since.get("lb", 0.0), since.get(_target_key(target), 0.0), _created_epoch(srv))
    out = []
    for service in lb["services"]:
        check = service["health_check"]
        interval = check["interval"] * cloud.config.time_scale
        first_check = max(begun, since.get(f"service:{service['listen_port']}", 0.0)) + interval
        if lb.get("status") == "creating" or now < first_check:
            status = "unknown"
        else:
            up = cloud.nodes is not None and cloud.nodes.listening(srv["id"], check["port"])
            status = "healthy" if up and _reachable(cloud, lb, srv, target["use_private_ip"]) else "unhealthy"
        out.append({"listen_port": service["listen_port"], "status": status})
    return out


def _server_target(cloud: CloudStore, lb: dict[str, Any], target: dict[str, Any], server_id: int) -> dict[str, Any]:
    srv = cloud.servers.get(server_id)
    return {
        "type": "server",
        "server": {"id": server_id},
        "health_status": _health(cloud, lb, target, srv) if srv else [],
        "use_private_ip": target["use_private_ip"],
    }


def _selected(cloud: CloudStore, lb: dict[str, Any], target: dict[str, Any]) -> list[dict[str, Any]]:
    """Servers a label selector target resolves to. A matching server that the load balancer cannot
    reach the way the target asks (no shared network for `use_private_ip`, no public IPv4 otherwise)
    is simply not a target: Hetzner accepts the selector and shows no such server (hetznercloud/cli#760:
    servers without public IPs behind a public selector target showed "no targets")."""
    chosen = cloud.servers_selected(target["label_selector"]["selector"])
    return [s for s in chosen if _reachable(cloud, lb, s, target["use_private_ip"])]


def render(cloud: CloudStore, lb: dict[str, Any]) -> dict[str, Any]:
    """A load balancer as the API shows it."""
    targets = []
    for t in lb["targets"]:
        if t["type"] == "server":
            targets.append(_server_target(cloud, lb, t, t["server"]["id"]))
        else:
            targets.append({
                "type": "label_selector",
                "label_selector": {"selector": t["label_selector"]["selector"]},
                "targets": [_server_target(cloud, lb, t, s["id"]) for s in _selected(cloud, lb, t)],
                "use_private_ip": t["use_private_ip"],
            })
    return {
        "id": lb["id"],
        "name": lb["name"],
        "public_net": {
            "enabled": True,
            "ipv4": {"ip": lb["public_ipv4"], "dns_ptr": f"static.{lb['public_ipv4']}.clients.your-server.de"},
            "ipv6": {"ip": lb["public_ipv6"].split("/")[0] + "1", "dns_ptr": None},
        },
        "private_net": [dict(p) for p in lb["private_net"]],
        "location": cloud.offer.location(lb["location"]),
        "load_balancer_type": cloud.offer.lb_type(lb["type"]),
        "protection": {"delete": False},
        "labels": dict(lb["labels"]),
        "created": lb["created"],
        "services": [dict(s) for s in lb["services"]],
        "targets": targets,
        "algorithm": {"type": lb["algorithm"]},
        "outgoing_traffic": 0,
        "ingoing_traffic": 0,
        "included_traffic": 21990232555520,
    }


def _service(raw: Any) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise invalid_input({"services": "service must be an object"})
    if raw.get("protocol") != "tcp":
        raise invalid_input({"protocol": "only tcp services are simulated"})
    listen = _port(raw.get("listen_port"), "listen_port")
    dest = _port(raw.get("destination_port", listen), "destination_port")
    return {
        "protocol": "tcp",
        "listen_port": listen,
        "destination_port": dest,
        "proxyprotocol": bool(raw.get("proxyprotocol", False)),
        "health_check": _health_check(raw.get("health_check") or {}, dest),
        "http": None,  # the service's own HTTP settings: null for a TCP service
    }


def _port(value: Any, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        raise invalid_input({field: f"{field} must be a port number"})
    return value


def _health_check(check: dict[str, Any], dest: int) -> dict[str, Any]:
    protocol = check.get("protocol", "tcp")
    if protocol not in ("tcp", "http"):
        raise invalid_input({"health_check.protocol": "health check protocol must be tcp or http"})
    out = {
        "protocol": protocol,
        "port": check.get("port", dest),
        "interval": check.get("interval", 15),
        "timeout": check.get("timeout", 10),
        "retries": check.get("retries", 3),
    }
    # The spec's health check has no null form of `http`: a TCP check omits it, an HTTP check carries
    # it with the spec's defaults filled in.
    if protocol == "http":
        http = check.get("http") or {}
        out["http"] = {
            "domain": http.get("domain"),
            "path": http.get("path", "/"),
            "response": http.get("response", ""),
            "status_codes": list(http.get("status_codes", ["2??", "3??"])),
            "tls": bool(http.get("tls", False)),
        }
    return out


def _target(cloud: CloudStore, raw: Any) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise invalid_input({"targets": "target must be an object"})
    private = bool(raw.get("use_private_ip", False))
    if raw.get("type") == "server":
        server_id = id_field(raw, "server")
        cloud.get("servers", server_id)
        return {"type": "server", "server": {"id": server_id}, "use_private_ip": private}
    if raw.get("type") == "label_selector":
        selector = (raw.get("label_selector") or {}).get("selector", "")
        try:
            parse_selector(selector)
        except SelectorError as exc:
            raise invalid_input({"label_selector": str(exc)}) from None
        return {"type": "label_selector", "label_selector": {"selector": selector}, "use_private_ip": private}
    raise invalid_input({"type": "target type must be 'server' or 'label_selector'"})


def _attach(cloud: CloudStore, lb: dict[str, Any], net: dict[str, Any], ip: str | None = None) -> None:
    if any(p["network"] == net["id"] for p in lb["private_net"]):
        raise ApiError("load_balancer_already_attached", f"load balancer {lb['id']} is already attached", status=422)
    zone = cloud.offer.location(lb["location"])["network_zone"]
    lb["private_net"].append({"network": net["id"], "ip": allocate_ip(cloud, net, zone, ip)})


def _same_target(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Whether two targets name the same server or selector (`use_private_ip` aside)."""
    return {k: v for k, v in a.items() if k != "use_private_ip"} == {k: v for k, v in b.items() if k != "use_private_ip"}


def _check_target_allowed(cloud: CloudStore, lb: dict[str, Any], target: dict[str, Any]) -> None:
    if target["use_private_ip"] and not lb["private_net"]:
        raise ApiError("load_balancer_not_attached_to_network", "use_private_ip needs the load balancer in a network", status=422)
    if target["type"] == "server":
        srv = cloud.get("servers", target["server"]["id"])
        # Spec, POST /load_balancers and add_target, operation specific errors:
        # `422 resolve_cloud_private_targets_error` "The server you are trying to add as a target is not
        # attached to the same network as the Load Balancer";
        # `422 resolve_cloud_public_targets_error` "The server that you are trying to add as a public
        # target does not have a public IPv4 address".
        if target["use_private_ip"] and not _reachable(cloud, lb, srv, private=True):
            raise ApiError("resolve_cloud_private_targets_error",
                           f"server {srv['id']} is not attached to the same network as the load balancer")
        if not target["use_private_ip"] and not _reachable(cloud, lb, srv, private=False):
            raise ApiError("resolve_cloud_public_targets_error",
                           f"server {srv['id']} has no public IPv4 address to use as a public target")
    if any(_same_target(t, target) for t in lb["targets"]):
        raise ApiError("target_already_defined", "the target is already defined", status=422)


async def create(request: web.Request) -> web.Response:
    cloud = request.app[CLOUD]
    body = await read_body(request)
    name = name_field(body)
    labels = labels_field(body) or {}
    lb_type = cloud.offer.lb_type(body.get("load_balancer_type"))
    if body.get("location") is not None and body.get("network_zone") is not None:
        # The spec lists both as optional; Hetzner takes one or the other: "invalid input in fields
        # 'network_zone', 'location'" when both are sent (hetznercloud/cli#294).
        raise invalid_input({"network_zone": "give network_zone or location, not both",
                             "location": "give network_zone or location, not both"})
    if body.get("location") is not None:
        location = cloud.offer.location(body["location"])["name"]
    elif body.get("network_zone"):
        zone = body["network_zone"]
        location = next((loc["name"] for loc in cloud.offer.locations.values() if loc["network_zone"] == zone), None)
        if location is None:
            raise invalid_input({"network_zone": f"unknown network zone '{body['network_zone']}'"})
    else:
        raise invalid_input({"location": "location or network_zone is required"})
    algorithm = (body.get("algorithm") or {}).get("type", "round_robin")
    if algorithm not in ("round_robin", "least_connections"):
        raise invalid_input({"algorithm": "algorithm must be round_robin or least_connections"})
    if cloud.name_taken("load_balancers", name):
        raise uniqueness_error("name")
    services = [_service(s) for s in body.get("services") or []]
    targets = [_target(cloud, t) for t in body.get("targets") or []]
    net = cloud.get("networks", id_field(body, "network")) if body.get("network") is not None else None
    lb = {
        "id": cloud.new_id("load_balancers"),
        "name": name,
        "labels": labels,
        "created": now_iso(),
        "type": lb_type["name"],
        "location": location,
        "algorithm": algorithm,
        "services": services,
        "targets": [],
        "private_net": [],
        "public_ipv4": None,
        "public_ipv6": None,
        "status": "creating",
    }
    if net is not None:
        _attach(cloud, lb, net)
    for target in targets:
        _check_target_allowed(cloud, lb, target)
        lb["targets"].append(target)
    # Addresses only once every check passed: a refused create must not leak them.
    lb["public_ipv4"] = cloud.public.take_v4()
    lb["public_ipv6"] = cloud.public.take_v6()
    cloud.load_balancers[lb["id"]] = lb

    def ready() -> None:
        lb.pop("status", None)
        _stamp(lb, "lb")  # health checks start once the load balancer runs

    action = cloud.actions.start("create_load_balancer", [("load_balancer", lb["id"])],
                                 cloud.config.durations.load_balancer_create, on_success=ready)
    return created(201, {"load_balancer": render(cloud, lb), "action": cloud.actions.view(action["id"])})


async def list_lbs(request: web.Request) -> web.Response:
    cloud = request.app[CLOUD]
    return list_response(request, "load_balancers", cloud.load_balancers.values(), lambda lb: render(cloud, lb))


async def get_lb(request: web.Request) -> web.Response:
    cloud = request.app[CLOUD]
    return web.json_response({"load_balancer": render(cloud, cloud.get("load_balancers", path_id(request)))})


async def update(request: web.Request) -> web.Response:
    cloud = request.app[CLOUD]
    lb = cloud.get("load_balancers", path_id(request))
    update_name_and_labels(cloud, "load_balancers", lb, await read_body(request))
    return web.json_response({"load_balancer": render(cloud, lb)})


async def delete(request: web.Request) -> web.Response:
    """hcloud-python 2.27 reads `{"action": ...}` here although the spec says 204; the pinned client wins."""
    cloud = request.app[CLOUD]
    lb = cloud.get("load_balancers", path_id(request))
    cloud.ensure_unlocked("load_balancers", lb["id"])
    del cloud.load_balancers[lb["id"]]
    cloud.public.release(lb["public_ipv4"])
    cloud.public.release(lb["public_ipv6"])
    action = cloud.actions.instant("delete_load_balancer", [("load_balancer", lb["id"])])
    return web.json_response({"action": action})


def _lb_action(request: web.Request) -> tuple[CloudStore, dict[str, Any]]:
    cloud = request.app[CLOUD]
    lb = cloud.get("load_balancers", path_id(request))
    cloud.ensure_unlocked("load_balancers", lb["id"])
    return cloud, lb


def _respond(cloud: CloudStore, lb: dict[str, Any], command: str) -> web.Response:
    action = cloud.actions.start(command, [("load_balancer", lb["id"])], cloud.config.durations.load_balancer_change)
    return created(201, {"action": cloud.actions.view(action["id"])})


async def add_service(request: web.Request) -> web.Response:
    cloud, lb = _lb_action(request)
    service = _service(await read_body(request))
    if any(s["listen_port"] == service["listen_port"] for s in lb["services"]):
        raise ApiError("source_port_already_used", f"listen port {service['listen_port']} is already used", status=422)
    lb["services"].append(service)
    _stamp(lb, f"service:{service['listen_port']}")
    return _respond(cloud, lb, "add_service")


async def delete_service(request: web.Request) -> web.Response:
    cloud, lb = _lb_action(request)
    port = (await read_body(request)).get("listen_port")
    if not any(s["listen_port"] == port for s in lb["services"]):
        raise invalid_input({"listen_port": f"no service listens on {port}"})
    lb["services"] = [s for s in lb["services"] if s["listen_port"] != port]
    return _respond(cloud, lb, "delete_service")


async def add_target(request: web.Request) -> web.Response:
    cloud, lb = _lb_action(request)
    target = _target(cloud, await read_body(request))
    _check_target_allowed(cloud, lb, target)
    lb["targets"].append(target)
    _stamp(lb, _target_key(target))
    return _respond(cloud, lb, "add_target")


async def remove_target(request: web.Request) -> web.Response:
    cloud, lb = _lb_action(request)
    target = _target(cloud, await read_body(request))
    kept = [t for t in lb["targets"] if not _same_target(t, target)]
    if len(kept) == len(lb["targets"]):
        raise ApiError("target_not_found", "the target is not defined", status=404)
    lb["targets"] = kept
    return _respond(cloud, lb, "remove_target")


async def attach_to_network(request: web.Request) -> web.Response:
    cloud, lb = _lb_action(request)
    body = await read_body(request)
    net = cloud.get("networks", id_field(body, "network"))
    _attach(cloud, lb, net, body.get("ip"))
    return _respond(cloud, lb, "attach_to_network")


async def detach_from_network(request: web.Request) -> web.Response:
    cloud, lb = _lb_action(request)
    net = cloud.get("networks", id_field(await read_body(request), "network"))
    if not any(p["network"] == net["id"] for p in lb["private_net"]):
        raise ApiError("load_balancer_not_attached_to_network", "load balancer is not in this network", status=422)
    lb["private_net"] = [p for p in lb["private_net"] if p["network"] != net["id"]]
    return _respond(cloud, lb, "detach_from_network")


def routes() -> list[web.RouteDef]:
    """Routes of the load balancers family."""
    base = "/v1/load_balancers/{id}/actions"
    return [
        web.get("/v1/load_balancers", list_lbs),
        web.post("/v1/load_balancers", create),
        web.get("/v1/load_balancers/{id}", get_lb),
        web.put("/v1/load_balancers/{id}", update),
        web.delete("/v1/load_balancers/{id}", delete),
        web.post(f"{base}/add_service", add_service),
        web.post(f"{base}/delete_service", delete_service),
        web.post(f"{base}/add_target", add_target),
        web.post(f"{base}/remove_target", remove_target),
        web.post(f"{base}/attach_to_network", attach_to_network),
        web.post(f"{base}/detach_from_network", detach_from_network),
    ]
