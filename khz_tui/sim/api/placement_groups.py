"""Placement groups (type `spread`, at most 10 servers each)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from khz_tui.sim.api.actions import now_iso
from khz_tui.sim.api.errors import invalid_input, uniqueness_error
from khz_tui.sim.api.listing import list_response
from khz_tui.sim.api.store import CLOUD, CloudStore
from khz_tui.sim.api.wire import created, labels_field, name_field, path_id, read_body, update_name_and_labels


def render(cloud: CloudStore, group: dict[str, Any]) -> dict[str, Any]:
    """A placement group as the API shows it."""
    return {
        "id": group["id"],
        "name": group["name"],
        "labels": dict(group["labels"]),
        "type": group["type"],
        "created": group["created"],
        "servers": sorted(s["id"] for s in cloud.servers.values() if s.get("placement_group") == group["id"]),
    }


async def create(request: web.Request) -> web.Response:
    cloud = request.app[CLOUD]
    body = await read_body(request)
    name = name_field(body)
    labels = labels_field(body) or {}
    if body.get("type") != "spread":
        raise invalid_input({"type": "type must be 'spread'"})
    if cloud.name_taken("placement_groups", name):
        raise uniqueness_error("name")
    group: dict[str, Any] = {"id": cloud.new_id("placement_groups"), "name": name, "labels": labels, "type": "spread",
                             "created": now_iso()}
    cloud.placement_groups[group["id"]] = group
    return created(201, {"placement_group": render(cloud, group), "action": None})


async def list_groups(request: web.Request) -> web.Response:
    cloud = request.app[CLOUD]
    records = list(cloud.placement_groups.values())
    if request.query.get("type"):
        records = [g for g in records if g["type"] == request.query["type"]]
    return list_response(request, "placement_groups", records, lambda g: render(cloud, g))


async def get_group(request: web.Request) -> web.Response:
    cloud = request.app[CLOUD]
    return web.json_response({"placement_group": render(cloud, cloud.get("placement_groups", path_id(request)))})


async def update(request: web.Request) -> web.Response:
    cloud = request.app[CLOUD]
    group = cloud.get("placement_groups", path_id(request))
    update_name_and_labels(cloud, "placement_groups", group, await read_body(request))
    return web.json_response({"placement_group": render(cloud, group)})


async def delete(request: web.Request) -> web.Response:
    cloud = request.app[CLOUD]
    group = cloud.get("placement_groups", path_id(request))
    # Hetzner lets a group be deleted while servers are in it; they simply leave it.
    for srv in cloud.servers.values():
        if srv.get("placement_group") == group["id"]:
            srv["placement_group"] = None
    del cloud.placement_groups[group["id"]]
    return web.Response(status=204)


def routes() -> list[web.RouteDef]:
    """Routes of the placement groups family."""
    return [
        web.get("/v1/placement_groups", list_groups),
        web.post("/v1/placement_groups", create),
        web.get("/v1/placement_groups/{id}", get_group),
        web.put("/v1/placement_groups/{id}", update),
        web.delete("/v1/placement_groups/{id}", delete),
    ]
