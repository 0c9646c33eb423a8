"""List responses: `page`/`per_page` (default 25, max 50) and `meta.pagination`."""

from __future__ import annotations

import math
from typing import Any

from aiohttp import web

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
