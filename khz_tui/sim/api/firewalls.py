"""Firewalls: rules, application to servers directly or by label selector, delete."""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web

from khz_tui.sim.api.actions import now_iso
from khz_tui.sim.api.addresses import parse_ipv4_network
from khz_tui.sim.api.errors import ApiError, invalid_input, uniqueness_error
from khz_tui.sim.api.labels import SelectorError, matches, parse_selector
from khz_tui.sim.api.listing import list_response
from khz_tui.sim.api.store import CLOUD, CloudStore
from khz_tui.sim.api.wire import created, labels_field, name_field, path_id, read_body, update_name_and_labels

PROTOCOLS = ("tcp", "udp", "icmp", "esp", "gre")
# Spec, apply_to_resources: "A Server can be applied to a maximum of 5 Firewalls. This limit applies to
# Servers applied via a matching Label Selector as well."
MAX_PER_SERVER = 5


def _servers_of(cloud: CloudStore, fw: dict[str, Any]) -> list[int]:
    ids: set[int] = set()
    for entry in fw["applied_to"]:
        if entry["type"] == "server":
            ids.add(entry["server"]["id"])
        else:
            ids |= {s["id"] for s in cloud.servers_selected(entry["label_selector"]["selector"])}
    return sorted(i for i in ids if i in cloud.servers)


def firewall_ids_of(cloud: CloudStore, srv: dict[str, Any]) -> list[int]:
    """Firewalls that apply to a server, directly or through a label selector."""
    out = []
    for fw in cloud.firewalls.values():
        for entry in fw["applied_to"]:
            if entry["type"] == "server" and entry["server"]["id"] == srv["id"]:
                out.append(fw["id"])
                break
            if entry["type"] == "label_selector" and matches(entry["label_selector"]["selector"], srv["labels"]):
                out.append(fw["id"])
                break
    return sorted(out)


def apply_directly(cloud: CloudStore, firewall_id: int, server_id: int) -> None:
    """Apply a firewall to one server (server create with `firewalls`)."""
    cloud.firewalls[firewall_id]["applied_to"].append({"type": "server", "server": {"id": server_id}})


def firewall_ids_for_labels(cloud: CloudStore, labels: dict[str, str]) -> list[int]:
    """Firewalls whose label selectors match these labels (a server about to be created)."""
    return sorted(
        fw["id"] for fw in cloud.firewalls.values()
        if any(e["type"] == "label_selector" and matches(e["label_selector"]["selector"], labels) for e in fw["applied_to"])
    )


def limit_exceeded(server_id: int | str, count: int) -> ApiError:
    """More than MAX_PER_SERVER firewalls on one server. The spec names the limit but no code for it;
    `resource_limit_exceeded` is its general code for "exceeding the maximum quantity of a resource",
    with `details.limits` shaped like its overview example."""
    return ApiError(
        "resource_limit_exceeded",
        f"server {server_id} would have {count} firewalls; at most {MAX_PER_SERVER} apply to one server",
        {"limits": [{"name": "firewalls_per_server"}]},
    )


def server_deleted(cloud: CloudStore, srv: dict[str, Any]) -> None:
    """A server is gone: its firewalls keep counting it as a user for `firewall_detach` (scaled).

    Spec, DELETE /servers/{id}: attached resources, Firewalls among them, "are detached while the
    server is deleted"; that detach lags on Hetzner (terraform-provider-hcloud, internal/firewall/
    resource.go, resourceFirewallDelete, retries `resource_in_use` "Removing resources from the firewall
    can sometimes take longer"). Direct applications stay listed in `applied_to` until then."""
    until = time.time() + cloud.config.durations.firewall_detach * cloud.config.time_scale
    for fid in firewall_ids_of(cloud, srv):
        cloud.firewalls[fid].setdefault("detaching", {})[str(srv["id"])] = until


def _settle(fw: dict[str, Any]) -> None:
    """Finish the detaches whose time has come (wall clock, so a saved project resumes them)."""
    detaching: dict[str, float] = fw.get("detaching") or {}
    now = time.time()
    done = {int(sid) for sid, until in detaching.items() if until <= now}
    if not done:
        return
    fw["detaching"] = {sid: until for sid, until in detaching.items() if int(sid) not in done}
    fw["applied_to"] = [e for e in fw["applied_to"] if not (e["type"] == "server" and e["server"]["id"] in done)]


