"""Firewalls: rules, application to servers directly or by label selector, delete."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from khz_tui.sim.api.actions import now_iso
from khz_tui.sim.api.addresses import parse_ipv4_network
from khz_tui.sim.api.errors import ApiError, invalid_input, uniqueness_error
from khz_tui.sim.api.labels import SelectorError, matches, parse_selector
from khz_tui.sim.api.listing import list_response
from khz_tui.sim.api.store import STATE, CloudState
from khz_tui.sim.api.wire import created, labels_field, name_field, path_id, read_body, update_name_and_labels

PROTOCOLS = ("tcp", "udp", "icmp", "esp", "gre")


def _servers_of(state: CloudState, fw: dict[str, Any]) -> list[int]:
    ids: set[int] = set()
    for entry in fw["applied_to"]:
        if entry["type"] == "server":
            ids.add(entry["server"]["id"])
        else:
            ids |= {s["id"] for s in state.servers_selected(entry["label_selector"]["selector"])}
    return sorted(i for i in ids if i in state.servers)


def firewall_ids_of(state: CloudState, srv: dict[str, Any]) -> list[int]:
    """Firewalls that apply to a server, directly or through a label selector."""
    out = []
    for fw in state.firewalls.values():
        for entry in fw["applied_to"]:
            if entry["type"] == "server" and entry["server"]["id"] == srv["id"]:
                out.append(fw["id"])
                break
            if entry["type"] == "label_selector" and matches(entry["label_selector"]["selector"], srv["labels"]):
                out.append(fw["id"])
                break
    return sorted(out)


def apply_directly(state: CloudState, firewall_id: int, server_id: int) -> None:
    """Apply a firewall to one server (server create with `firewalls`)."""
    state.firewalls[firewall_id]["applied_to"].append({"type": "server", "server": {"id": server_id}})


def forget_server(state: CloudState, server_id: int) -> None:
    """Drop direct applications to a deleted server."""
    for fw in state.firewalls.values():
        fw["applied_to"] = [e for e in fw["applied_to"] if not (e["type"] == "server" and e["server"]["id"] == server_id)]


def render(state: CloudState, fw: dict[str, Any]) -> dict[str, Any]:
    """A firewall as the API shows it; every rule carries all six keys (hcloud-python needs them)."""
    applied = []
    for entry in fw["applied_to"]:
        if entry["type"] == "server":
            applied.append({"type": "server", "server": {"id": entry["server"]["id"]}})
        else:
            servers = state.servers_selected(entry["label_selector"]["selector"])
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


def _apply_entries(state: CloudState, raw: Any) -> list[dict[str, Any]]:
    if not isinstance(raw, list):
        raise invalid_input({"apply_to": "apply_to must be a list"})
    out = []
    for entry in raw:
        if not isinstance(entry, dict):
            raise invalid_input({"apply_to": "entries must be objects"})
        if entry.get("type") == "server":
            sid = (entry.get("server") or {}).get("id")
            if sid not in state.servers:
                raise invalid_input({"apply_to": f"server '{sid}' not found"})
            out.append({"type": "server", "server": {"id": sid}})
        elif entry.get("type") == "label_selector":
            selector = (entry.get("label_selector") or {}).get("selector", "")
            try:
                parse_selector(selector)
            except SelectorError as exc:
                raise invalid_input({"apply_to": str(exc)}) from None
            out.append({"type": "label_selector", "label_selector": {"selector": selector}})
        else:
            raise invalid_input({"apply_to": "type must be 'server' or 'label_selector'"})
    return out


def _action(state: CloudState, command: str, fw: dict[str, Any], servers: list[int]) -> dict[str, Any]:
    resources = [("firewall", fw["id"])] + [("server", s) for s in servers]
    record = state.actions.start(command, resources, state.config.durations.firewall_apply, lock=[("firewall", fw["id"])])
    return state.actions.view(record["id"])


async def create(request: web.Request) -> web.Response:
    state = request.app[STATE]
    body = await read_body(request)
    name = name_field(body)
    labels = labels_field(body) or {}
    rules = _rules(body.get("rules") or [])
    applied = _apply_entries(state, body.get("apply_to") or [])
    if state.name_taken("firewalls", name):
        raise uniqueness_error("name")
    fw = {"id": state.new_id("firewalls"), "name": name, "labels": labels, "created": now_iso(), "rules": rules, "applied_to": applied}
    state.firewalls[fw["id"]] = fw
    actions = [_action(state, "set_firewall_rules", fw, [])] if rules else []
    if applied:
        actions.append(_action(state, "apply_firewall", fw, _servers_of(state, fw)))
    return created(201, {"firewall": render(state, fw), "actions": actions})


async def list_firewalls(request: web.Request) -> web.Response:
    state = request.app[STATE]
    return list_response(request, "firewalls", state.firewalls.values(), lambda f: render(state, f))


async def get_firewall(request: web.Request) -> web.Response:
    state = request.app[STATE]
    return web.json_response({"firewall": render(state, state.get("firewalls", path_id(request)))})


async def update(request: web.Request) -> web.Response:
    state = request.app[STATE]
    fw = state.get("firewalls", path_id(request))
    update_name_and_labels(state, "firewalls", fw, await read_body(request))
    return web.json_response({"firewall": render(state, fw)})


def _unlocked_firewall(request: web.Request) -> tuple[CloudState, dict[str, Any]]:
    """The project state and the firewall named in the URL; `locked` while an action runs on it."""
    state = request.app[STATE]
    fw = state.get("firewalls", path_id(request))
    state.ensure_unlocked("firewalls", fw["id"])
    return state, fw


async def delete(request: web.Request) -> web.Response:
    state, fw = _unlocked_firewall(request)
    in_use = _servers_of(state, fw)
    if in_use:
        raise ApiError("resource_in_use", f"firewall {fw['id']} is still applied to servers {in_use}")
    del state.firewalls[fw["id"]]
    return web.Response(status=204)


async def set_rules(request: web.Request) -> web.Response:
    state, fw = _unlocked_firewall(request)
    body = await read_body(request)
    fw["rules"] = _rules(body.get("rules") if "rules" in body else None)
    return created(201, {"actions": [_action(state, "set_firewall_rules", fw, _servers_of(state, fw))]})


async def apply_to_resources(request: web.Request) -> web.Response:
    state, fw = _unlocked_firewall(request)
    body = await read_body(request)
    entries = _apply_entries(state, body.get("apply_to"))
    for entry in entries:
        if entry in fw["applied_to"]:
            raise ApiError("firewall_already_applied", "firewall is already applied to this resource", status=422)
    fw["applied_to"].extend(entries)
    return created(201, {"actions": [_action(state, "apply_firewall", fw, _servers_of(state, fw))]})


async def remove_from_resources(request: web.Request) -> web.Response:
    state, fw = _unlocked_firewall(request)
    body = await read_body(request)
    entries = _apply_entries(state, body.get("remove_from"))
    for entry in entries:
        if entry not in fw["applied_to"]:
            raise ApiError("firewall_resource_not_found", "firewall is not applied to this resource", status=404)
    fw["applied_to"] = [e for e in fw["applied_to"] if e not in entries]
    return created(201, {"actions": [_action(state, "remove_firewall", fw, [])]})


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
