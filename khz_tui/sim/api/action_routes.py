"""Reading actions: `GET /actions/{id}`, `GET /actions?id=..&id=..` and the per-resource lists."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from khz_tui.sim.api.errors import invalid_input, not_found
from khz_tui.sim.api.listing import ids_param, sort_by_query
from khz_tui.sim.api.pagination import paginated_response
from khz_tui.sim.api.store import CLOUD, KINDS, SINGULAR, Kind
from khz_tui.sim.api.wire import path_id

# The `sort` enum of `GET /actions` and the per-kind action lists in the spec.
ACTION_SORT_FIELDS = ("id", "command", "status", "started", "finished")


def _filtered(request: web.Request, actions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    statuses = request.query.getall("status", [])
    if statuses:
        actions = [a for a in actions if a["status"] in statuses]
    return sort_by_query(request, actions, ACTION_SORT_FIELDS)


async def get_action(request: web.Request) -> web.Response:
    cloud = request.app[CLOUD]
    action = cloud.actions.view(path_id(request))
    if action is None:
        raise not_found("action", request.match_info["id"])
    return web.json_response({"action": action})


async def list_actions(request: web.Request) -> web.Response:
    """Many actions by id in one request; listing every action without ids was removed by Hetzner."""
    cloud = request.app[CLOUD]
    ids = ids_param(request)
    if not ids:
        raise invalid_input({"id": "at least one id is required"})
    found = [a for a in (cloud.actions.view(i) for i in ids) if a is not None]
    return paginated_response(request, "actions", _filtered(request, found))


def _kind_routes(kind: Kind) -> list[web.RouteDef]:
    singular = SINGULAR[kind]

    async def for_resource(request: web.Request) -> web.Response:
        cloud = request.app[CLOUD]
        record = cloud.get(kind, path_id(request))
        actions = _filtered(request, cloud.actions.for_resource(singular, record["id"]))
        return paginated_response(request, "actions", actions)

    async def one_for_resource(request: web.Request) -> web.Response:
        cloud = request.app[CLOUD]
        record = cloud.get(kind, path_id(request))
        action = cloud.actions.view(path_id(request, "action_id"))
        if action is None or not any(r["type"] == singular and r["id"] == record["id"] for r in action["resources"]):
            raise not_found("action", request.match_info["action_id"])
        return web.json_response({"action": action})

    async def kind_list(request: web.Request) -> web.Response:
        cloud = request.app[CLOUD]
        ids = ids_param(request)
        found = [a for a in (cloud.actions.view(i) for i in ids) if a is not None]
        found = [a for a in found if any(r["type"] == singular for r in a["resources"])]
        return paginated_response(request, "actions", _filtered(request, found))

    async def kind_one(request: web.Request) -> web.Response:
        cloud = request.app[CLOUD]
        action = cloud.actions.view(path_id(request))
        if action is None or not any(r["type"] == singular for r in action["resources"]):
            raise not_found("action", request.match_info["id"])
        return web.json_response({"action": action})

    return [
        web.get(f"/v1/{kind}/actions", kind_list),
        web.get(f"/v1/{kind}/actions/{{id}}", kind_one),
        web.get(f"/v1/{kind}/{{id}}/actions", for_resource),
        web.get(f"/v1/{kind}/{{id}}/actions/{{action_id}}", one_for_resource),
    ]


def routes() -> list[web.RouteDef]:
    """Action routes; registered before `/{kind}/{id}` so `actions` is not read as an id."""
    out = [web.get("/v1/actions", list_actions), web.get("/v1/actions/{id}", get_action)]
    for kind in KINDS:
        if kind not in ("ssh_keys", "placement_groups"):
            out.extend(_kind_routes(kind))
    return out
