"""Simulator-only endpoints (same bearer auth): how the engine tells the simulator from Hetzner and
where each simulated server's sshd listens.

- `GET /v1/x-sim/info` -> `{"simulator": true, "version": "...", "caller_cidr": "127.0.0.1/32", "time_scale": 0.02}`
- `GET /v1/x-sim/ssh-targets?id=1&id=2` -> `{"targets": [{"server_id": 1, "host": "127.0.0.1", "port": 40123}]}`
  (servers whose sshd has no endpoint yet are left out).
"""

from __future__ import annotations

from aiohttp import web

from khz_tui import __version__
from khz_tui.sim.api.errors import invalid_input
from khz_tui.sim.api.listing import ids_param
from khz_tui.sim.api.store import CLOUD


async def info(request: web.Request) -> web.Response:
    """Identify the simulator, the address its SSH endpoints see callers come from, and its clock's time scale."""
    cloud = request.app[CLOUD]
    return web.json_response({
        "simulator": True, "version": __version__, "caller_cidr": "127.0.0.1/32",
        "time_scale": cloud.config.time_scale,
    })


async def ssh_targets(request: web.Request) -> web.Response:
    """Map server ids to the loopback host and port of their sshd."""
    cloud = request.app[CLOUD]
    ids = ids_param(request)
    if not ids:
        raise invalid_input({"id": "at least one server id is required"})
    targets = []
    for server_id in ids:
        cloud.get("servers", server_id)
        target = cloud.nodes.ssh_target(server_id) if cloud.nodes is not None else None
        if target is not None:
            targets.append({"server_id": server_id, "host": target[0], "port": target[1]})
    return web.json_response({"targets": targets})


def routes() -> list[web.RouteDef]:
    """The x-sim routes."""
    return [web.get("/v1/x-sim/info", info), web.get("/v1/x-sim/ssh-targets", ssh_targets)]