def mark_pending(cloud: CloudStore, firewall_id: int, server_ids: list[int], action_id: int) -> None:
    """The firewall is `pending` on these servers until `action_id` ends (spec, apply_to_resources: "A
    Firewall is applied to a resource once the related Action with command `apply_firewall`
    successfully finished")."""
    pending = cloud.firewalls[firewall_id].setdefault("pending", {})
    for sid in server_ids:
        pending[str(sid)] = action_id


def status_on(cloud: CloudStore, firewall_id: int, server_id: int) -> str:
    """`public_net.firewalls[].status` of one firewall on one server: `pending` or `applied`."""
    action_id = (cloud.firewalls[firewall_id].get("pending") or {}).get(str(server_id))
    record = cloud.actions.records.get(action_id) if action_id is not None else None
    return "pending" if record is not None and record["status"] == "running" else "applied"


def render(cloud: CloudStore, fw: dict[str, Any]) -> dict[str, Any]:
    """A firewall as the API shows it; every rule carries all six keys (hcloud-python needs them)."""
    _settle(fw)
    applied: list[dict[str, Any]] = []
    for entry in fw["applied_to"]:
        if entry["type"] == "server":
            applied.append({"type": "server", "server": {"id": entry["server"]["id"]}})
        else:
            servers = cloud.servers_selected(entry["label_selector"]["selector"])
            applied.append({
                "type": "label_selector",
                "label_selector": {"selector": entry["label_selector"]["selector"]},
                "applied_to_resources": [{"type": "server", "server": {"id": s["id"]}} for s in servers],
            })
    return {
        "id": fw["id"],
        "name": fw["name"],
        "labels": dict(fw["labels"]),
        "created": fw["created"],
        "rules": [dict(r) for r in fw["rules"]],
        "applied_to": applied,
    }


def _rules(raw: Any) -> list[dict[str, Any]]:
    if not isinstance(raw, list):
        raise invalid_input({"rules": "rules must be a list"})
    out = []
    for i, rule in enumerate(raw):
        where = f"rules[{i}]"
        if not isinstance(rule, dict) or rule.get("direction") not in ("in", "out"):
            raise invalid_input({f"{where}.direction": "direction must be 'in' or 'out'"})
        if rule.get("protocol") not in PROTOCOLS:
            raise invalid_input({f"{where}.protocol": f"protocol must be one of {', '.join(PROTOCOLS)}"})
        port = rule.get("port")
        if rule["protocol"] in ("tcp", "udp"):
            if not isinstance(port, str) or not _port_ok(port):
                raise invalid_input({f"{where}.port": "port must be a port, a range 'a-b' or 'any'"})
        elif port is not None:
            raise invalid_input({f"{where}.port": f"port is not allowed for protocol {rule['protocol']}"})
        side = "source_ips" if rule["direction"] == "in" else "destination_ips"
        addresses = rule.get(side) or []
        if not addresses:
            raise invalid_input({f"{where}.{side}": f"{side} must not be empty for direction {rule['direction']}"})
        for address in addresses:
            if parse_ipv4_network(address) is None and not _ipv6_ok(address):
                raise invalid_input({f"{where}.{side}": f"'{address}' is not a valid CIDR"})
        out.append({
            "direction": rule["direction"],
            "protocol": rule["protocol"],
            "port": port,
            "source_ips": list(rule.get("source_ips") or []),
            "destination_ips": list(rule.get("destination_ips") or []),
            "description": rule.get("description"),
        })
    return out


def _port_ok(port: str) -> bool:
    if port == "any":
        return True
    parts = port.split("-")
    if len(parts) > 2 or not all(p.isdigit() and 1 <= int(p) <= 65535 for p in parts):
        return False
    return len(parts) == 1 or int(parts[0]) < int(parts[1])


def _ipv6_ok(text: str) -> bool:
    import ipaddress

    try:
        return isinstance(ipaddress.ip_network(text, strict=True), ipaddress.IPv6Network)
    except ValueError:
        return False


