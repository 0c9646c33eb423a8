"""Servers: create with networks, firewalls, placement group, SSH keys and user data; list, update,
delete; power actions. Booting is handed to the node host when the create action completes."""

from __future__ import annotations

import hashlib
from typing import Any

from aiohttp import web

from khz_tui.sim.api import firewalls as fw
from khz_tui.sim.api import volumes as vols
from khz_tui.sim.api.actions import now_iso
from khz_tui.sim.api.errors import ApiError, invalid_input, uniqueness_error
from khz_tui.sim.api.listing import list_response
from khz_tui.sim.api.networks import allocate_ip
from khz_tui.sim.api.store import CLOUD, CloudStore
from khz_tui.sim.api.wire import created, id_field, labels_field, name_field, path_id, read_body, update_name_and_labels

USER_DATA_LIMIT = 32 * 1024


def _mac(server_id: int, network_id: int) -> str:
    digest = hashlib.sha256(f"{server_id}:{network_id}".encode()).digest()
    return "86:00:" + ":".join(f"{b:02x}" for b in digest[:4])


def render(cloud: CloudStore, srv: dict[str, Any]) -> dict[str, Any]:
    """A server as the API shows it, deprecated `datacenter` included for older clients."""
    offer = cloud.offer
    location = offer.location(srv["location"])
    server_type = offer.server_type(srv["server_type"])
    ipv4 = ipv6 = None
    if srv.get("public_ipv4"):
        ipv4 = {"id": srv["public_ipv4_id"], "ip": srv["public_ipv4"], "blocked": False,
                "dns_ptr": f"static.{srv['public_ipv4']}.clients.your-server.de"}
    if srv.get("public_ipv6"):
        ipv6 = {"id": srv["public_ipv6_id"], "ip": srv["public_ipv6"], "blocked": False, "dns_ptr": []}
    group = cloud.placement_groups.get(srv.get("placement_group") or -1)
    return {
        "id": srv["id"],
        "name": srv["name"],
        "status": srv["status"],
        "created": srv["created"],
        "public_net": {
            "ipv4": ipv4,
            "ipv6": ipv6,
            "floating_ips": [],
            "firewalls": [{"id": f, "status": fw.status_on(cloud, f, srv["id"])} for f in fw.firewall_ids_of(cloud, srv)],
        },
        "private_net": [dict(p) for p in srv["private_net"]],
        "server_type": server_type,
        "datacenter": offer.datacenter_of(srv["location"]),
        "location": location,
        "image": offer.images[srv["image_id"]],
        "iso": None,
        "rescue_enabled": False,
        "locked": cloud.actions.is_locked("server", srv["id"]),
        "backup_window": None,
        "outgoing_traffic": 0,
        "ingoing_traffic": 0,
        "included_traffic": 21990232555520,
        "protection": {"delete": False, "rebuild": False},
        "labels": dict(srv["labels"]),
        "volumes": sorted(v["id"] for v in cloud.volumes.values() if v.get("server") == srv["id"]),
        "load_balancers": sorted(lb["id"] for lb in cloud.load_balancers.values()
                                 if srv["id"] in {s["id"] for s in cloud.lb_target_servers(lb)}),
        "primary_disk_size": server_type["disk"],
        "placement_group": _render_group(cloud, group) if group else None,
    }


def _render_group(cloud: CloudStore, group: dict[str, Any]) -> dict[str, Any]:
    from khz_tui.sim.api.placement_groups import render as render_group

    return render_group(cloud, group)


def _location_of(cloud: CloudStore, body: dict[str, Any]) -> dict[str, Any]:
    # Spec, POST /servers: `location` "must not be used together with `datacenter`" (and vice versa).
    if body.get("location") is not None and body.get("datacenter") is not None:
        message = "location and datacenter must not be used together"
        raise invalid_input({"location": message, "datacenter": message})
    if body.get("location") is not None:
        return cloud.offer.location(body["location"])
    if body.get("datacenter") is not None:
        location: dict[str, Any] = cloud.offer.datacenter(body["datacenter"])["location"]
        return location
    return cloud.offer.location("fsn1")


