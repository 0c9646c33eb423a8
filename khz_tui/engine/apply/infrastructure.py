"""The cluster's shared cloud resources: network, firewall, SSH key and placement groups (all at once),
and the API load balancer. Found ones are kept and compared with the plan (`drift`): the firewall is
applied to the cluster's servers again when it is not; the rest of a difference is reported."""

from __future__ import annotations

import asyncio
from pathlib import Path

from hcloud.networks.client import BoundNetwork
from hcloud.placement_groups.client import BoundPlacementGroup

from khz_tui.engine.apply.progress import ApplyProgress
from khz_tui.engine.apply.records import ApiAddresses, Infrastructure
from khz_tui.engine.cloud.names import planned_placement_groups
from khz_tui.engine.cloud.shared_resources import lb_addresses
from khz_tui.engine.steps import step


async def ensure_infrastructure(run: ApplyProgress) -> Infrastructure:
    """Find or create what every server is created with."""
    cloud = run.cloud
    public_key = Path(run.plan.ssh.public_key).expanduser().read_text(encoding="utf-8").strip()

    async def groups() -> dict[str, BoundPlacementGroup]:
        names = planned_placement_groups(run.plan)
        made = await asyncio.gather(*(cloud.ensure_placement_group(n) for n in names))
        return dict(zip(names, made))

    network, firewall, key, pgs = await asyncio.gather(
        cloud.ensure_network(),
        cloud.ensure_firewall(run.ctx.access.caller_cidr),
        cloud.ensure_ssh_key(public_key),
        groups(),
    )
    return Infrastructure(network=network, firewall=firewall, ssh_key=key, placement_groups=pgs)


async def ensure_load_balancer(run: ApplyProgress, network: BoundNetwork) -> None:
    """Find or create the API load balancer; its addresses go into the seed's tls-san."""
    async with step(run.bus, "load-balancer", "API load balancer"):
        lb = await run.cloud.ensure_load_balancer(network)
        public, private = lb_addresses(lb)
        run.milestones.load_balancer.reach(ApiAddresses(public=public, private=private))