def _apply_entries(cloud: CloudStore, raw: Any, field: str, *, missing_status: int = 404) -> list[dict[str, Any]]:
    """The `apply_to`/`remove_from` entries. A server that does not exist is
    `firewall_resource_not_found`: 404 in the actions' error tables, 422 in POST /firewalls' table."""
    if not isinstance(raw, list):
        raise invalid_input({field: f"{field} must be a list"})
    out = []
    for entry in raw:
        if not isinstance(entry, dict):
            raise invalid_input({field: "entries must be objects"})
        if entry.get("type") == "server":
            sid = (entry.get("server") or {}).get("id")
            if isinstance(sid, bool) or not isinstance(sid, int):
                raise invalid_input({field: "server.id must be an integer"})
            if sid not in cloud.servers:
                raise ApiError("firewall_resource_not_found", f"server with ID '{sid}' not found", status=missing_status)
            out.append({"type": "server", "server": {"id": sid}})
        elif entry.get("type") == "label_selector":
            selector = (entry.get("label_selector") or {}).get("selector", "")
            try:
                parse_selector(selector)
            except SelectorError as exc:
                raise invalid_input({field: str(exc)}) from None
            out.append({"type": "label_selector", "label_selector": {"selector": selector}})
        else:
            raise invalid_input({field: "type must be 'server' or 'label_selector'"})
    return out


def _check_servers(cloud: CloudStore, firewall_id: int | None, entries: list[dict[str, Any]]) -> None:
    """Refuse servers without a public interface and servers that would pass MAX_PER_SERVER firewalls.

    Spec, apply_to_resources: "Supported resources: Servers (with a public network interface)", and
    `422 private_net_only_server`: "The Server the Firewall should be applied to has no public
    interface"."""
    affected: dict[int, dict[str, Any]] = {}
    for entry in entries:
        if entry["type"] == "server":
            srv = cloud.servers[entry["server"]["id"]]
            if not has_public_interface(srv):
                raise ApiError("private_net_only_server", f"server {srv['id']} has no public interface")
            affected[srv["id"]] = srv
        else:
            affected.update((s["id"], s) for s in cloud.servers_selected(entry["label_selector"]["selector"]))
    for srv in affected.values():
        count = len(set(firewall_ids_of(cloud, srv)) - {firewall_id}) + 1
        if count > MAX_PER_SERVER:
            raise limit_exceeded(srv["id"], count)


def has_public_interface(srv: dict[str, Any]) -> bool:
    """Whether the server has a public IPv4 or IPv6 (created with neither, it has no public NIC)."""
    return bool(srv.get("public_ipv4") or srv.get("public_ipv6"))


def _action(cloud: CloudStore, command: str, fw: dict[str, Any], servers: list[int],
            pending: list[int] | None = None) -> dict[str, Any]:
    """Start a firewall action; the firewall shows `pending` on the `pending` servers until it ends."""
    resources = [("firewall", fw["id"])] + [("server", s) for s in servers]
    record = cloud.actions.start(command, resources, cloud.config.durations.firewall_apply, lock=[("firewall", fw["id"])])
    if pending:
        mark_pending(cloud, fw["id"], pending, record["id"])
    return cloud.actions.shown(record)


async def create(request: web.Request) -> web.Response:
    cloud = request.app[CLOUD]
    body = await read_body(request)
    name = name_field(body)
    labels = labels_field(body) or {}
    rules = _rules(body.get("rules") or [])
    applied = _apply_entries(cloud, body.get("apply_to") or [], "apply_to", missing_status=422)
    # POST /firewalls' error table: "422 server_already_added: The Server was applied more than once."
    server_ids = [e["server"]["id"] for e in applied if e["type"] == "server"]
    if len(server_ids) != len(set(server_ids)):
        raise ApiError("server_already_added", "a server was applied more than once", status=422)
    _check_servers(cloud, None, applied)
    if cloud.name_taken("firewalls", name):
        raise uniqueness_error("name")
    fw: dict[str, Any] = {"id": cloud.new_id("firewalls"), "name": name, "labels": labels, "created": now_iso(),
                          "rules": rules, "applied_to": applied}
    cloud.firewalls[fw["id"]] = fw
    actions = [_action(cloud, "set_firewall_rules", fw, [])] if rules else []
    if applied:
        servers = _servers_of(cloud, fw)
        actions.append(_action(cloud, "apply_firewall", fw, servers, pending=servers))
    return created(201, {"firewall": render(cloud, fw), "actions": actions})


