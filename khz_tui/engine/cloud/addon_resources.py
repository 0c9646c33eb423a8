"""Paid resources a cluster's add-ons made at Hetzner, which carry none of khz-tui's labels, and how
destroy finds only this cluster's.

- Load balancers of the hcloud cloud controller manager (CCM): it labels each with
  `hcloud-ccm/service-uid=<Service UID>` (hcloud-cloud-controller-manager, internal/hcops/load_balancer.go:
  `LabelServiceUID`, set in `LoadBalancerOps.Create`) and attaches it to the network named in the
  `hcloud` Secret (`attachToNetwork`, `NetworkID`). One of ours carries that label and is attached to this
  cluster's network; one with no network counts only when every server it targets is this cluster's.
- Volumes of the hcloud CSI driver: it labels each `managed-by=csi-driver` plus `pvc-name`,
  `pvc-namespace`, `pv-name` and the labels of `HCLOUD_VOLUME_EXTRA_LABELS` (the chart's
  `controller.volumeExtraLabels`) (csi-driver, internal/driver/controller.go `CreateVolume`;
  docs/volume-labels). khz-tui configures the driver to add `khz-tui.io/cluster=<name>` (without
  `khz-tui.io/managed-by`, so discovery never takes them for volumes of the plan). A CSI volume with
  that label is ours; one without any cluster label (made before the label was set) only while it is
  attached to one of this cluster's servers. A CSI volume labelled for another cluster never is.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hcloud.load_balancers.client import BoundLoadBalancer
from hcloud.load_balancers.domain import LoadBalancer
from hcloud.volumes.client import BoundVolume
from hcloud.volumes.domain import Volume

from khz_tui.engine.cloud.inventory import Inventory
from khz_tui.engine.cloud.names import CLUSTER_LABEL
from khz_tui.engine.events import SweptResource

#: hcloud-cloud-controller-manager internal/hcops/load_balancer.go, `LabelServiceUID`.
CCM_SERVICE_UID_LABEL = "hcloud-ccm/service-uid"
#: hcloud csi-driver internal/driver/controller.go: `labelKeyManagedBy: "csi-driver"`.
CSI_MANAGED_BY_SELECTOR = "managed-by=csi-driver"
#: What khz-tui asks the CSI driver to add to its volumes (chart value controller.volumeExtraLabels).
CSI_CLUSTER_LABEL = CLUSTER_LABEL


def csi_volume_labels(cluster: str) -> dict[str, str]:
    """The chart value `controller.volumeExtraLabels` that marks the CSI driver's volumes as `cluster`'s."""
    return {CSI_CLUSTER_LABEL: cluster}


@dataclass
class AddonResources:
    """What the add-ons left that provably belongs to the cluster, each with the proof."""

    load_balancers: list[tuple[BoundLoadBalancer, str]] = field(default_factory=list)
    volumes: list[tuple[BoundVolume, str]] = field(default_factory=list)

    def count(self) -> int:
        return len(self.load_balancers) + len(self.volumes)

    def listed(self) -> list[SweptResource]:
        return ([SweptResource(resource_type="load balancer", name=lb.name or str(lb.id), id=lb.id, why=why)
                 for lb, why in self.load_balancers]
                + [SweptResource(resource_type="volume", name=vol.name or str(vol.id), id=vol.id, why=why)
                   for vol, why in self.volumes])

    def describe(self) -> str:
        """`load balancer a1b2 (why), volume pvc-1 (why)` for the confirmation question."""
        return ", ".join(f"{r.resource_type} {r.name} ({r.why})" for r in self.listed())


def _network_ids(lb: LoadBalancer) -> set[int]:
    return {pn.network.id for pn in (lb.private_net or []) if pn.network is not None and pn.network.id is not None}


def _server_targets(lb: LoadBalancer) -> set[int]:
    return {t.server.id for t in (lb.targets or [])
            if t.type == "server" and t.server is not None and t.server.id is not None}


def ccm_load_balancer_proof(lb: LoadBalancer, networks: dict[int, str], servers: dict[int, str]) -> str | None:
    """Why this CCM load balancer is the cluster's, or None when nothing proves it."""
    if CCM_SERVICE_UID_LABEL not in (lb.labels or {}):
        return None
    attached = _network_ids(lb)
    if attached:
        ours = sorted(networks[n] for n in attached if n in networks)
        return f"made by the cloud controller, attached to network {ours[0]}" if ours else None
    targets = _server_targets(lb)
    if targets and targets <= servers.keys():
        return "made by the cloud controller, targets only this cluster's servers"
    return None


def csi_volume_proof(vol: Volume, cluster: str, servers: dict[int, str]) -> str | None:
    """Why this CSI volume is the cluster's, or None when nothing proves it."""
    labels = vol.labels or {}
    if labels.get("managed-by") != "csi-driver":
        return None
    if CSI_CLUSTER_LABEL in labels:
        if labels[CSI_CLUSTER_LABEL] != cluster:
            return None
        return f"made by the CSI driver for this cluster (label {CSI_CLUSTER_LABEL})"
    server = vol.server
    if server is not None and server.id in servers:
        return f"made by the CSI driver, attached to {servers[server.id]}"
    return None


def addon_resources(
    cluster: str, inv: Inventory, load_balancers: list[BoundLoadBalancer], volumes: list[BoundVolume]
) -> AddonResources:
    """Of the cloud controller's `load_balancers` and the CSI driver's `volumes`, those that belong to
    `cluster` (whose resources `inv` holds), by name."""
    networks = {n.id: name for name, n in inv.networks.items() if n.id is not None}
    servers = {s.id: name for name, s in inv.servers.items() if s.id is not None}
    found = AddonResources()
    for lb in sorted(load_balancers, key=lambda x: x.name or ""):
        if (why := ccm_load_balancer_proof(lb, networks, servers)) is not None:
            found.load_balancers.append((lb, why))
    for vol in sorted(volumes, key=lambda x: x.name or ""):
        if (why := csi_volume_proof(vol, cluster, servers)) is not None:
            found.volumes.append((vol, why))
    return found
