"""What the simulated cloud offers, served from the bundled catalog snapshot in Hetzner's wire format:
server types, locations, datacenters, images, load balancer types and prices."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from khz_tui.plan.catalog import snapshot_wire
from khz_tui.sim.api.errors import invalid_input, not_found
from khz_tui.sim.api.listing import filter_records, list_response
from khz_tui.sim.api.pagination import paginated_response
from khz_tui.sim.api.wire import by_id_or_name, path_id


class Offerings:
    """Look-ups by id or name over the snapshot. The wire dicts returned are shared and read-only:
    responses embed them as they are (they are serialised at once), so nothing copies the catalog per
    request."""

    def __init__(self, wire: dict[str, Any] | None = None):
        self.wire = wire or snapshot_wire()
        self.server_types: dict[int, dict[str, Any]] = {st["id"]: st for st in self.wire["server_types"]}
        self.locations: dict[int, dict[str, Any]] = {loc["id"]: loc for loc in self.wire["locations"]}
        self.datacenters: dict[int, dict[str, Any]] = {dc["id"]: dc for dc in self.wire["datacenters"]}
        self.images: dict[int, dict[str, Any]] = {im["id"]: im for im in self.wire["images"]}
        self.lb_types: dict[int, dict[str, Any]] = {t["id"]: t for t in self.wire["load_balancer_types"]}
        self.pricing = _with_floating_ip_price(self.wire["pricing"])

    @staticmethod
    def _find(table: dict[int, dict[str, Any]], ident: Any, kind: str, field: str) -> dict[str, Any]:
        found = by_id_or_name(table, ident)
        if found is None:
            if isinstance(ident, dict):
                ident = ident.get("id") or ident.get("name")
            if ident is None or ident == "":
                raise invalid_input({field: f"{field} is required"})
            raise invalid_input({field: f"{kind} '{ident}' not found"})
        return found

    def server_type(self, ident: Any) -> dict[str, Any]:
        """A server type by id or name (invalid_input when unknown, as on create)."""
        return self._find(self.server_types, ident, "server type", "server_type")

    def location(self, ident: Any) -> dict[str, Any]:
        """A location by id or name."""
        return self._find(self.locations, ident, "location", "location")

    def datacenter(self, ident: Any) -> dict[str, Any]:
        """A datacenter by id or name."""
        return self._find(self.datacenters, ident, "datacenter", "datacenter")

    def datacenter_of(self, location_name: str) -> dict[str, Any]:
        """The (single) datacenter of a location, for the deprecated `server.datacenter` field."""
        return next(dc for dc in self.datacenters.values() if dc["location"]["name"] == location_name)

    def lb_type(self, ident: Any) -> dict[str, Any]:
        """A load balancer type by id or name."""
        return self._find(self.lb_types, ident, "load balancer type", "load_balancer_type")

    def image(self, ident: Any, architecture: str) -> dict[str, Any]:
        """An image by id, or by name for the server type's architecture."""
        if isinstance(ident, int) or (isinstance(ident, str) and ident.isdigit()):
            found = self.images.get(int(ident))
        else:
            found = next(
                (im for im in self.images.values() if im["name"] == ident and im["architecture"] == architecture),
                None,
            )
        if found is None:
            raise invalid_input({"image": f"image '{ident}' not found for architecture {architecture}"})
        return found

    def offered_in(self, server_type: dict[str, Any], location: str) -> bool:
        """Whether this server type can be ordered in this location."""
        entries = server_type.get("locations") or []
        if entries:
            return any(e["name"] == location and e.get("available", True) for e in entries)
        return any(p["location"] == location for p in server_type["prices"])


def _with_floating_ip_price(pricing: dict[str, Any]) -> dict[str, Any]:
    """`pricing` with the deprecated `floating_ip` entry the spec still requires (the IPv4 Floating IP
    price), added when the snapshot lacks it."""
    if "floating_ip" in pricing:
        return pricing
    ipv4 = next((f for f in pricing.get("floating_ips", []) if f["type"] == "ipv4" and f["prices"]), None)
    monthly = ipv4["prices"][0]["price_monthly"] if ipv4 else {"net": "0.0000", "gross": "0.0000"}
    return {**pricing, "floating_ip": {"price_monthly": dict(monthly)}}


def routes(offer: Offerings) -> list[web.RouteDef]:
    """GET routes for the catalog resources."""

    def get_route(key: str, table: dict[int, dict[str, Any]], single: str, kind: str) -> web.RouteDef:
        async def get_one(request: web.Request) -> web.Response:
            ident = path_id(request)
            if ident not in table:
                raise not_found(kind, ident)
            return web.json_response({single: table[ident]})

        return web.get(f"/v1/{key}/{{id}}", get_one)

    def collection(key: str, table: dict[int, dict[str, Any]], single: str, kind: str) -> list[web.RouteDef]:
        async def list_all(request: web.Request) -> web.Response:
            records = list(table.values())
            if key == "images":
                records = _filter_images(request, records)
            return list_response(request, key, records, lambda record: record)

        return [web.get(f"/v1/{key}", list_all), get_route(key, table, single, kind)]

    async def pricing(request: web.Request) -> web.Response:
        return web.json_response({"pricing": offer.pricing})

    async def list_datacenters(request: web.Request) -> web.Response:
        # `recommendation` is deprecated but still required by the spec: a datacenter id for new servers.
        return paginated_response(request, "datacenters", filter_records(request, offer.datacenters.values()),
                                  recommendation=min(offer.datacenters))

    return [
        *collection("server_types", offer.server_types, "server_type", "server type"),
        *collection("locations", offer.locations, "location", "location"),
        web.get("/v1/datacenters", list_datacenters),
        get_route("datacenters", offer.datacenters, "datacenter", "datacenter"),
        *collection("images", offer.images, "image", "image"),
        *collection("load_balancer_types", offer.lb_types, "load_balancer_type", "load balancer type"),
        web.get("/v1/pricing", pricing),
    ]


def _filter_images(request: web.Request, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    arch = request.query.getall("architecture", [])
    types = request.query.getall("type", [])
    if arch:
        records = [im for im in records if im["architecture"] in arch]
    if types:
        records = [im for im in records if im["type"] in types]
    if request.query.get("include_deprecated", "false") != "true":
        records = [im for im in records if not im.get("deprecated")]
    return records

