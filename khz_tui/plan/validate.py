"""The `khz-tui validate` and `khz-tui schema` commands: offline, no token, no network."""

from __future__ import annotations

import json
import sys
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

from khz_tui.plan.checks import Problem
from khz_tui.plan.cost import CostEstimate, estimate_cost
from khz_tui.plan.model import ClusterPlan
from khz_tui.plan.toml_io import PlanError, parse_plan, read_plan_text

EXIT_OK, EXIT_BAD_INPUT = 0, 2


def plan_summary(plan: ClusterPlan) -> dict[str, Any]:
    """Nodes per role and pool, with their locations: what `validate` prints and the wizard reviews."""
    cp = plan.control_plane
    pools = [
        {
            "name": p.name,
            "count": p.count,
            "server_type": p.server_type,
            "location": plan.pool_location(p),
            **({"autoscaling": {"min": p.autoscaling.min, "max": p.autoscaling.max}} if p.autoscaling else {}),
        }
        for p in plan.worker_pools
    ]
    locations = sorted(set(plan.control_plane_locations()) | {plan.pool_location(p) for p in plan.worker_pools})
    return {
        "name": plan.name,
        "servers": plan.server_count(),
        "network_zone": plan.network.zone,
        "locations": locations,
        "control_plane": {"count": cp.count, "server_type": cp.server_type, "locations": plan.control_plane_locations()},
        "worker_pools": pools,
        "load_balancer": plan.load_balancer.type if plan.load_balancer.enabled else None,
        "volumes": [{"name": v.name, "size_gb": v.size_gb, "pool": v.pool} for v in plan.storage.volumes],
        "cni": plan.network.cni,
        "k3s": plan.k3s.version or f"channel {plan.k3s.channel}",
    }


def _money(value: Decimal, places: str = "0.01") -> str:
    return str(value.quantize(Decimal(places)))


def _cost_json(cost: CostEstimate) -> dict[str, Any]:
    return {
        "currency": cost.currency,
        "catalog_date": cost.catalog_date,
        "monthly": _money(cost.monthly),
        "hourly": _money(cost.hourly, "0.0001"),
        "lines": [
            {"item": ln.item, "quantity": ln.quantity, "unit_monthly": _money(ln.unit_monthly, "0.0001"),
             "monthly": _money(ln.monthly), "hourly": _money(ln.hourly, "0.0001")}
            for ln in cost.lines
        ],
    }


def _problem_json(p: Problem) -> dict[str, Any]:
    return {"path": p.path, "message": p.message, "line": p.line, "severity": p.severity}


def _text_summary(source: str, plan: ClusterPlan, cost: CostEstimate, warnings: list[Problem]) -> str:
    cp = plan.control_plane
    cp_locs = Counter(plan.control_plane_locations())
    out = [f"{source}: the plan is valid.", "",
           f'cluster "{plan.name}": {plan.server_count()} server{"s" if plan.server_count() != 1 else ""} '
           f"in network zone {plan.network.zone}, "
           f"{plan.network.cni}, k3s {plan.k3s.version or 'channel ' + str(plan.k3s.channel)}"]
    spread = ", ".join(f"{loc} ({n})" for loc, n in cp_locs.items()) if len(cp_locs) > 1 else next(iter(cp_locs))
    out.append(f"  control plane: {cp.count} x {cp.server_type} in {spread}")
    for p in plan.worker_pools:
        auto = f", autoscaling {p.autoscaling.min}..{p.autoscaling.max}" if p.autoscaling else ""
        out.append(f"  worker pool {p.name}: {p.count} x {p.server_type} in {plan.pool_location(p)}{auto}")
    if not plan.worker_pools:
        out.append("  no worker pools" + (" (workloads run on the control plane)" if cp.allow_workloads or cp.count == 1 else ""))
    lb = plan.load_balancer
    out.append(f"  API load balancer {lb.type} in {plan.hcloud.location}" if lb.enabled else "  no API load balancer")
    for v in plan.storage.volumes:
        out.append(f"  volume {v.name}: {v.size_gb} GB {v.format} on each node of pool {v.pool}")
    out += ["", f"estimated cost ({cost.currency}, net without VAT, prices of {cost.catalog_date}):"]
    width = max((len(ln.item) for ln in cost.lines), default=10)
    for ln in cost.lines:
        out.append(f"  {ln.item:<{width}}  {ln.quantity:>3} x {_money(ln.unit_monthly):>7}  = {_money(ln.monthly):>8}/month")
    out.append(f"  {'total':<{width}}  {'':>15}  = {_money(cost.monthly):>8}/month, {_money(cost.hourly, '0.0001')}/hour")
    if warnings:
        out += ["", f"{len(warnings)} warning{'s' if len(warnings) != 1 else ''}:"]
        out += [f"  {w.describe().removeprefix('warning: ')}" for w in warnings]
    return "\n".join(out)


def run_validate(path: Path, output: str = "text") -> int:
    """Check the plan at `path`; print a summary with its cost (exit 0) or every problem (exit 2)."""
    source = str(path)
    try:
        plan, warnings = parse_plan(read_plan_text(path), source)
    except PlanError as err:
        if output == "json":
            print(json.dumps({"valid": False, "source": source, "problems": [_problem_json(p) for p in err.problems]},
                             indent=2))
        else:
            print(err.report(), file=sys.stderr)
        return EXIT_BAD_INPUT
    cost = estimate_cost(plan)
    if output == "json":
        print(json.dumps({"valid": True, "source": source, "summary": plan_summary(plan), "cost": _cost_json(cost),
                          "warnings": [_problem_json(w) for w in warnings]}, indent=2))
    else:
        print(_text_summary(source, plan, cost, warnings))
    return EXIT_OK


def plan_json_schema() -> dict[str, Any]:
    """The plan's JSON Schema (draft 2020-12), with a title editors show."""
    schema = ClusterPlan.model_json_schema()
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema, "title": "khz-tui cluster plan"}


def run_schema() -> int:
    """Print the plan's JSON Schema on stdout (for TOML editors such as Taplo or Even Better TOML)."""
    print(json.dumps(plan_json_schema(), indent=2))
    return EXIT_OK
