"""Dry-run: what apply would create, keep, change or delete, with the monthly cost delta.

It reads the project (list requests and one SSH-key lookup by fingerprint) and never sends a
mutating request. The lines come from the one comparison apply acts on (`drift.compare`), so
dry-run shows every change apply makes: a `change` line says whether apply repairs it ("repaired by
apply") or only reports it ("not changed by apply"). The cost delta counts creates as added and
deletes as removed, at the catalog's prices.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from hcloud.firewalls.domain import FirewallRule

from khz_tui.engine import drift
from khz_tui.engine.cloud.client import CloudError
from khz_tui.engine.cloud.facade import Cloud
from khz_tui.engine.cloud.inventory import Inventory
from khz_tui.engine.cloud.live_catalog import current_catalog
from khz_tui.engine.context import RunContext
from khz_tui.engine.events import Change, PlanDiffed
from khz_tui.engine.requests import firewall_rules
from khz_tui.engine.steps import step
from khz_tui.plan.catalog import Catalog
from khz_tui.plan.model import ClusterPlan

#: The end of a `change` line apply leaves as it is (the run lock reads it: such a line needs no lock).
REPORTED_ONLY = "not changed by apply"
#: The end of a `change` line apply repairs.
REPAIRED = "repaired by apply"


def _money(value: Decimal) -> str:
    return f"{value.quantize(Decimal('0.01'))}"


def plan_rules(plan: ClusterPlan, caller_cidr: str | None) -> list[FirewallRule] | None:
    """The plan's firewall rules, or None when they depend on an address that is not known here."""
    try:
        return firewall_rules(plan, caller_cidr)
    except CloudError:
        return None


def as_change(line: drift.Drift) -> Change:
    """One comparison line as a dry-run line."""
    detail = line.describe()
    if line.kind in ("change", "report"):
        detail = f"{detail}; {REPAIRED if line.kind == 'change' else REPORTED_ONLY}"
    action = "change" if line.kind == "report" else line.kind
    return Change(action=action, resource_type=line.resource_type, name=line.name, detail=detail,
                  monthly_cost_delta=_money(line.cost))


def compute_changes(
    plan: ClusterPlan, inv: Inventory, *, ssh_key_known: bool, catalog: Catalog | None = None,
    caller_cidr: str | None = None,
) -> list[Change]:
    """The diff between the plan and the labeled inventory (pure: tests call it without a cloud)."""
    lines = drift.compare(plan, inv, ssh_key_known=ssh_key_known, rules=plan_rules(plan, caller_cidr), catalog=catalog)
    return [as_change(line) for line in lines]


async def dry_run(ctx: RunContext) -> list[Change]:
    """Emit PlanDiffed for the plan against the project; sends no mutating request."""
    plan = ctx.plan
    cloud = Cloud.of(ctx)
    async with step(ctx.bus, "discover", "Finding what already exists"):
        inv = await cloud.discover()
        key_known = False
        if not inv.ssh_keys:
            try:
                public = Path(plan.ssh.public_key).expanduser().read_text(encoding="utf-8")
                key_known = await cloud.find_ssh_key(public) is not None
            except OSError:
                ctx.bus.log(f"cannot read {plan.ssh.public_key}; assuming the SSH key must be uploaded", level="warning")
    catalog = current_catalog()  # what the project's API sells today, when the run read it
    changes = compute_changes(plan, inv, ssh_key_known=key_known, catalog=catalog, caller_cidr=ctx.access.caller_cidr)
    total = sum((Decimal(c.monthly_cost_delta) for c in changes), Decimal(0))
    ctx.bus.emit(PlanDiffed(changes=changes, currency=catalog.currency, monthly_cost_delta=_money(total)))
    return changes
