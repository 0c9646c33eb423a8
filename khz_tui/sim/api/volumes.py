"""Volumes: create (optionally attached to a server, automounted and formatted), attach, detach, delete."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from khz_tui.sim.api.actions import now_iso
from khz_tui.sim.api.errors import ApiError, invalid_input, uniqueness_error
from khz_tui.sim.api.listing import list_response
from khz_tui.sim.api.store import CLOUD, CloudStore
from khz_tui.sim.api.wire import created, id_field, labels_field, name_field, path_id, read_body, update_name_and_labels

MIN_GB, MAX_GB = 10, 10240


def render(cloud: CloudStore, vol: dict[str, Any]) -> dict[str, Any]:
    """A volume as the API shows it."""
    return {
        "id": vol["id"],
        "created": vol["created"],
        "name": vol["name"],
        "server": vol.get("server"),
        "location": cloud.offer.location(vol["location"]),
        "size": vol["size"],
        "linux_device": f"/dev/disk/by-id/scsi-0HC_Volume_{vol['id']}",
        "protection": {"delete": False},
        "labels": dict(vol["labels"]),
        "status": vol["status"],
        "format": vol.get("format"),
    }


def attach_action(cloud: CloudStore, vol: dict[str, Any], srv: dict[str, Any], after: int | None = None) -> dict[str, Any]:
    """Start `attach_volume` (behind action `after` when given); the volume is attached when it ends.
    Spec, attach: "Works only if the Server is in the same Location as the Volume"."""
    if vol["location"] != srv["location"]:
        raise invalid_input({"server": f"server {srv['id']} is in {srv['location']}, the volume in {vol['location']}"})

    def attached() -> None:
        vol["server"] = srv["id"]

    return cloud.actions.start(
        "attach_volume", [("volume", vol["id"]), ("server", srv["id"])],
        cloud.config.durations.volume_attach, on_success=attached, after=after,
    )


async def create(request: web.Request) -> web.Response:
    cloud = request.app[CLOUD]
    body = await read_body(request)
    name = name_field(body)
    labels = labels_field(body) or {}
    size = body.get("size")
    if isinstance(size, bool) or not isinstance(size, int) or not MIN_GB <= size <= MAX_GB:
        raise invalid_input({"size": f"size must be an integer from {MIN_GB} to {MAX_GB} GB"})
    fmt = body.get("format")
    if fmt not in (None, "xfs", "ext4"):
        raise invalid_input({"format": "format must be xfs or ext4"})
    server_id = id_field(body, "server", required=False)
    srv = cloud.get("servers", server_id) if server_id is not None else None
    if body.get("automount") and srv is None:
        raise invalid_input({"automount": "automount needs a server"})
    if srv is None and body.get("location") is None:
        raise invalid_input({"location": "location or server is required"})
    location = srv["location"] if srv else cloud.offer.location(body["location"])["name"]
    # Spec, POST /volumes: `server` means "Volume will be created in the same Location as the server" and
    # `location` "can be omitted if Server is specified": naming another location contradicts `server`.
    if srv is not None and body.get("location") is not None and cloud.offer.location(body["location"])["name"] != location:
        raise invalid_input({"location": f"location must be omitted or the server's location ({location})"})
    if cloud.name_taken("volumes", name):
        raise uniqueness_error("name")
    if srv is not None:
        cloud.ensure_unlocked("servers", srv["id"])
    vol = {
        "id": cloud.new_id("volumes"),
        "created": now_iso(),
        "name": name,
        "server": None,
        "location": location,
        "size": size,
        "labels": labels,
        "status": "creating",
        "format": fmt,
        "automount": bool(body.get("automount")),
    }
    cloud.volumes[vol["id"]] = vol

    def ready() -> None:
        vol["status"] = "available"

    action = cloud.actions.start("create_volume", [("volume", vol["id"])], cloud.config.durations.volume_create, on_success=ready)
    next_actions = [attach_action(cloud, vol, srv, after=action["id"])] if srv is not None else []
    return created(201, {
        "volume": render(cloud, vol),
        "action": cloud.actions.view(action["id"]),
        "next_actions": [cloud.actions.view(a["id"]) for a in next_actions],
    })


async def list_volumes(request: web.Request) -> web.Response:
    cloud = request.app[CLOUD]
    return list_response(request, "volumes", cloud.volumes.values(), lambda v: render(cloud, v))


async def get_volume(request: web.Request) -> web.Response:
    cloud = request.app[CLOUD]
    return web.json_response({"volume": render(cloud, cloud.get("volumes", path_id(request)))})


async def update(request: web.Request) -> web.Response:
    cloud = request.app[CLOUD]
    vol = cloud.get("volumes", path_id(request))
    update_name_and_labels(cloud, "volumes", vol, await read_body(request))
    return web.json_response({"volume": render(cloud, vol)})


async def delete(request: web.Request) -> web.Response:
    cloud = request.app[CLOUD]
    vol = cloud.get("volumes", path_id(request))
    cloud.ensure_unlocked("volumes", vol["id"])
    if vol.get("server") is not None:
        raise ApiError("resource_in_use", f"volume {vol['id']} is still attached to server {vol['server']}")
    del cloud.volumes[vol["id"]]
    return web.Response(status=204)


async def attach(request: web.Request) -> web.Response:
    cloud = request.app[CLOUD]
    vol = cloud.get("volumes", path_id(request))
    cloud.ensure_unlocked("volumes", vol["id"])
    body = await read_body(request)
    srv = cloud.get("servers", id_field(body, "server"))
    if vol.get("server") is not None:
        raise ApiError("volume_already_attached", f"volume {vol['id']} is attached to server {vol['server']}", status=422)
    vol["automount"] = bool(body.get("automount"))
    return created(201, {"action": cloud.actions.view(attach_action(cloud, vol, srv)["id"])})


async def detach(request: web.Request) -> web.Response:
    cloud = request.app[CLOUD]
    vol = cloud.get("volumes", path_id(request))
    cloud.ensure_unlocked("volumes", vol["id"])
    if vol.get("server") is None:
        raise ApiError("volume_not_attached", f"volume {vol['id']} is not attached", status=422)
    server_id = vol["server"]

    def detached() -> None:
        vol["server"] = None

    action = cloud.actions.start(
        "detach_volume", [("volume", vol["id"]), ("server", server_id)], cloud.config.durations.volume_detach, on_success=detached
    )
    return created(201, {"action": cloud.actions.view(action["id"])})


def routes() -> list[web.RouteDef]:
    """Routes of the volumes family."""
    return [
        web.get("/v1/volumes", list_volumes),
        web.post("/v1/volumes", create),
        web.get("/v1/volumes/{id}", get_volume),
        web.put("/v1/volumes/{id}", update),
        web.delete("/v1/volumes/{id}", delete),
        web.post("/v1/volumes/{id}/actions/attach", attach),
        web.post("/v1/volumes/{id}/actions/detach", detach),
    ]
