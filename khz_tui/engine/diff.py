"""Dry-run: what apply would create, keep, change or delete, with the monthly cost delta.

It reads the project (list requests and one SSH-key lookup by fingerprint) and never sends a
mutating request. "change" marks drift apply would report but not fix; the cost delta counts
creates as added and deletes as removed, at the catalog's prices.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

from khz_tui.engine.cloud.inventory import Inventory, discover
from khz_tui.engine.cloud.names import (
    firewall_name,
    load_balancer_name,
    network_name,
    planned_nodes,
    planned_placement_groups,
    planned_volumes,
    ssh_key_name,
)
from khz_tui.engine.cloud.resources import md5_fingerprint
from khz_tui.engine.cloud.servers import server_facts
from khz_tui.engine.context import RunContext
from khz_tui.engine.events import Change, PlanDiffed
from khz_tui.engine.steps import step
from khz_tui.plan.catalog import Catalog, bundled_catalog
from khz_tui.plan.model import ClusterPlan


def _money(value: Decimal) -> str:
    return f"{value.quantize(Decimal('0.01'))}"


def _server_price(catalog: Catalog, server_type: str, location: str) -> Decimal:
    st = catalog.server_type(server_type)
    price = st.prices.get(location) if st else None
    ipv4 = catalog.ipv4_price_monthly.get(location, Decimal(0))
    return (price.monthly if price else Decimal(0)) + ipv4


def compute_changes(plan: ClusterPlan, inv: Inventory, *, ssh_key_known: bool, catalog: Catalog | None = None) -> list[Change]:
    """The diff between the plan and the labeled inventory (pure: tests call it without a cloud)."""
    catalog = catalog or bundled_catalog()
    changes: list[Change] = []

    def add(action: str, rtype: str, name: str, detail: str = "", delta: Decimal = Decimal(0)) -> None:
        changes.append(Change(action=action, resource_type=rtype, name=name, detail=detail, monthly_cost_delta=_money(delta)))

    def simple(rtype: str, wanted: list[str], existing: dict[str, Any], price: Decimal = Decimal(0)) -> None:
        for name in wanted:
            add("keep" if name in existing else "create", rtype, name, delta=Decimal(0) if name in existing else price)
        for name in sorted(set(existing) - set(wanted)):
            add("delete", rtype, name, delta=-price)

    net = network_name(plan.name)
    simple("network", [net], inv.networks)
    if net in inv.networks and inv.networks[net].ip_range != plan.network.ip_range:
        changes[-1] = Change(action="change", resource_type="network", name=net,
                             detail=f"ip_range {inv.networks[net].ip_range} (plan: {plan.network.ip_range}); not changed by apply")
    simple("firewall", [firewall_name(plan.name)], inv.firewalls)
    if inv.ssh_keys or ssh_key_known:
        add("keep", "ssh key", next(iter(inv.ssh_keys), ssh_key_name(plan.name)), detail="reused by fingerprint")
    else:
        add("create", "ssh key", ssh_key_name(plan.name))
    simple("placement group", planned_placement_groups(plan), inv.placement_groups)

    lb_price = Decimal(0)
    lbt = catalog.lb_type(plan.load_balancer.type)
    if lbt and plan.hcloud.location in lbt.prices:
        lb_price = lbt.prices[plan.hcloud.location].monthly
    simple("load balancer", [load_balancer_name(plan.name)] if plan.load_balancer.enabled else [], inv.load_balancers, lb_price)

    slots = planned_nodes(plan)
    for slot in slots:
        existing = inv.servers.get(slot.name)
        if existing is None:
            add("create", "server", slot.name, f"{slot.server_type} in {slot.location}",
                _server_price(catalog, slot.server_type, slot.location))
            continue
        facts = server_facts(existing, None)
        drift = []
        if facts.server_type != slot.server_type:
            drift.append(f"type {facts.server_type} (plan: {slot.server_type})")
        if facts.location != slot.location:
            drift.append(f"location {facts.location} (plan: {slot.location})")
        if drift:
            add("change", "server", slot.name, "; ".join(drift) + "; not changed by apply")
        else:
            add("keep", "server", slot.name, f"{facts.server_type} in {facts.location}")
    wanted = {s.name for s in slots}
    for name, server in sorted(inv.servers.items()):
        if name not in wanted:
            facts = server_facts(server, None)
            add("delete", "server", name, "scale-down: drained and removed first",
                -_server_price(catalog, facts.server_type, facts.location))

    per_gb = catalog.volume_price_per_gb_month
    vols = planned_volumes(plan)
    for name, node, size, _fmt in vols:
        if name in inv.volumes:
            add("keep", "volume", name, f"{size} GB on {node}")
        else:
            add("create", "volume", name, f"{size} GB on {node}", per_gb * size)
    planned = {v[0] for v in vols}
    for name, vol in sorted(inv.volumes.items()):
        if name not in planned:
            add("delete", "volume", name, delta=-per_gb * int(vol.size or 0))
    return changes


async def dry_run(ctx: RunContext) -> list[Change]:
    """Emit PlanDiffed for the plan against the project; sends no mutating request."""
    plan = ctx.plan
    async with step(ctx.bus, "discover", "Finding what already exists"):
        inv = await discover(ctx.client, plan.name)
        key_known = False
        if not inv.ssh_keys:
            try:
                public = Path(plan.ssh.public_key).expanduser().read_text(encoding="utf-8")
                found = await ctx.client.call(
                    ctx.client.hcloud.ssh_keys.get_by_fingerprint, md5_fingerprint(public), what="looking up the SSH key"
                )
                key_known = found is not None
            except OSError:
                ctx.bus.log(f"cannot read {plan.ssh.public_key}; assuming the SSH key must be uploaded", level="warning")
    catalog = bundled_catalog()
    changes = compute_changes(plan, inv, ssh_key_known=key_known, catalog=catalog)
    total = sum((Decimal(c.monthly_cost_delta) for c in changes), Decimal(0))
    ctx.bus.emit(PlanDiffed, changes=changes, currency=catalog.currency, monthly_cost_delta=_money(total))
    return changes
