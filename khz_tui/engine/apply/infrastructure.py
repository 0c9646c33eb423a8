"""The cluster's shared cloud resources: network, firewall, SSH key and placement groups (all at once),
and the API load balancer. Found ones are kept and compared with the plan (`drift`): the firewall is
applied to the cluster's servers again when it is not; the rest of a difference is reported."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from khz_tui.engine import drift
from khz_tui.engine.apply.progress import ApplyProgress
from khz_tui.engine.cloud import resources
from khz_tui.engine.cloud.names import planned_placement_groups
from khz_tui.engine.cloud.resources import lb_addresses, report_drift
from khz_tui.engine.steps import step


async def ensure_infrastructure(run: ApplyProgress) -> dict[str, Any]:
    """Find or create what every server is created with; returns it by kind for `create_server`."""
    plan, bus, client, inv = run.plan, run.bus, run.client, run.inv
    public_key = Path(plan.ssh.public_key).expanduser().read_text(encoding="utf-8").strip()

    async def groups() -> dict[str, Any]:
        names = planned_placement_groups(plan)
        made = await asyncio.gather(*(resources.ensure_placement_group(client, bus, plan, inv, n) for n in names))
        return dict(zip(names, made))

    network, firewall, key, pgs = await asyncio.gather(
        resources.ensure_network(client, bus, plan, inv),
        resources.ensure_firewall(client, bus, plan, inv, run.ctx.access.caller_cidr),
        resources.ensure_ssh_key(client, bus, plan, inv, public_key),
        groups(),
    )
    report_drift(bus, drift.network_drift(plan, network))
    run.network = network
    return {"network": network, "firewall": firewall, "ssh_key": key, "placement_groups": pgs}


async def ensure_load_balancer(run: ApplyProgress) -> None:
    """Find or create the API load balancer; its addresses go into the seed's tls-san."""
    async with step(run.bus, "load-balancer", "API load balancer"):
        lb = await resources.ensure_load_balancer(run.client, run.bus, run.plan, run.inv, run.network)
        report_drift(run.bus, drift.load_balancer_drift(run.plan, lb))
        run.lb_public, run.lb_private = lb_addresses(lb)
        run.lb_ready.set()