async def create(request: web.Request) -> web.Response:
    cloud = request.app[CLOUD]
    body = await read_body(request)
    name = name_field(body, hostname=True)
    labels = labels_field(body) or {}
    stype = cloud.offer.server_type(body.get("server_type"))
    location = _location_of(cloud, body)
    if body.get("image") in (None, ""):
        raise invalid_input({"image": "image is required"})
    image = cloud.offer.image(body.get("image"), stype["architecture"])
    user_data = body.get("user_data")
    if user_data is not None and (not isinstance(user_data, str) or len(user_data.encode()) > USER_DATA_LIMIT):
        raise invalid_input({"user_data": "user_data must be a string of at most 32 KiB"})
    if cloud.name_taken("servers", name):
        raise uniqueness_error("name")
    if len(cloud.servers) >= cloud.config.server_limit:
        # `details.limits` as in the spec's overview example of this error.
        raise ApiError("resource_limit_exceeded", f"server limit of {cloud.config.server_limit} exceeded",
                       {"limits": [{"name": "project_limit"}]})
    if not cloud.offer.offered_in(stype, location["name"]):
        raise ApiError("resource_unavailable", f"server type {stype['name']} is not available in {location['name']}")

    keys = []
    for ident in body.get("ssh_keys") or []:
        key = cloud.get_by_id_or_name("ssh_keys", ident)
        if key is None:
            raise invalid_input({"ssh_keys": f"SSH key '{ident}' not found"})
        keys.append(key)
    networks = []
    for ident in body.get("networks") or []:
        net = cloud.networks.get(int(ident)) if str(ident).isdigit() else None
        if net is None:
            raise invalid_input({"networks": f"network '{ident}' not found"})
        networks.append(net)
    firewall_ids = []
    for entry in body.get("firewalls") or []:
        fid = id_field(entry if isinstance(entry, dict) else {"firewall": entry}, "firewall")
        if fid not in cloud.firewalls:
            raise invalid_input({"firewalls": f"firewall '{fid}' not found"})
        firewall_ids.append(fid)
    public_net = body.get("public_net") or {}
    public = public_net.get("enable_ipv4", True) is not False or public_net.get("enable_ipv6", True) is not False
    # Spec: `firewalls` "should be applied on the Server's public network interface"; without one the
    # code of apply_to_resources applies: 422 private_net_only_server ("has no public interface").
    if firewall_ids and not public:
        raise ApiError("private_net_only_server", "a server without public IPv4 and IPv6 has no public interface for firewalls")
    # Spec, apply_to_resources: at most 5 firewalls per server, label-selector matches included.
    applying = set(firewall_ids) | set(fw.firewall_ids_for_labels(cloud, labels))
    if len(applying) > fw.MAX_PER_SERVER:
        raise fw.limit_exceeded(name, len(applying))
    volumes = _volumes_for(cloud, body, location["name"])
    group_id = id_field(body, "placement_group", required=False)
    if group_id is not None:
        if group_id not in cloud.placement_groups:
            raise invalid_input({"placement_group": f"placement group '{group_id}' not found"})
        members = [s for s in cloud.servers.values() if s.get("placement_group") == group_id]
        if len(members) >= cloud.config.placement_group_limit:
            raise ApiError("placement_error", f"placement group {group_id} already holds {len(members)} servers")

    server_id = cloud.new_id("servers")
    private_net = []
    for net in networks:
        ip = allocate_ip(cloud, net, location["network_zone"])
        private_net.append({"network": net["id"], "ip": ip, "alias_ips": [], "mac_address": _mac(server_id, net["id"])})
    srv: dict[str, Any] = {
        "id": server_id,
        "name": name,
        "status": "initializing",
        "created": now_iso(),
        "server_type": stype["name"],
        "architecture": stype["architecture"],
        "location": location["name"],
        "image": image["name"],
        "image_id": image["id"],
        "labels": labels,
        "public_ipv4": cloud.public.take_v4() if public_net.get("enable_ipv4", True) is not False else None,
        "public_ipv6": cloud.public.take_v6() if public_net.get("enable_ipv6", True) is not False else None,
        "private_net": private_net,
        "placement_group": group_id,
        "user_data": user_data,
        "ssh_keys": [k["id"] for k in keys],
        "authorized_keys": [k["public_key"] for k in keys],
    }
    srv["public_ipv4_id"] = server_id + 5000000 if srv["public_ipv4"] else None
    srv["public_ipv6_id"] = server_id + 6000000 if srv["public_ipv6"] else None
    cloud.servers[server_id] = srv
    for fid in firewall_ids:
        fw.apply_directly(cloud, fid, server_id)

    start = body.get("start_after_create", True) is not False
    failure = cloud.create_failure("server", name)
    durations = cloud.config.durations

    def created_ok() -> None:
        srv["status"] = "starting" if start else "off"

    def created_failed() -> None:
        srv["status"] = "off"

    action = cloud.actions.start(
        "create_server", [("server", server_id)], durations.server_create,
        on_success=created_ok, on_error=created_failed, failure=failure,
    )
    for fid in fw.firewall_ids_of(cloud, srv):
        fw.mark_pending(cloud, fid, [server_id], action["id"])  # applied with the server, when it exists
    next_actions = []
    if start:
        next_actions.append(_start_action(cloud, srv, after=action["id"]))
    # Spec: `volumes` "should be attached to the Server at the creation time"; `automount`: "Auto-mount
    # Volumes after attach".
    for vol in volumes:
        vol["automount"] = body.get("automount") is True
        next_actions.append(vols.attach_action(cloud, vol, srv, after=action["id"]))
    return created(
        201,
        {
            "server": render(cloud, srv),
            "action": cloud.actions.view(action["id"]),
            "next_actions": [cloud.actions.view(a["id"]) for a in next_actions],
            "root_password": None if keys else "simulated-root-password",
        },
    )


