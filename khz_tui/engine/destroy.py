"""Destroy: delete exactly the resources labeled for this cluster, in dependency order.

Order: first what the cluster's add-ons made (load balancers of the cloud controller, volumes of the
CSI driver): released through the cluster while it runs, then swept through the API when they provably
belong to this cluster (`destroy_addons.py`, `cloud/addon_resources.py`); then the API load balancer
(it holds a network attachment), volumes (detached first), servers (all at once, then their delete
actions waited on together), placement groups, the firewall, the network,
and the SSH key only when khz-tui created it (it carries the cluster's labels; a key the project
already had is never touched). Hetzner detaches a firewall from deleted servers with a lag, so its
delete is retried on `resource_in_use` with bounded, time-scaled backoff (`DeleteRetried` each time).
Everything is found by label selector, so unlabeled look-alikes with the same names survive, and a
second destroy finds nothing and changes nothing. What is already gone counts as deleted (`Cloud.delete`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from hcloud.firewalls.client import BoundFirewall
from hcloud.networks.client import BoundNetwork
from hcloud.servers.client import BoundServer

from khz_tui.engine import run_lock
from khz_tui.engine.cloud.addon_resources import CCM_SERVICE_UID_LABEL
from khz_tui.engine.cloud.client import CloudError
from khz_tui.engine.cloud.cloud_base import ident
from khz_tui.engine.cloud.facade import Cloud
from khz_tui.engine.cloud.pacing import MAX_ATTEMPTS, backoff_delay
from khz_tui.engine.context import NotConfirmed, RunContext
from khz_tui.engine.destroy_addons import release_addon_resources, sweep_addon_resources
from khz_tui.engine.events import AddonResourcesFound, DeleteRetried, NodePhaseChanged
from khz_tui.engine.steps import step

#: Backoff for the firewall's delete while Hetzner still detaches it: about 45 to 90 s in all at scale 1.
DETACH_BASE, DETACH_CAP = 1.0, 30.0


async def _delete_firewall(ctx: RunContext, cloud: Cloud, fw: BoundFirewall) -> None:
    """Delete the firewall, retrying `resource_in_use`: right after its servers are deleted Hetzner
    still counts them as users for a while (terraform-provider-hcloud retries the same in
    resourceFirewallDelete). Gives up after MAX_ATTEMPTS with a message that says what to do."""
    name = fw.name or str(fw.id)
    waited = 0.0
    for attempt in range(MAX_ATTEMPTS):
        try:
            await cloud.delete("firewall", fw)
            return
        except CloudError as exc:
            if exc.code != "resource_in_use":
                raise
            if attempt + 1 == MAX_ATTEMPTS:
                raise CloudError(
                    f"deleting firewall {name}: still in use {waited:.1f}s after its servers were deleted "
                    f"({MAX_ATTEMPTS} attempts): {exc.message}",
                    code="resource_in_use",
                    hint=(
                        "Hetzner detaches a firewall from deleted servers with a delay: run destroy again in a "
                        "minute. If a server outside this cluster uses the firewall, remove it there first."
                    ),
                    what=f"deleting firewall {name}",
                ) from None
            delay = ctx.scaled(backoff_delay(attempt, base=DETACH_BASE, cap=DETACH_CAP))
            ctx.bus.emit(DeleteRetried(resource_type="firewall", name=name, attempt=attempt + 1,
                                       reason=f"still detaching from deleted servers; retrying in {delay:.1f}s"))
            waited += delay
            await asyncio.sleep(delay)


async def destroy(ctx: RunContext) -> int:
    """Delete the cluster's resources; returns how many were deleted. Raises NotConfirmed."""
    bus, plan = ctx.bus, ctx.plan
    cloud = Cloud.of(ctx)
    async with step(bus, "discover", "Finding the cluster's resources"):
        inv = await cloud.discover()
        addons = await cloud.find_addon_resources()
    if addons.count():
        # Listed before the question, so an unconfirmed destroy is the dry-run of one.
        bus.emit(AddonResourcesFound(resources=addons.listed()))
    total = inv.count() + addons.count()
    if total == 0:
        bus.log(f"nothing labeled for cluster {plan.name!r} exists; nothing to delete")
        return 0
    found: dict[str, Mapping[str, object]] = {
        "servers": inv.servers, "load balancers": inv.load_balancers, "volumes": inv.volumes, "networks": inv.networks,
        "firewalls": inv.firewalls, "placement groups": inv.placement_groups, "ssh keys": inv.ssh_keys,
    }
    summary = ", ".join(f"{len(items)} {kind}" for kind, items in found.items() if items)
    if addons.count():
        summary = ", ".join(p for p in (summary, f"made by its add-ons: {addons.describe()}") if p)
    if not await ctx.confirmed(f"Delete cluster {plan.name!r} ({summary})? This cannot be undone."):
        raise NotConfirmed(f"destroying {plan.name!r} was not confirmed; nothing was deleted (confirm with --yes)")
    # Only now, confirmed, does the run take the cluster (an unconfirmed destroy sends no request that
    # changes anything); holding it, it looks again, since another run may have changed the cluster.
    guard = run_lock.current()
    if guard is not None and await guard.before_changes():
        async with step(bus, "discover", "Finding the cluster's resources again"):
            inv = await cloud.discover()

    if addons.count() or inv.servers:
        async with step(bus, "add-ons", "Deleting what the cluster's add-ons made (load balancers, volumes)"):
            await release_addon_resources(ctx, cloud, addons.count())
            await sweep_addon_resources(cloud)
    async with step(bus, "load-balancer", "Deleting the API load balancer"):
        await asyncio.gather(*(cloud.delete("load balancer", lb) for lb in inv.load_balancers.values()))
    async with step(bus, "volumes", "Detaching and deleting volumes"):
        await asyncio.gather(*(cloud.delete("volume", v) for v in inv.volumes.values()))
    async with step(bus, "servers", "Deleting servers"):

        async def server(s: BoundServer) -> None:
            name = s.name or str(s.id)
            bus.emit(NodePhaseChanged(node=name, phase="deleting", server_id=s.id))
            await cloud.delete("server", s)
            bus.emit(NodePhaseChanged(node=name, phase="deleted", server_id=s.id))
            ctx.files.forget_host_key(name)

        await asyncio.gather(*(server(s) for s in inv.servers.values()))
    async with step(bus, "infrastructure", "Deleting placement groups, firewall, network, SSH key"):
        # The cloud controller may have made a load balancer after the first sweep (it retries with a
        # growing pause); with the servers gone it makes no more: sweep once more before the network.
        if addons.count() or inv.servers:
            await sweep_addon_resources(cloud)
        await asyncio.gather(
            *(cloud.delete("placement group", pg) for pg in inv.placement_groups.values()),
            *(_delete_firewall(ctx, cloud, fw) for fw in inv.firewalls.values()),
        )
        kept = [held for held in await asyncio.gather(*(_delete_network(ctx, cloud, n) for n in inv.networks.values()))
                if held]
        await asyncio.gather(*(cloud.delete("ssh key", k) for k in inv.ssh_keys.values()))
        if kept:
            raise CloudError(
                "; ".join(kept), code="resource_in_use", what="deleting the network",
                hint="everything else of the cluster is deleted. Detach those from the network (for a server: "
                     "hcloud server detach-from-network SERVER --network NETWORK), then run the same destroy "
                     "again to delete the network")
    return total


