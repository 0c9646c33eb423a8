"""The cluster's shared cloud resources: network, firewall, SSH key and placement groups (all at once),
and the API load balancer. Found ones are kept; a difference from the plan is reported as drift."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from khz_tui.engine.apply.run_state import ApplyRun
from khz_tui.engine.cloud import resources
from khz_tui.engine.cloud.names import planned_placement_groups
from khz_tui.engine.cloud.resources import lb_addresses
from khz_tui.engine.events import DriftDetected
from khz_tui.engine.steps import step


async def ensure_infrastructure(run: ApplyRun) -> dict[str, Any]:
    """Find or create what every server is created with; returns it by kind for `create_server`."""
    plan, bus, client, inv = run.plan, run.bus, run.client, run.inv
    public_key = Path(plan.ssh.public_key).expanduser().read_text(encoding="utf-8").strip()

    async def groups() -> dict[str, Any]:
        names = planned_placement_groups(plan)
        made = await asyncio.gather(*(resources.ensure_placement_group(client, bus, plan, inv, n) for n in names))
        return dict(zip(names, made))

    network, firewall, key, pgs = await asyncio.gather(
        resources.ensure_network(client, bus, plan, inv),
        resources.ensure_firewall(client, bus, plan, inv, run.ctx.seam.caller_cidr),
        resources.ensure_ssh_key(client, bus, plan, inv, public_key),
        groups(),
    )
    if network.ip_range != plan.network.ip_range:
        bus.emit(
            DriftDetected, resource_type="network", name=network.name, field="ip_range",
            expected=plan.network.ip_range, actual=str(network.ip_range),
        )
    run.network = network
    return {"network": network, "firewall": firewall, "ssh_key": key, "placement_groups": pgs}


async def ensure_load_balancer(run: ApplyRun) -> None:
    """Find or create the API load balancer; its addresses go into the seed's tls-san."""
    async with step(run.bus, "load-balancer", "API load balancer"):
        lb = await resources.ensure_load_balancer(run.client, run.bus, run.plan, run.inv, run.network)
        if lb.load_balancer_type and lb.load_balancer_type.name and lb.load_balancer_type.name != run.plan.load_balancer.type:
            run.bus.emit(
                DriftDetected, resource_type="load balancer", name=lb.name, field="type",
                expected=run.plan.load_balancer.type, actual=lb.load_balancer_type.name,
            )
        run.lb_public, run.lb_private = lb_addresses(lb)
        run.lb_ready.set()
