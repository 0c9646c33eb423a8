"""The common shape of `GET /<resources>`: `name` and `label_selector` filters, `sort`, pagination."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from aiohttp import web

from khz_tui.sim.api.errors import invalid_input
from khz_tui.sim.api.labels import SelectorError, parse_selector
from khz_tui.sim.api.pagination import paginate


def filter_records(request: web.Request, records: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Apply `name`, `label_selector` and `sort` (id, name, created; `:asc`/`:desc`) from the query."""
    items = list(records)
    name = request.query.get("name")
    if name is not None:
        items = [r for r in items if r.get("name") == name]
    selector = request.query.get("label_selector")
    if selector:
        try:
            predicate = parse_selector(selector)
        except SelectorError as exc:
            raise invalid_input({"label_selector": str(exc)}, "invalid label_selector") from None
        items = [r for r in items if predicate(r.get("labels") or {})]
    items.sort(key=lambda r: r["id"])
    for sort in reversed(request.query.getall("sort", [])):
        field, _, order = sort.partition(":")
        if field not in ("id", "name", "created"):
            raise invalid_input({"sort": f"cannot sort by '{field}'"})
        items.sort(key=lambda r: r.get(field) or "", reverse=order == "desc")
    return items


def list_response(
    request: web.Request,
    key: str,
    records: Iterable[dict[str, Any]],
    render: Callable[[dict[str, Any]], dict[str, Any]],
) -> web.Response:
    """Filter, sort and paginate `records`; respond `{key: [...], "meta": {...}}`."""
    items = filter_records(request, records)
    page, meta = paginate(request, items)
    return web.json_response({key: [render(r) for r in page], "meta": meta})


def ids_param(request: web.Request, name: str = "id") -> list[int]:
    """Repeated integer query parameters such as `?id=1&id=2`."""
    out = []
    for raw in request.query.getall(name, []):
        try:
            out.append(int(raw))
        except ValueError:
            raise invalid_input({name: f"'{raw}' is not an id"}) from None
    return out