async def _delete_network(ctx: RunContext, cloud: Cloud, network: BoundNetwork) -> str | None:
    """Delete the cluster's network unless a resource that is not the cluster's is still attached:
    Hetzner would detach it silently ("Attached resources will be detached automatically", DELETE
    /networks/{id} in the API spec), cutting someone else's server off. Returns why it was kept."""
    name = network.name or str(network.id)
    network_id = ident(network)
    current = await cloud.read_network(network_id, name)
    if current is None:
        return None
    ours = {s.id for s in cloud.inventory.servers.values()}
    foreign = [f"server {await cloud.server_name(ident(s))}" for s in (current.servers or []) if s.id not in ours]
    # hcloud-python's Network does not keep the API's `load_balancers`: ask the load balancers instead.
    # Ours are deleted by now, except one the cloud controller finished making after the sweep (its
    # create was already under way): labelled by a CCM and on our network, it is the cluster's too.
    attached = [lb for lb in await cloud.load_balancers()
                if any(p.network.id == network_id for p in (lb.private_net or []))]
    late = [lb for lb in attached if CCM_SERVICE_UID_LABEL in (lb.labels or {})]
    await asyncio.gather(*(cloud.delete("load balancer", lb) for lb in late))
    foreign += [f"load balancer {lb.name}" for lb in attached if lb not in late]
    if foreign:
        ctx.bus.log(f"network {name} kept: {', '.join(foreign)} (not of this cluster) is attached to it",
                    level="warning")
        return f"network {name} was kept because {', '.join(foreign)}, not of this cluster, is attached to it"
    await cloud.delete("network", network)
    return None
