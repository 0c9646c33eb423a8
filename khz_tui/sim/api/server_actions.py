"""Server actions: power (poweron, poweroff, shutdown, reboot, reset) and private networks."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from khz_tui.sim.api.errors import ApiError
from khz_tui.sim.api.networks import allocate_ip
from khz_tui.sim.api.servers import _mac, _start_action
from khz_tui.sim.api.store import CLOUD, CloudStore
from khz_tui.sim.api.wire import created, id_field, path_id, read_body


def _server(request: web.Request) -> tuple[CloudStore, dict[str, Any]]:
    cloud = request.app[CLOUD]
    srv = cloud.get("servers", path_id(request))
    cloud.ensure_unlocked("servers", srv["id"])
    return cloud, srv


def _respond(cloud: CloudStore, action: dict[str, Any]) -> web.Response:
    return created(201, {"action": cloud.actions.view(action["id"])})


async def poweron(request: web.Request) -> web.Response:
    cloud, srv = _server(request)
    if srv["status"] == "running":  # Hetzner answers with an action that succeeds at once
        return _respond(cloud, cloud.actions.instant("start_server", [("server", srv["id"])]))
    srv["status"] = "starting"
    return _respond(cloud, _start_action(cloud, srv))


async def _stop(request: web.Request, command: str, seconds: float) -> web.Response:
    cloud, srv = _server(request)
    if srv["status"] == "off":
        return _respond(cloud, cloud.actions.instant(command, [("server", srv["id"])]))
    srv["status"] = "stopping"

    async def stopped() -> None:
        srv["status"] = "off"
        if cloud.nodes is not None:
            await cloud.nodes.power_off(srv["id"])

    return _respond(cloud, cloud.actions.start(command, [("server", srv["id"])], seconds, on_success=stopped))


async def poweroff(request: web.Request) -> web.Response:
    return await _stop(request, "stop_server", request.app[CLOUD].config.durations.server_poweroff)


async def shutdown(request: web.Request) -> web.Response:
    return await _stop(request, "shutdown_server", request.app[CLOUD].config.durations.server_shutdown)


async def _restart(request: web.Request, command: str) -> web.Response:
    cloud, srv = _server(request)
    if srv["status"] != "running":
        raise ApiError("conflict", f"server {srv['id']} is not running")
    durations = cloud.config.durations

    async def rebooted() -> None:
        if cloud.nodes is not None:
            await cloud.nodes.reboot(srv["id"], durations.server_boot * cloud.config.time_scale)

    return _respond(cloud, cloud.actions.start(command, [("server", srv["id"])], durations.server_reboot, on_success=rebooted))


async def reboot(request: web.Request) -> web.Response:
    return await _restart(request, "reboot_server")


async def reset(request: web.Request) -> web.Response:
    return await _restart(request, "reset_server")


async def attach_to_network(request: web.Request) -> web.Response:
    cloud, srv = _server(request)
    body = await read_body(request)
    net = cloud.get("networks", id_field(body, "network"))
    if any(p["network"] == net["id"] for p in srv["private_net"]):
        raise ApiError("server_already_attached", f"server {srv['id']} is already attached to network {net['id']}")
    members = sum(1 for s in cloud.servers.values() if any(p["network"] == net["id"] for p in s["private_net"]))
    if members >= cloud.config.network_server_limit:
        # `details.limits` shaped as in the spec's overview example of this error.
        raise ApiError("resource_limit_exceeded", f"network {net['id']} already holds {members} servers",
                       {"limits": [{"name": "servers_per_network"}]})
    zone = cloud.offer.location(srv["location"])["network_zone"]
    ip = allocate_ip(cloud, net, zone, body.get("ip"))
    # The address is reserved at once so concurrent attaches never collide; the machine sees it when
    # the action completes.
    srv["private_net"].append({"network": net["id"], "ip": ip, "alias_ips": list(body.get("alias_ips") or []),
                               "mac_address": _mac(srv["id"], net["id"])})

    async def attached() -> None:
        if cloud.nodes is not None and srv["id"] in cloud.servers:
            await cloud.nodes.networks_changed(srv["id"], cloud.node_spec(srv).private_ips)

    action = cloud.actions.start(
        "attach_to_network", [("server", srv["id"]), ("network", net["id"])],
        cloud.config.durations.server_network, on_success=attached,
    )
    return _respond(cloud, action)


async def detach_from_network(request: web.Request) -> web.Response:
    cloud, srv = _server(request)
    body = await read_body(request)
    net = cloud.get("networks", id_field(body, "network"))
    if not any(p["network"] == net["id"] for p in srv["private_net"]):
        raise ApiError("server_not_attached", f"server {srv['id']} is not attached to network {net['id']}")

    async def detached() -> None:
        srv["private_net"] = [p for p in srv["private_net"] if p["network"] != net["id"]]
        if cloud.nodes is not None and srv["id"] in cloud.servers:
            await cloud.nodes.networks_changed(srv["id"], cloud.node_spec(srv).private_ips)

    action = cloud.actions.start(
        "detach_from_network", [("server", srv["id"]), ("network", net["id"])],
        cloud.config.durations.server_network, on_success=detached,
    )
    return _respond(cloud, action)


def routes() -> list[web.RouteDef]:
    """Routes of the servers family (collection routes live in `servers`)."""
    from khz_tui.sim.api import servers

    base = "/v1/servers/{id}/actions"
    return [
        web.get("/v1/servers", servers.list_servers),
        web.post("/v1/servers", servers.create),
        web.get("/v1/servers/{id}", servers.get_server),
        web.put("/v1/servers/{id}", servers.update),
        web.delete("/v1/servers/{id}", servers.delete),
        web.post(f"{base}/poweron", poweron),
        web.post(f"{base}/poweroff", poweroff),
        web.post(f"{base}/shutdown", shutdown),
        web.post(f"{base}/reboot", reboot),
        web.post(f"{base}/reset", reset),
        web.post(f"{base}/attach_to_network", attach_to_network),
        web.post(f"{base}/detach_from_network", detach_from_network),
    ]