async def list_firewalls(request: web.Request) -> web.Response:
    cloud = request.app[CLOUD]
    return list_response(request, "firewalls", cloud.firewalls.values(), lambda f: render(cloud, f))


async def get_firewall(request: web.Request) -> web.Response:
    cloud = request.app[CLOUD]
    return web.json_response({"firewall": render(cloud, cloud.get("firewalls", path_id(request)))})


async def update(request: web.Request) -> web.Response:
    cloud = request.app[CLOUD]
    fw = cloud.get("firewalls", path_id(request))
    # Spec, PUT /firewalls/{id}: "In case of a parallel running change on the Firewall a `conflict` error
    # will be returned." (Its actions' pages say nothing, so they keep the common `locked`.)
    if cloud.actions.is_locked("firewall", fw["id"]):
        raise ApiError("conflict", f"firewall {fw['id']} is being changed by a running action; retry")
    update_name_and_labels(cloud, "firewalls", fw, await read_body(request))
    return web.json_response({"firewall": render(cloud, fw)})


def _unlocked_firewall(request: web.Request) -> tuple[CloudStore, dict[str, Any]]:
    """The simulated cloud and the firewall named in the URL; `locked` while an action runs on it."""
    cloud = request.app[CLOUD]
    fw = cloud.get("firewalls", path_id(request))
    cloud.ensure_unlocked("firewalls", fw["id"])
    return cloud, fw


async def delete(request: web.Request) -> web.Response:
    cloud, fw = _unlocked_firewall(request)
    _settle(fw)
    in_use = sorted(set(_servers_of(cloud, fw)) | {int(sid) for sid in fw.get("detaching") or {}})
    if in_use:
        raise ApiError("resource_in_use", f"firewall {fw['id']} is still applied to servers {in_use}")
    del cloud.firewalls[fw["id"]]
    return web.Response(status=204)


async def set_rules(request: web.Request) -> web.Response:
    cloud, fw = _unlocked_firewall(request)
    body = await read_body(request)
    fw["rules"] = _rules(body.get("rules") if "rules" in body else None)
    return created(201, {"actions": [_action(cloud, "set_firewall_rules", fw, _servers_of(cloud, fw))]})


async def apply_to_resources(request: web.Request) -> web.Response:
    cloud, fw = _unlocked_firewall(request)
    body = await read_body(request)
    entries = _apply_entries(cloud, body.get("apply_to"), "apply_to")
    for entry in entries:
        if entry in fw["applied_to"]:
            raise ApiError("firewall_already_applied", "firewall is already applied to this resource", status=422)
    _check_servers(cloud, fw["id"], entries)
    before = set(_servers_of(cloud, fw))
    fw["applied_to"].extend(entries)
    servers = _servers_of(cloud, fw)
    added = [s for s in servers if s not in before]
    return created(201, {"actions": [_action(cloud, "apply_firewall", fw, servers, pending=added)]})


async def remove_from_resources(request: web.Request) -> web.Response:
    cloud, fw = _unlocked_firewall(request)
    body = await read_body(request)
    entries = _apply_entries(cloud, body.get("remove_from"), "remove_from")
    for entry in entries:
        if entry not in fw["applied_to"]:
            raise ApiError("firewall_resource_not_found", "firewall is not applied to this resource", status=404)
    fw["applied_to"] = [e for e in fw["applied_to"] if e not in entries]
    return created(201, {"actions": [_action(cloud, "remove_firewall", fw, [])]})


def routes() -> list[web.RouteDef]:
    """Routes of the firewalls family."""
    base = "/v1/firewalls/{id}/actions"
    return [
        web.get("/v1/firewalls", list_firewalls),
        web.post("/v1/firewalls", create),
        web.get("/v1/firewalls/{id}", get_firewall),
        web.put("/v1/firewalls/{id}", update),
        web.delete("/v1/firewalls/{id}", delete),
        web.post(f"{base}/set_rules", set_rules),
        web.post(f"{base}/apply_to_resources", apply_to_resources),
        web.post(f"{base}/remove_from_resources", remove_from_resources),
    ]
