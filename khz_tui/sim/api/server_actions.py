"""Server actions: power (poweron, poweroff, shutdown, reboot, reset) and private networks."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from khz_tui.sim.api.errors import ApiError
from khz_tui.sim.api.networks import allocate_ip
from khz_tui.sim.api.servers import _mac, _start_action
from khz_tui.sim.api.store import STATE, CloudState
from khz_tui.sim.api.wire import created, id_field, path_id, read_body


def _server(request: web.Request) -> tuple[CloudState, dict[str, Any]]:
    state = request.app[STATE]
    srv = state.get("servers", path_id(request))
    state.ensure_unlocked("servers", srv["id"])
    return state, srv


def _respond(state: CloudState, action: dict[str, Any]) -> web.Response:
    return created(201, {"action": state.actions.view(action["id"])})


async def poweron(request: web.Request) -> web.Response:
    state, srv = _server(request)
    if srv["status"] == "running":  # Hetzner answers with an action that succeeds at once
        return _respond(state, state.actions.instant("start_server", [("server", srv["id"])]))
    srv["status"] = "starting"
    return _respond(state, _start_action(state, srv))


async def _stop(request: web.Request, command: str, seconds: float) -> web.Response:
    state, srv = _server(request)
    if srv["status"] == "off":
        return _respond(state, state.actions.instant(command, [("server", srv["id"])]))
    srv["status"] = "stopping"

    async def stopped() -> None:
        srv["status"] = "off"
        if state.nodes is not None:
            await state.nodes.power_off(srv["id"])

    return _respond(state, state.actions.start(command, [("server", srv["id"])], seconds, on_success=stopped))


async def poweroff(request: web.Request) -> web.Response:
    return await _stop(request, "stop_server", request.app[STATE].config.durations.server_poweroff)


async def shutdown(request: web.Request) -> web.Response:
    return await _stop(request, "shutdown_server", request.app[STATE].config.durations.server_shutdown)


async def _restart(request: web.Request, command: str) -> web.Response:
    state, srv = _server(request)
    if srv["status"] != "running":
        raise ApiError("conflict", f"server {srv['id']} is not running")
    durations = state.config.durations

    async def rebooted() -> None:
        if state.nodes is not None:
            await state.nodes.reboot(srv["id"], durations.server_boot * state.config.time_scale)

    return _respond(state, state.actions.start(command, [("server", srv["id"])], durations.server_reboot, on_success=rebooted))


async def reboot(request: web.Request) -> web.Response:
    return await _restart(request, "reboot_server")


async def reset(request: web.Request) -> web.Response:
    return await _restart(request, "reset_server")


async def attach_to_network(request: web.Request) -> web.Response:
    state, srv = _server(request)
    body = await read_body(request)
    net = state.get("networks", id_field(body, "network"))
    if any(p["network"] == net["id"] for p in srv["private_net"]):
        raise ApiError("server_already_attached", f"server {srv['id']} is already attached to network {net['id']}")
    members = sum(1 for s in state.servers.values() if any(p["network"] == net["id"] for p in s["private_net"]))
    if members >= state.config.network_server_limit:
        # `details.limits` shaped as in the spec's overview example of this error.
        raise ApiError("resource_limit_exceeded", f"network {net['id']} already holds {members} servers",
                       {"limits": [{"name": "servers_per_network"}]})
    zone = state.offer.location(srv["location"])["network_zone"]
    ip = allocate_ip(state, net, zone, body.get("ip"))
    # The address is reserved at once so concurrent attaches never collide; the machine sees it when
    # the action completes.
    srv["private_net"].append({"network": net["id"], "ip": ip, "alias_ips": list(body.get("alias_ips") or []), "mac_address": _mac(srv["id"], net["id"])})

    async def attached() -> None:
        if state.nodes is not None and srv["id"] in state.servers:
            await state.nodes.networks_changed(srv["id"], state.node_spec(srv).private_ips)

    action = state.actions.start(
        "attach_to_network", [("server", srv["id"]), ("network", net["id"])],
        state.config.durations.server_network, on_success=attached,
    )
    return _respond(state, action)


async def detach_from_network(request: web.Request) -> web.Response:
    state, srv = _server(request)
    body = await read_body(request)
    net = state.get("networks", id_field(body, "network"))
    if not any(p["network"] == net["id"] for p in srv["private_net"]):
        raise ApiError("server_not_attached", f"server {srv['id']} is not attached to network {net['id']}")

    async def detached() -> None:
        srv["private_net"] = [p for p in srv["private_net"] if p["network"] != net["id"]]
        if state.nodes is not None and srv["id"] in state.servers:
            await state.nodes.networks_changed(srv["id"], state.node_spec(srv).private_ips)

    action = state.actions.start(
        "detach_from_network", [("server", srv["id"]), ("network", net["id"])],
        state.config.durations.server_network, on_success=detached,
    )
    return _respond(state, action)


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