def _volumes_for(cloud: CloudStore, body: dict[str, Any], location: str) -> list[dict[str, Any]]:
    """The volumes of `POST /servers`, checked: "Volumes must be in the same Location" (spec)."""
    raw = body.get("volumes") or []
    if not isinstance(raw, list):
        raise invalid_input({"volumes": "volumes must be a list of volume IDs"})
    found = []
    for ident in raw:
        if isinstance(ident, bool) or not isinstance(ident, int):
            raise invalid_input({"volumes": "volumes must be a list of volume IDs"})
        vol = cloud.volumes.get(ident)
        if vol is None:
            raise invalid_input({"volumes": f"volume '{ident}' not found"})
        if vol["location"] != location:
            raise invalid_input({"volumes": f"volume {ident} is in {vol['location']}, the server in {location}"})
        if vol.get("server") is not None:
            raise ApiError("volume_already_attached", f"volume {ident} is attached to server {vol['server']}", status=422)
        cloud.ensure_unlocked("volumes", ident)
        if vol not in found:
            found.append(vol)
    return found


def _start_action(cloud: CloudStore, srv: dict[str, Any], after: int | None = None) -> dict[str, Any]:
    durations = cloud.config.durations

    async def started() -> None:
        if srv["id"] not in cloud.servers:
            return
        srv["status"] = "running"
        if cloud.nodes is not None:
            await cloud.nodes.boot(cloud.node_spec(srv), durations.server_boot * cloud.config.time_scale)

    return cloud.actions.start("start_server", [("server", srv["id"])], durations.server_start, on_success=started, after=after)


async def list_servers(request: web.Request) -> web.Response:
    cloud = request.app[CLOUD]
    records = list(cloud.servers.values())
    statuses = request.query.getall("status", [])
    if statuses:
        records = [s for s in records if s["status"] in statuses]
    return list_response(request, "servers", records, lambda s: render(cloud, s))


async def get_server(request: web.Request) -> web.Response:
    cloud = request.app[CLOUD]
    return web.json_response({"server": render(cloud, cloud.get("servers", path_id(request)))})


async def update(request: web.Request) -> web.Response:
    cloud = request.app[CLOUD]
    srv = cloud.get("servers", path_id(request))
    update_name_and_labels(cloud, "servers", srv, await read_body(request), hostname=True)
    return web.json_response({"server": render(cloud, srv)})


async def delete(request: web.Request) -> web.Response:
    cloud = request.app[CLOUD]
    srv = cloud.get("servers", path_id(request))
    cloud.ensure_unlocked("servers", srv["id"])
    srv["status"] = "deleting"

    async def gone() -> None:
        cloud.servers.pop(srv["id"], None)
        cloud.public.release(srv.get("public_ipv4"))
        cloud.public.release(srv.get("public_ipv6"))
        for vol in cloud.volumes.values():
            if vol.get("server") == srv["id"]:
                vol["server"] = None
        for lb in cloud.load_balancers.values():
            lb["targets"] = [t for t in lb["targets"] if t.get("server", {}).get("id") != srv["id"]]
        fw.server_deleted(cloud, srv)
        if cloud.nodes is not None:
            await cloud.nodes.remove(srv["id"])

    action = cloud.actions.start("delete_server", [("server", srv["id"])], cloud.config.durations.server_delete, on_success=gone)
    return web.json_response({"action": cloud.actions.view(action["id"])})


__all__ = ["create", "delete", "get_server", "list_servers", "render", "update"]
