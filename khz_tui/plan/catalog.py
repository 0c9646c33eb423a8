"""What Hetzner offers: server types, locations, network zones, load balancer types, images, prices.

The catalog is read in Hetzner's own wire format, either from the bundled, dated snapshot
(`catalog_snapshot.json`, so validation and the wizard work offline) or from live API responses
(`Catalog.from_wire(..., source="live")`; `engine/cloud/live_catalog.py` reads and caches them when a
token is at hand). The simulator serves the same snapshot, so tests see one truth. The snapshot's
deprecation flags follow Hetzner's announcements: CX Gen2 (cx22..cx52) and CPX Gen1 (cpx11..cpx51)
were deprecated on 2025-10-16 and left sale at the end of 2025.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache
from importlib import resources
from typing import Any

SNAPSHOT_FILE = "catalog_snapshot.json"


@dataclass(frozen=True)
class Price:
    """Net prices (without VAT) in the catalog's currency."""

    hourly: Decimal
    monthly: Decimal


@dataclass(frozen=True)
class ServerType:
    name: str
    cores: int
    memory_gb: float
    disk_gb: int
    architecture: str  # "x86" | "arm"
    cpu_type: str  # "shared" | "dedicated"
    deprecated: bool
    prices: dict[str, Price]  # location name -> price; a location is offered iff it has a price
    category: str = ""
    unavailable_after: str | None = None
    """ISO date after which a deprecated type can no longer be ordered."""

    def offered_in(self, location: str) -> bool:
        return location in self.prices


@dataclass(frozen=True)
class Location:
    name: str
    city: str
    country: str
    network_zone: str


@dataclass(frozen=True)
class LoadBalancerType:
    name: str
    max_targets: int
    max_services: int
    prices: dict[str, Price]


@dataclass(frozen=True)
class Image:
    name: str
    description: str
    architecture: str


@dataclass(frozen=True)
class Catalog:
    """Everything a plan may name, with prices. Look-ups return None for unknown names."""

    snapshot_date: str
    currency: str
    server_types: dict[str, ServerType]
    locations: dict[str, Location]
    load_balancer_types: dict[str, LoadBalancerType]
    images: dict[tuple[str, str], Image]  # (name, architecture) -> image
    volume_price_per_gb_month: Decimal
    ipv4_price_monthly: dict[str, Decimal]
    ipv4_price_hourly: dict[str, Decimal] = field(default_factory=dict)
    source: str = "snapshot"

    # -- look-ups ---------------------------------------------------------------------------------

    def server_type(self, name: str) -> ServerType | None:
        return self.server_types.get(name)

    def location(self, name: str) -> Location | None:
        return self.locations.get(name)

    def lb_type(self, name: str) -> LoadBalancerType | None:
        return self.load_balancer_types.get(name)

    def image(self, name: str, architecture: str) -> Image | None:
        return self.images.get((name, architecture))

    def image_architectures(self, name: str) -> list[str]:
        return sorted(arch for (n, arch) in self.images if n == name)

    def zone_locations(self, zone: str) -> list[str]:
        return [loc.name for loc in self.locations.values() if loc.network_zone == zone]

    def zones(self) -> list[str]:
        return sorted({loc.network_zone for loc in self.locations.values()})

    def image_names(self) -> list[str]:
        return sorted({n for (n, _arch) in self.images})

    # -- construction -----------------------------------------------------------------------------

    @classmethod
    def from_wire(cls, data: dict[str, Any], *, source: str = "snapshot") -> Catalog:
        """Build from a dict holding the API's list responses (`server_types`, `locations`, ...)."""

        def prices(items: list[dict[str, Any]]) -> dict[str, Price]:
            return {
                p["location"]: Price(
                    hourly=Decimal(p["price_hourly"]["net"]), monthly=Decimal(p["price_monthly"]["net"])
                )
                for p in items
            }

        server_types = {}
        for st in data["server_types"]:
            offered = {loc["name"] for loc in st.get("locations", []) if loc.get("available", True)}
            all_prices = prices(st["prices"])
            if offered:
                all_prices = {k: v for k, v in all_prices.items() if k in offered}
            server_types[st["name"]] = ServerType(
                name=st["name"],
                cores=int(st["cores"]),
                memory_gb=float(st["memory"]),
                disk_gb=int(st["disk"]),
                architecture=st["architecture"],
                cpu_type=st["cpu_type"],
                deprecated=bool(st.get("deprecation")) or bool(st.get("deprecated")),
                prices=all_prices,
                category=st.get("category") or "",
                unavailable_after=((st.get("deprecation") or {}).get("unavailable_after") or "")[:10] or None,
            )
        locations = {
            loc["name"]: Location(loc["name"], loc["city"], loc["country"], loc["network_zone"])
            for loc in data["locations"]
        }
        lb_types = {
            t["name"]: LoadBalancerType(t["name"], t["max_targets"], t["max_services"], prices(t["prices"]))
            for t in data["load_balancer_types"]
            if not t.get("deprecated")
        }
        images = {
            (im["name"], im["architecture"]): Image(im["name"], im["description"], im["architecture"])
            for im in data["images"]
            if im.get("name") and im.get("type") == "system" and not im.get("deprecated")
        }
        pricing = data.get("pricing", {})
        ipv4: dict[str, Any] = next((p for p in pricing.get("primary_ips", []) if p["type"] == "ipv4"), {"prices": []})
        return cls(
            snapshot_date=data.get("snapshot_date", "live"),
            currency=pricing.get("currency", "EUR"),
            server_types=server_types,
            locations=locations,
            load_balancer_types=lb_types,
            images=images,
            volume_price_per_gb_month=Decimal(pricing.get("volume", {}).get("price_per_gb_month", {}).get("net", "0.044")),
            ipv4_price_monthly={p["location"]: Decimal(p["price_monthly"]["net"]) for p in ipv4["prices"]},
            ipv4_price_hourly={p["location"]: Decimal(p["price_hourly"]["net"]) for p in ipv4["prices"] if "price_hourly" in p},
            source=source,
        )


def snapshot_wire() -> dict[str, Any]:
    """The bundled snapshot in Hetzner's wire format (a fresh copy each call; callers may mutate it)."""
    text = resources.files("khz_tui.plan").joinpath(SNAPSHOT_FILE).read_text(encoding="utf-8")
    wire: dict[str, Any] = json.loads(text)
    return wire


@lru_cache(maxsize=1)
def bundled_catalog() -> Catalog:
    """The offline catalog from the bundled snapshot."""
    return Catalog.from_wire(snapshot_wire(), source="snapshot")
