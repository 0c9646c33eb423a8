"""Reading request bodies and the fields most resources share (name, labels, ids)."""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from aiohttp import web

from khz_tui.sim.api.errors import ApiError, invalid_input, uniqueness_error
from khz_tui.sim.api.labels import label_errors

if TYPE_CHECKING:
    from khz_tui.sim.api.store import CloudStore, Kind

# Hetzner names are hostname-like for servers; other resources accept any non-empty string up to 128.
_LABEL = r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
SERVER_NAME_RE = re.compile(rf"^(?=.{{1,253}}$)({_LABEL})(\.{_LABEL})*$")


async def read_body(request: web.Request) -> dict[str, Any]:
    """The JSON object in the request body (`{}` when empty); `json_error` when it is not JSON."""
    raw = await request.read()
    if not raw:
        return {}
    try:
        body = json.loads(raw)
    except ValueError:
        raise ApiError("json_error", "request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise ApiError("json_error", "request body must be a JSON object")
    return body


def name_field(body: dict[str, Any], *, hostname: bool = False) -> str:
    """The `name` field, checked (required)."""
    name = body.get("name")
    if not isinstance(name, str) or not name or len(name) > 128:
        raise invalid_input({"name": "name is required and must be 1 to 128 characters"})
    if hostname and not SERVER_NAME_RE.match(name):
        raise invalid_input({"name": "name must be a valid hostname"})
    return name


def labels_field(body: dict[str, Any]) -> dict[str, str] | None:
    """The `labels` field, validated (None when absent)."""
    if "labels" not in body or body["labels"] is None:
        return None
    problem = label_errors(body["labels"])
    if problem:
        raise invalid_input({"labels": problem})
    return dict(body["labels"])


def update_name_and_labels(cloud: CloudStore, kind: Kind, record: dict[str, Any], body: dict[str, Any], *,
                           hostname: bool = False) -> None:
    """What `PUT /<kind>/{id}` changes for every resource family: `name` (unique within the kind) and
    `labels`, each only when given."""
    name = None if body.get("name") is None else name_field(body, hostname=hostname)
    labels = labels_field(body)
    if name is not None:
        if cloud.name_taken(kind, name, except_id=record["id"]):
            raise uniqueness_error("name")
        record["name"] = name
    if labels is not None:
        record["labels"] = labels


def by_id_or_name(table: dict[int, dict[str, Any]], ident: Any) -> dict[str, Any] | None:
    """The record named by an id (int or digit string), a name, or an `{"id"|"name": ..}` object; None
    when there is none."""
    if isinstance(ident, dict):  # {"id": ..} or {"name": ..} forms some clients send
        ident = ident.get("id") or ident.get("name")
    if isinstance(ident, int) or (isinstance(ident, str) and ident.isdigit()):
        return table.get(int(ident))
    return next((r for r in table.values() if r["name"] == ident), None)


def id_field(body: dict[str, Any], name: str, *, required: bool = True) -> int | None:
    """An integer id field such as `network` or `server`."""
    value = body.get(name)
    if isinstance(value, dict):  # {"id": 1} forms
        value = value.get("id")
    if value is None:
        if required:
            raise invalid_input({name: f"{name} is required"})
        return None
    if isinstance(value, bool) or not isinstance(value, (int, str)) or not str(value).isdigit():
        raise invalid_input({name: f"{name} must be an id"})
    return int(value)


def path_id(request: web.Request, key: str = "id") -> int:
    """The integer id in the URL path."""
    try:
        return int(request.match_info[key])
    except ValueError:
        raise invalid_input({"id": "id must be an integer"}) from None


def created(status: int, body: dict[str, Any]) -> web.Response:
    """A JSON response with an explicit status (201 for creates)."""
    return web.json_response(body, status=status)
