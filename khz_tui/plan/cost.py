"""What a plan costs per month and per hour, from the catalog's net prices (without VAT).

Lines: servers per role/pool and location, the API load balancer (its public IPs are included in
its price), volumes, and one primary IPv4 per server. Worker pools count at their current `count`,
not their autoscaling maximum. Volumes have only a monthly price; their hourly figure is the
monthly one spread over 730 hours, the average month.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from decimal import Decimal
from typing import TypeVar

from khz_tui.plan.catalog import Catalog, Price, bundled_catalog
from khz_tui.plan.model import ClusterPlan

HOURS_PER_MONTH = Decimal(730)
P = TypeVar("P")


@dataclass
class CostLine:
    """One item of the estimate: `quantity` x `unit_monthly` = `monthly`."""

    item: str
    quantity: int
    unit_monthly: Decimal
    monthly: Decimal
    hourly: Decimal


@dataclass
class CostEstimate:
    """The whole estimate: its lines and totals, in `currency`, from prices dated `catalog_date`."""

    lines: list[CostLine]
    monthly: Decimal
    hourly: Decimal
    currency: str
    catalog_date: str


def _price(prices: dict[str, P], location: str, what: str) -> P:
    """The entry of `prices` for `location`, or a ValueError naming what has no price there."""
    try:
        return prices[location]
    except KeyError:
        raise ValueError(f"the catalog has no price for {what} in {location}") from None


def _line(item: str, quantity: int, price: Price) -> CostLine:
    return CostLine(item, quantity, price.monthly, price.monthly * quantity, price.hourly * quantity)


def estimate_cost(plan: ClusterPlan, catalog: Catalog | None = None) -> CostEstimate:
    """Price every billable thing the plan creates. Raises ValueError for names the catalog lacks
    (run `check_plan` first: it reports those with better messages)."""
    catalog = catalog or bundled_catalog()
    lines: list[CostLine] = []
    ipv4: Counter[str] = Counter()

    cp = plan.control_plane
    cp_type = catalog.server_type(cp.server_type)
    if cp_type is None:
        raise ValueError(f"unknown server type {cp.server_type!r}")
    for location, n in sorted(Counter(plan.control_plane_locations()).items()):
        price = _price(cp_type.prices, location, cp.server_type)
        lines.append(_line(f"control plane {cp.server_type} ({location})", n, price))
        ipv4[location] += n

    for pool in plan.worker_pools:
        if pool.count == 0:
            continue
        st = catalog.server_type(pool.server_type)
        if st is None:
            raise ValueError(f"unknown server type {pool.server_type!r}")
        location = plan.pool_location(pool)
        price = _price(st.prices, location, pool.server_type)
        lines.append(_line(f"worker pool {pool.name}: {pool.server_type} ({location})", pool.count, price))
        ipv4[location] += pool.count

    if plan.load_balancer.enabled:
        lbt = catalog.lb_type(plan.load_balancer.type)
        if lbt is None:
            raise ValueError(f"unknown load balancer type {plan.load_balancer.type!r}")
        location = plan.hcloud.location
        price = _price(lbt.prices, location, plan.load_balancer.type)
        lines.append(_line(f"API load balancer {plan.load_balancer.type} ({location})", 1, price))

    for vol in plan.storage.volumes:
        owner = plan.pool(vol.pool)
        if owner is None or owner.count == 0:
            continue
        monthly = catalog.volume_price_per_gb_month * vol.size_gb
        price = Price(hourly=monthly / HOURS_PER_MONTH, monthly=monthly)
        lines.append(_line(f"volume {vol.name} {vol.size_gb} GB (pool {owner.name})", owner.count, price))

    for location, n in sorted(ipv4.items()):
        monthly = _price(catalog.ipv4_price_monthly, location, "a primary IPv4")
        hourly = catalog.ipv4_price_hourly.get(location, monthly / HOURS_PER_MONTH)
        lines.append(_line(f"primary IPv4 ({location})", n, Price(hourly=hourly, monthly=monthly)))

    return CostEstimate(
        lines=lines,
        monthly=sum((ln.monthly for ln in lines), Decimal(0)),
        hourly=sum((ln.hourly for ln in lines), Decimal(0)),
        currency=catalog.currency,
        catalog_date=catalog.snapshot_date,
    )
