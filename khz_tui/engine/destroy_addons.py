"""Destroy's first part: let the cluster's own controllers give back what they made, then sweep the rest.

While the servers still run, LoadBalancer Services and PersistentVolumeClaims are deleted through the
cluster (`k3s kubectl` over SSH on a control plane whose host key this machine pinned), so the cloud
controller deletes its load balancers and the CSI driver its volumes, the way they would in normal use.
That is bounded: a cluster that cannot be reached, or controllers that do not finish in time, leave
the work to the sweep, which deletes through the API what provably belongs to this cluster
(`cloud/addon_resources.py`).
"""

from __future__ import annotations

import asyncio
import json
import shlex
from typing import Any

from hcloud.servers.client import BoundServer

from khz_tui.engine.cloud.addon_resources import AddonResources
from khz_tui.engine.cloud.client import CloudError
from khz_tui.engine.cloud.facade import Cloud
from khz_tui.engine.context import RunContext
from khz_tui.engine.nodes import cluster_api
from khz_tui.engine.nodes.cluster_api import KUBECTL
from khz_tui.engine.nodes.session import NodeError, NodeSession

#: Seconds (at scale 1) to reach a control plane and ask it to delete; past it the sweep does the work.
REACH_DEADLINE = 60.0
#: Seconds (at scale 1) to wait for the controllers to delete what they made, polled through the API.
RELEASE_DEADLINE = 120.0
RELEASE_POLL = 3.0


async def _kubectl_json(session: NodeSession, what: str) -> list[dict[str, Any]]:
    result = await session.run(f"{KUBECTL} get {what} --all-namespaces -o json", stream=False, timeout=60)
    items: list[dict[str, Any]] = json.loads(result.stdout).get("items", []) or []
    return items


async def _delete_in_cluster(ctx: RunContext, server: BoundServer) -> int:
    """Delete every LoadBalancer Service and every PVC on the cluster; returns how many were asked."""
    session = await cluster_api.open_control_plane(ctx, server, deadline=ctx.scaled(REACH_DEADLINE, floor=2.0))
    asked = 0
    try:
        services = [s for s in await _kubectl_json(session, "services")
                    if (s.get("spec") or {}).get("type") == "LoadBalancer"]
        claims = await _kubectl_json(session, "persistentvolumeclaims")
        # Services first: their load balancers go at once; a PVC still mounted by a pod waits for it.
        for kind, items in (("service", services), ("persistentvolumeclaim", claims)):
            for item in items:
                meta = item.get("metadata") or {}
                name, ns = meta.get("name", ""), meta.get("namespace") or "default"
                ctx.bus.log(f"deleting {kind} {ns}/{name} in the cluster, so its controller releases what it made")
                await session.run(f"{KUBECTL} delete {kind} {shlex.quote(name)} -n {shlex.quote(ns)} "
                                  "--ignore-not-found --wait=false", timeout=60, check=False)
                asked += 1
    finally:
        await session.close()
    return asked


async def release_addon_resources(ctx: RunContext, cloud: Cloud, pending: int) -> None:
    """Ask the cluster to delete its LoadBalancer Services and PVCs, then, when `pending` resources of
    the add-ons were found in the cloud, wait (bounded) until their controllers have deleted them.
    Does nothing when the plan runs neither the cloud controller nor the CSI driver (nothing of theirs
    can exist); never raises for an unreachable cluster."""
    if not (ctx.plan.addons.cloud_controller or ctx.plan.storage.hcloud_csi) and not pending:
        return
    # A running control plane whose host key this machine pinned (no pin, no connection).
    server = (cluster_api.pinned_control_planes(ctx, cloud.inventory.servers.values()) or [None])[0]
    if server is None:
        if cloud.inventory.servers:
            ctx.bus.log("no running control plane this machine can verify: what the add-ons made is swept "
                        "through the API only", level="warning")
        return
    try:
        async with asyncio.timeout(ctx.scaled(REACH_DEADLINE, floor=2.0) * 2):
            asked = await _delete_in_cluster(ctx, server)
    except (NodeError, CloudError, OSError, TimeoutError, ValueError) as exc:
        ctx.bus.log(f"could not delete Services and volume claims through {server.name} ({exc}); what the add-ons "
                    "made is swept through the API", level="warning")
        return
    if not asked or not pending:
        return
    loop = asyncio.get_running_loop()
    end = loop.time() + ctx.scaled(RELEASE_DEADLINE, floor=1.0)
    while loop.time() < end:
        left = await cloud.find_addon_resources()
        if not left.count():
            return
        await asyncio.sleep(ctx.scaled(RELEASE_POLL))
    ctx.bus.log("the cluster's controllers did not delete everything they made in time; the rest is swept "
                "through the API", level="warning")


async def sweep_addon_resources(cloud: Cloud) -> AddonResources:
    """Delete what the add-ons left that provably belongs to this cluster; returns what was found."""
    left = await cloud.find_addon_resources()
    await asyncio.gather(
        *(cloud.delete("load balancer", lb) for lb, _why in left.load_balancers),
        *(cloud.delete("volume", vol) for vol, _why in left.volumes),
    )
    return left
