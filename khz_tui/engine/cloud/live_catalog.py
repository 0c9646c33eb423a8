"""The catalog read live from the API when a token is at hand, cached with its date; the bundled
snapshot stays the offline fallback.

Hetzner retires server types (CX Gen2 and CPX Gen1 were deprecated on 2025-10-16) and changes prices:
a plan is checked against what the project's API says today. What it said is kept under the user's
cache dir, one file per endpoint, with the time it was read; a cache older than MAX_AGE is read again.
A live read that fails falls back to a cache of any age, then to the bundled snapshot, and says so.
Simulated targets are read live every run and never cached (their endpoints are per run).

`current_catalog()` gives the run's catalog to code that prices or validates (the bundled snapshot
outside a run).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from contextvars import ContextVar
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from platformdirs import user_cache_path

from khz_tui.engine.cloud.client import CloudClient, CloudError
from khz_tui.plan.catalog import Catalog, bundled_catalog

#: A cached catalog younger than this is used without asking the API.
MAX_AGE = timedelta(hours=24)
#: Hetzner's largest page; the lists here fit in one or two.
PER_PAGE = 50
#: Bound on pages per list, far above what Hetzner has (a few dozen server types and system images).
MAX_PAGES = 20
#: The lists, and the query each needs (only system images can be named in a plan).
LISTS: dict[str, dict[str, Any]] = {
    "server_types": {},
    "locations": {},
    "load_balancer_types": {},
    "images": {"type": "system"},
}

CURRENT: ContextVar[Catalog | None] = ContextVar("khz_tui_catalog", default=None)


def current_catalog() -> Catalog:
    """The catalog of the run in progress (live, cached or bundled); the bundled snapshot outside a run."""
    return CURRENT.get() or bundled_catalog()


def cache_file(endpoint: str, base: Path | None = None) -> Path:
    """Where the catalog of `endpoint` is cached (a hash names it: endpoints are URLs)."""
    digest = hashlib.sha256(endpoint.rstrip("/").encode()).hexdigest()[:16]
    return (base or user_cache_path("khz-tui")) / "catalog" / f"{digest}.json"


async def _list(client: CloudClient, name: str, query: dict[str, Any]) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    page: int | None = 1
    for _ in range(MAX_PAGES):
        body = await client.request("GET", f"/{name}", params={**query, "page": page, "per_page": PER_PAGE},
                                    what=f"reading the catalog ({name.replace('_', ' ')})")
        items.extend(body.get(name) or [])
        page = ((body.get("meta") or {}).get("pagination") or {}).get("next_page")
        if not page:
            break
    return items


async def read_wire(client: CloudClient) -> dict[str, Any]:
    """The catalog lists and prices as the API returns them (the wire format Catalog.from_wire reads)."""
    wire: dict[str, Any] = {name: await _list(client, name, query) for name, query in LISTS.items()}
    wire["pricing"] = (await client.request("GET", "/pricing", what="reading the catalog (prices)")).get("pricing", {})
    return wire


def _read_cache(path: Path) -> tuple[datetime, dict[str, Any]] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return datetime.fromisoformat(data["fetched"]), data["wire"]
    except (OSError, ValueError, KeyError, TypeError):
        return None  # absent or unreadable: read live


def _write_cache(path: Path, endpoint: str, fetched: datetime, wire: dict[str, Any]) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"endpoint": endpoint, "fetched": fetched.isoformat(), "wire": wire}),
                       encoding="utf-8")
        os.replace(tmp, path)  # a reader never sees half a file
    except OSError:
        pass  # a cache that cannot be written only costs a few requests next time


def _catalog(wire: dict[str, Any], fetched: datetime, source: str) -> Catalog:
    return Catalog.from_wire({**wire, "snapshot_date": fetched.date().isoformat()}, source=source)


async def load_catalog(
    client: CloudClient,
    *,
    simulated: bool = False,
    cache_dir: Path | None = None,
    max_age: timedelta = MAX_AGE,
    now: datetime | None = None,
    warn: Callable[[str], None] | None = None,
) -> Catalog:
    """The catalog for this endpoint: a fresh cache, else read live (and cached), else a stale cache,
    else the bundled snapshot. `warn(text)` hears why a fallback was used. `source` on the result
    says which: "live", "cache", "snapshot"."""
    now = now or datetime.now(UTC)
    path = None if simulated else cache_file(client.endpoint, cache_dir)
    cached = _read_cache(path) if path is not None else None
    if cached is not None and timedelta(0) <= now - cached[0] <= max_age:
        return _catalog(cached[1], cached[0], "cache")
    try:
        wire = await read_wire(client)
        catalog = _catalog(wire, now, "live")
    except (CloudError, KeyError, TypeError, ValueError) as exc:
        why = exc.message if isinstance(exc, CloudError) else f"an unexpected answer ({exc!r})"
        if cached is not None:
            if warn:
                warn(f"cannot read the catalog from the API ({why}); using the one read on "
                     f"{cached[0].date().isoformat()}")
            return _catalog(cached[1], cached[0], "cache")
        fallback = bundled_catalog()
        if warn:
            warn(f"cannot read the catalog from the API ({why}); checking against the bundled snapshot of "
                 f"{fallback.snapshot_date}")
        return fallback
    if path is not None:
        _write_cache(path, client.endpoint, now, wire)
    return catalog


async def fetch_catalog(
    endpoint: str, token: str, *, simulated: bool = False, warn: Callable[[str], None] | None = None
) -> Catalog:
    """`load_catalog` with a client of its own, for callers outside a run (the wizard after Verify)."""
    client = CloudClient(endpoint, token)
    try:
        return await load_catalog(client, simulated=simulated, warn=warn)
    finally:
        client.close()
