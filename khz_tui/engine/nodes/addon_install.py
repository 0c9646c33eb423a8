"""Installing the plan's add-ons on the running cluster, through `kubectl apply` on the seed."""

from __future__ import annotations

from khz_tui.engine.bus import EventBus
from khz_tui.engine.nodes.addons import addon_list, hcloud_secret
from khz_tui.engine.nodes.cluster_api import apply_manifest
from khz_tui.engine.nodes.session import NodeSession
from khz_tui.plan.model import ClusterPlan


async def install_addons(
    session: NodeSession, plan: ClusterPlan, *, hcloud_token: str, network: str, bus: EventBus
) -> list[str]:
    """Apply the `hcloud` Secret (token + network, on stdin only) and every add-on the plan asks for;
    returns the names installed. Safe to rerun: everything goes through `kubectl apply`."""
    bus.add_secret(hcloud_token)
    installed: list[str] = []
    # Manifests go on stdin: never on a command line, never into an event.
    if plan.addons.cloud_controller or plan.storage.hcloud_csi:
        await apply_manifest(session, hcloud_secret(hcloud_token, network))
        installed.append("hcloud-secret")
    for addon in addon_list(plan):
        bus.log(f"installing {addon.name}", node=session.node)
        await apply_manifest(session, addon.manifest())
        installed.append(addon.name)
    return installed
