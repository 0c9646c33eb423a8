"""List responses: `page`/`per_page` (default 25, max 50), `meta.pagination` and the `Link` header."""

from __future__ import annotations

import math
from typing import Any

from aiohttp import web
from multidict import MultiDict

from khz_tui.sim.api.errors import invalid_input

DEFAULT_PER_PAGE = 25
MAX_PER_PAGE = 50


def _int_param(request: web.Request, name: str, default: int) -> int:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise invalid_input({name: f"{name} must be an integer"}) from None
    if value < 1:
        raise invalid_input({name: f"{name} must be at least 1"})
    return value


def paginate(request: web.Request, items: list[Any]) -> tuple[list[Any], dict[str, Any]]:
    """Slice `items` for the requested page; returns (page items, `meta` object)."""
    page = _int_param(request, "page", 1)
    # The real API caps per_page at 50 rather than rejecting larger values.
    per_page = min(_int_param(request, "per_page", DEFAULT_PER_PAGE), MAX_PER_PAGE)
    total = len(items)
    last_page = max(1, math.ceil(total / per_page))
    start = (page - 1) * per_page
    meta = {
        "pagination": {
            "page": page,
            "per_page": per_page,
            "previous_page": page - 1 if page > 1 else None,
            "next_page": page + 1 if page < last_page else None,
            "last_page": last_page,
            "total_entries": total,
        }
    }
    return items[start : start + per_page], meta


def _page_url(request: web.Request, page: int) -> str:
    # The request's own absolute URL with only `page` replaced, so filters, sort and per_page carry
    # over to the next request exactly as the client wrote them.
    query: MultiDict[str] = MultiDict((k, v) for k, v in request.query.items() if k != "page")
    query.add("page", str(page))
    return str(request.url.with_query(query))


def link_headers(request: web.Request, meta: dict[str, Any]) -> dict[str, str]:
    """The `Link` header of a list response, from its `meta.pagination`.

    The spec's "Pagination": "Responses contain a `Link` header with pagination information", e.g.
    `<https://api.hetzner.cloud/v1/actions?page=2&per_page=5>; rel="prev", ...; rel="next", ...;
    rel="last"`, and "responses may only contain some of the above `rel` values": prev only past the
    first page, next only before the last one.
    """
    pagination = meta["pagination"]
    links = []
    for rel, key in (("prev", "previous_page"), ("next", "next_page"), ("last", "last_page")):
        if pagination.get(key) is not None:
            links.append(f'<{_page_url(request, pagination[key])}>; rel="{rel}"')
    return {"Link": ", ".join(links)} if links else {}


def paginated_response(request: web.Request, key: str, items: list[Any], **extra: Any) -> web.Response:
    """`{key: <page of items>, **extra, "meta": ...}` with the `Link` header: the one way to answer a list."""
    page, meta = paginate(request, items)
    return web.json_response({key: page, **extra, "meta": meta}, headers=link_headers(request, meta))
