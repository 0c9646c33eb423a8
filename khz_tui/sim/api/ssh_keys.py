"""SSH keys: create (MD5 colon-hex fingerprint, one key per public key), list, get, update, delete."""

from __future__ import annotations

import base64
import binascii
import hashlib
from typing import Any

from aiohttp import web

from khz_tui.sim.api.actions import now_iso
from khz_tui.sim.api.errors import invalid_input, uniqueness_error
from khz_tui.sim.api.listing import list_response
from khz_tui.sim.api.store import CLOUD
from khz_tui.sim.api.wire import created, labels_field, name_field, path_id, read_body, update_name_and_labels

KEY_TYPES = ("ssh-ed25519", "ssh-rsa", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521")


def fingerprint(public_key: str) -> str:
    """MD5 fingerprint of an OpenSSH public key as Hetzner shows it (`aa:bb:...`); ValueError if malformed."""
    parts = public_key.strip().split()
    if len(parts) < 2 or parts[0] not in KEY_TYPES:
        raise ValueError("not an OpenSSH public key")
    try:
        blob = base64.b64decode(parts[1], validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("public key is not valid base64") from None
    if not blob.startswith(len(parts[0]).to_bytes(4, "big") + parts[0].encode()):
        raise ValueError("public key type does not match its data")
    digest = hashlib.md5(blob).hexdigest()
    return ":".join(digest[i : i + 2] for i in range(0, 32, 2))


def render(key: dict[str, Any]) -> dict[str, Any]:
    """An SSH key as the API shows it."""
    return {k: key[k] for k in ("id", "name", "fingerprint", "public_key", "labels", "created")}


async def create(request: web.Request) -> web.Response:
    cloud = request.app[CLOUD]
    body = await read_body(request)
    name = name_field(body)
    labels = labels_field(body) or {}
    public_key = body.get("public_key")
    if not isinstance(public_key, str):
        raise invalid_input({"public_key": "public_key is required"})
    try:
        fp = fingerprint(public_key)
    except ValueError as exc:
        raise invalid_input({"public_key": str(exc)}) from None
    if cloud.name_taken("ssh_keys", name):
        raise uniqueness_error("name", "SSH key with the same name already exists")
    if any(k["fingerprint"] == fp for k in cloud.ssh_keys.values()):
        raise uniqueness_error("public_key", "SSH key with the same fingerprint already exists")
    key: dict[str, Any] = {
        "id": cloud.new_id("ssh_keys"),
        "name": name,
        "fingerprint": fp,
        "public_key": public_key.strip(),
        "labels": labels,
        "created": now_iso(),
    }
    cloud.ssh_keys[key["id"]] = key
    return created(201, {"ssh_key": render(key)})


async def list_keys(request: web.Request) -> web.Response:
    cloud = request.app[CLOUD]
    records = list(cloud.ssh_keys.values())
    wanted = request.query.get("fingerprint")
    if wanted:
        records = [k for k in records if k["fingerprint"] == wanted]
    return list_response(request, "ssh_keys", records, render)


async def get_key(request: web.Request) -> web.Response:
    cloud = request.app[CLOUD]
    return web.json_response({"ssh_key": render(cloud.get("ssh_keys", path_id(request)))})


async def update(request: web.Request) -> web.Response:
    cloud = request.app[CLOUD]
    key = cloud.get("ssh_keys", path_id(request))
    update_name_and_labels(cloud, "ssh_keys", key, await read_body(request))
    return web.json_response({"ssh_key": render(key)})


async def delete(request: web.Request) -> web.Response:
    cloud = request.app[CLOUD]
    key = cloud.get("ssh_keys", path_id(request))
    del cloud.ssh_keys[key["id"]]
    return web.Response(status=204)


def routes() -> list[web.RouteDef]:
    """Routes of the SSH keys family."""
    return [
        web.get("/v1/ssh_keys", list_keys),
        web.post("/v1/ssh_keys", create),
        web.get("/v1/ssh_keys/{id}", get_key),
        web.put("/v1/ssh_keys/{id}", update),
        web.delete("/v1/ssh_keys/{id}", delete),
    ]
