"""The common shape of `GET /<resources>`: `name` and `label_selector` filters, `sort`, pagination."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from aiohttp import web

from khz_tui.sim.api.errors import invalid_input
from khz_tui.sim.api.labels import SelectorError, parse_selector
from khz_tui.sim.api.pagination import link_headers, paginate

# Fields each list may be sorted by: the `enum` of the `sort` parameter of that `GET` in the spec
# (e.g. `/ssh_keys`: id, name; `/networks`: id, name, created). Lists not named here use the default.
SORT_FIELDS: dict[str, tuple[str, ...]] = {
    "ssh_keys": ("id", "name"),
    "locations": ("id", "name"),
    "datacenters": ("id", "name"),
}
DEFAULT_SORT_FIELDS = ("id", "name", "created")
# The spec's "Sorting": "You can set the sort direction by appending `:asc` or `:desc` to the field
# name. By default, ascending sorting is used." Anything else is outside the parameter's enum.
SORT_ORDERS = {"": False, ":asc": False, ":desc": True}


def _sort_fields(request: web.Request) -> tuple[str, ...]:
    collection = request.path.rstrip("/").rsplit("/", 1)[-1]
    return SORT_FIELDS.get(collection, DEFAULT_SORT_FIELDS)


def filter_records(request: web.Request, records: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Apply `name`, `label_selector` and `sort` (the list's fields; `:asc`/`:desc`) from the query."""
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
    return sort_by_query(request, items, _sort_fields(request))


def sort_by_query(request: web.Request, items: list[dict[str, Any]], allowed: tuple[str, ...]) -> list[dict[str, Any]]:
    """Order `items` by the query's `sort` values (by id first); a value outside `allowed` with
    `:asc`/`:desc` is `invalid_input`."""
    # Every `sort` value is checked before any is applied, so one bad value fails the whole request.
    keys = []
    for sort in request.query.getall("sort", []):
        field, colon, order = sort.partition(":")
        if field not in allowed or colon + order not in SORT_ORDERS:
            raise invalid_input({"sort": f"'{sort}' is not one of {', '.join(allowed)} with :asc or :desc"})
        keys.append((field, SORT_ORDERS[colon + order]))
    items.sort(key=lambda r: r["id"])
    for field, descending in reversed(keys):
        items.sort(key=lambda r: r.get(field) or "", reverse=descending)
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
    return web.json_response({key: [render(r) for r in page], "meta": meta}, headers=link_headers(request, meta))


def ids_param(request: web.Request, name: str = "id") -> list[int]:
    """Repeated integer query parameters such as `?id=1&id=2`."""
    out = []
    for raw in request.query.getall(name, []):
        try:
            out.append(int(raw))
        except ValueError:
            raise invalid_input({name: f"'{raw}' is not an id"}) from None
    return out
