"""The add-on manifests khz-tui applies once the API answers.

Charts are installed through k3s' built-in Helm controller: a `helm.cattle.io/v1 HelmChart` object in
kube-system names the chart repository, chart and values, and k3s runs the install job itself. The
manifests stay a few lines each, are plain `kubectl apply` input (idempotent on rerun), and on a real
cluster pull the upstream charts. `bootstrap: true` lets a chart install before any CNI or cloud
controller has made the nodes Ready (host network, tolerations), which the CNI and the cloud
controller manager need. The `hcloud` Secret is built separately: it carries the API token and is
only ever sent on a command's stdin.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

from khz_tui.engine.cloud.addon_resources import csi_volume_labels
from khz_tui.plan.catalog import Catalog, bundled_catalog
from khz_tui.plan.model import ClusterPlan

HETZNER_CHARTS = "https://charts.hetzner.cloud"
MANAGED = {"app.kubernetes.io/managed-by": "khz-tui"}


@dataclass(frozen=True)
class Chart:
    """A Helm chart at one exact version (`spec.version` of its HelmChart)."""

    repo: str
    chart: str
    version: str
    source: str
    """Where the version was read: the chart's public repository at that release."""


#: Every chart khz-tui installs, pinned, so that a cluster built today and one built next month get
#: the same add-ons (an unpinned HelmChart installs whatever is newest at install time). Bump a
#: version here, nowhere else.
CHARTS: dict[str, Chart] = {
    "cilium": Chart("https://helm.cilium.io", "cilium", "1.19.1",
                    "github.com/cilium/cilium release v1.19.1 (install/kubernetes/cilium)"),
    "tigera-operator": Chart("https://docs.tigera.io/calico/charts", "tigera-operator", "v3.32.1",
                             "github.com/projectcalico/calico tag v3.32.1 (charts/tigera-operator)"),
    "hcloud-cloud-controller-manager": Chart(
        HETZNER_CHARTS, "hcloud-cloud-controller-manager", "1.35.0",
        "github.com/hetznercloud/hcloud-cloud-controller-manager tag v1.35.0 (chart/Chart.yaml)"),
    "hcloud-csi": Chart(HETZNER_CHARTS, "hcloud-csi", "2.22.1",
                        "github.com/hetznercloud/csi-driver tag v2.22.1 (chart/Chart.yaml)"),
    "longhorn": Chart("https://charts.longhorn.io", "longhorn", "1.12.1",
                      "github.com/longhorn/longhorn tag v1.12.1 (chart/Chart.yaml)"),
    "ingress-nginx": Chart("https://kubernetes.github.io/ingress-nginx", "ingress-nginx", "4.15.1",
                           "github.com/kubernetes/ingress-nginx tag helm-chart-4.15.1 (charts/ingress-nginx)"),
}

#: rancher/system-upgrade-controller release the add-on runs (its image tag).
SYSTEM_UPGRADE_CONTROLLER_VERSION = "v0.20.1"
SYSTEM_UPGRADE_CONTROLLER_IMAGE = f"rancher/system-upgrade-controller:{SYSTEM_UPGRADE_CONTROLLER_VERSION}"

#: MTU of a Hetzner private network interface (Hetzner's docs on networks: 1450, the rest is their
#: own encapsulation). Cilium's `MTU` value is the underlying device's MTU: Cilium subtracts its own
#: VXLAN (50 bytes) and, with encryption, WireGuard (80 bytes) overhead from it (pkg/mtu).
HETZNER_PRIVATE_MTU = 1450


@dataclass(frozen=True)
class Addon:
    """One add-on: its name (as reported) and the manifest documents that install it."""

    name: str
    documents: tuple[dict[str, Any], ...]

    def manifest(self) -> str:
        """The documents as one multi-document YAML stream for `kubectl apply -f -`."""
        return yaml.safe_dump_all(list(self.documents), sort_keys=False, default_flow_style=False)


def hcloud_secret_document(hcloud_token: str, network: str) -> dict[str, Any]:
    """The `hcloud` Secret read by the cloud controller manager and the CSI driver."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "hcloud", "namespace": "kube-system", "labels": dict(MANAGED)},
        "type": "Opaque",
        "stringData": {"token": hcloud_token, "network": network},
    }


def hcloud_secret(hcloud_token: str, network: str) -> str:
    """The `hcloud` Secret as YAML. Secret: stdin only."""
    return yaml.safe_dump(hcloud_secret_document(hcloud_token, network), sort_keys=False)


def needs_hcloud_secret(plan: ClusterPlan) -> bool:
    """Whether an add-on reads the `hcloud` Secret (the cloud controller or the CSI driver)."""
    return plan.addons.cloud_controller or plan.storage.hcloud_csi


def _helm_chart(key: str, namespace: str, values: dict[str, Any], *, bootstrap: bool = False) -> dict[str, Any]:
    chart = CHARTS[key]
    spec: dict[str, Any] = {"repo": chart.repo, "chart": chart.chart, "version": chart.version, "targetNamespace": namespace}
    if namespace != "kube-system":
        spec["createNamespace"] = True
    if bootstrap:
        spec["bootstrap"] = True
    if values:
        spec["valuesContent"] = yaml.safe_dump(values, sort_keys=False, default_flow_style=False)
    return {
        "apiVersion": "helm.cattle.io/v1",
        "kind": "HelmChart",
        "metadata": {"name": key, "namespace": "kube-system", "labels": dict(MANAGED)},
        "spec": spec,
    }


def cilium_values(plan: ClusterPlan) -> dict[str, Any]:
    """Cilium's chart values: Kubernetes IPAM and the MTU of Hetzner's private interface, which
    autodetection gets wrong (it reads the public interface's 1500)."""
    values: dict[str, Any] = {
        "ipam": {"mode": "kubernetes"},  # use the pod CIDR k3s hands each node (cluster-cidr)
        "operator": {"replicas": 1},
        "MTU": HETZNER_PRIVATE_MTU,
    }
    if plan.network.encryption:
        values["encryption"] = {"enabled": True, "type": "wireguard"}
    return values


def calico_values(plan: ClusterPlan) -> dict[str, Any]:
    """tigera-operator's values. Node addresses come from the Node's InternalIP (the private one k3s
    and the cloud controller set), not the operator's default `firstFound` (eth0, the public
    address): Hetzner firewalls filter the public interface only, so VXLAN between public addresses
    meets the firewall and is dropped, while the private network is not filtered."""
    return {
        "installation": {
            "cni": {"type": "Calico"},
            "calicoNetwork": {
                "bgp": "Disabled",
                "nodeAddressAutodetectionV4": {"kubernetes": "NodeInternalIP"},
                "ipPools": [{"cidr": plan.network.pod_cidr, "encapsulation": "VXLAN", "natOutgoing": "Enabled"}],
            },
        }
    }


def cni_addon(plan: ClusterPlan) -> Addon | None:
    """Cilium or Calico when the plan chooses one (flannel is built into k3s: nothing to install)."""
    cni = plan.network.cni
    if cni == "cilium":
        return Addon("cilium", (_helm_chart("cilium", "kube-system", cilium_values(plan), bootstrap=True),))
    if cni == "calico":
        return Addon("calico", (_helm_chart("tigera-operator", "tigera-operator", calico_values(plan), bootstrap=True),))
    return None


#: CNIs that carry pod traffic in a tunnel between nodes: every one khz-tui installs (flannel's
#: VXLAN or WireGuard, Cilium's and Calico's VXLAN). With them, routes the cloud controller would
#: add to the private network for each node's pod range are unused, and cost a route per node
#: against the network's limit.
OVERLAY_CNIS = frozenset({"flannel", "cilium", "calico"})


def service_lb_type(plan: ClusterPlan, catalog: Catalog | None = None) -> str:
    """The smallest load balancer type whose target limit holds every node the cluster can grow to
    (lb11 holds 25): the cloud controller makes every node a target of the load balancers it creates."""
    catalog = catalog or bundled_catalog()
    types = sorted(catalog.load_balancer_types.values(), key=lambda t: (t.max_targets, t.name))
    nodes = plan.max_server_count()
    return next((t.name for t in types if t.max_targets >= nodes), types[-1].name)


def ccm_env(plan: ClusterPlan, catalog: Catalog | None = None) -> dict[str, str]:
    """The cloud controller's environment, as documented in hcloud-cloud-controller-manager's
    docs/reference/load_balancer_envs.md and docs/explanation/controllers.md.

    Without a location or network zone the CCM refuses to create a load balancer, so Services of
    type LoadBalancer (the ingress's) stay pending; its targets use private IPs (the firewall only
    lets the private range reach node ports). With Klipper serving LoadBalancer Services, the CCM's
    service controller is off, so two controllers never fight over one Service."""
    env = {} if plan.network.cni not in OVERLAY_CNIS else {"HCLOUD_NETWORK_ROUTES_ENABLED": "false"}
    if plan.addons.service_load_balancer == "hetzner":
        env["HCLOUD_LOAD_BALANCERS_LOCATION"] = plan.hcloud.location
        env["HCLOUD_LOAD_BALANCERS_USE_PRIVATE_IP"] = "true"
        env["HCLOUD_LOAD_BALANCERS_TYPE"] = service_lb_type(plan, catalog)
    else:
        env["HCLOUD_LOAD_BALANCERS_ENABLED"] = "false"
    return env


def ccm_values(plan: ClusterPlan, catalog: Catalog | None = None) -> dict[str, Any]:
    """The cloud controller chart's values: the networks variant (node private IPs, load balancers
    in the network; it reads the token and network from the `hcloud` Secret) and `ccm_env`, in the
    chart's `env` map form (`NAME: {value: ...}`, merged with the chart's own entries)."""
    return {
        "networking": {"enabled": True, "clusterCIDR": plan.network.pod_cidr},
        "env": {name: {"value": value} for name, value in ccm_env(plan, catalog).items()},
    }


def system_upgrade_controller_crd() -> dict[str, Any]:
    """The `plans.upgrade.cattle.io` CRD the controller needs and, since v0.13, no longer creates
    (rancher/system-upgrade-controller, "crd.yaml" in its releases). Built here from the resource's
    public names; the schema is left open (the controller validates its Plans itself)."""
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "plans.upgrade.cattle.io", "labels": dict(MANAGED)},
        "spec": {
            "group": "upgrade.cattle.io",
            "names": {"kind": "Plan", "listKind": "PlanList", "plural": "plans", "singular": "plan"},
            "scope": "Namespaced",
            "versions": [{
                "name": "v1", "served": True, "storage": True, "subresources": {"status": {}},
                "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}},
            }],
        },
    }


def addon_list(plan: ClusterPlan, catalog: Catalog | None = None) -> list[Addon]:
    """Every add-on the plan asks for, CNI first (nodes are not Ready without it), then the cloud
    controller (it initialises nodes), then storage, ingress and upgrades."""
    addons: list[Addon] = []
    cni = cni_addon(plan)
    if cni is not None:
        addons.append(cni)
    if plan.addons.cloud_controller:
        addons.append(Addon(
            "hcloud-cloud-controller-manager",
            (_helm_chart("hcloud-cloud-controller-manager", "kube-system", ccm_values(plan, catalog), bootstrap=True),),
        ))
    if plan.storage.hcloud_csi:
        addons.append(Addon(
            "hcloud-csi",
            (_helm_chart("hcloud-csi", "kube-system",
                         {"storageClasses": [{"name": "hcloud-volumes", "defaultStorageClass": not plan.storage.longhorn,
                                              "reclaimPolicy": "Delete"}],
                          # csi-driver docs, "volume-labels": the chart value sets HCLOUD_VOLUME_EXTRA_LABELS
                          # (chart 2.15+). Marks the driver's volumes as this cluster's, so destroy can prove
                          # a detached one is ours.
                          "controller": {"volumeExtraLabels": csi_volume_labels(plan.name)}}),),
        ))
    if plan.storage.longhorn:
        # Its node prerequisites (open-iscsi, iscsid, nfs-common, multipathd kept off its devices)
        # come with each server's cloud-init: see cloud_init.longhorn_prerequisites.
        addons.append(Addon(
            "longhorn",
            (_helm_chart("longhorn", "longhorn-system", {"persistence": {"defaultClass": True}}),),
        ))
    if plan.addons.ingress == "nginx":
        service: dict[str, Any] = {"type": "LoadBalancer"}
        if plan.addons.service_load_balancer == "hetzner":
            service["annotations"] = {
                "load-balancer.hetzner.cloud/name": f"{plan.name}-ingress",
                "load-balancer.hetzner.cloud/location": plan.hcloud.location,
                "load-balancer.hetzner.cloud/use-private-ip": "true",
            }
        addons.append(Addon(
            "ingress-nginx",
            (_helm_chart("ingress-nginx", "ingress-nginx", {"controller": {"kind": "DaemonSet", "service": service}}),),
        ))
    if plan.addons.system_upgrade_controller:
        addons.append(system_upgrade_controller())
    return addons


def system_upgrade_controller() -> Addon:
    """Rancher's system-upgrade-controller at the pinned release: its `Plan` CRD first (the controller
    no longer creates it), then the controller in namespace `system-upgrade`: a service account bound
    to cluster-admin (it drains and upgrades nodes), its settings and the Deployment on a control plane."""
    ns, labels = "system-upgrade", dict(MANAGED)

    def meta(name: str) -> dict[str, Any]:
        return {"name": name, "namespace": ns, "labels": dict(labels)}

    app = {"upgrade.cattle.io/controller": "system-upgrade-controller"}
    documents: tuple[dict[str, Any], ...] = (
        system_upgrade_controller_crd(),
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns, "labels": dict(labels)}},
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta("system-upgrade")},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
         "metadata": {"name": "system-upgrade", "labels": dict(labels)},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
         "subjects": [{"kind": "ServiceAccount", "name": "system-upgrade", "namespace": ns}]},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta("default-controller-env"),
         "data": {"SYSTEM_UPGRADE_CONTROLLER_DEBUG": "false", "SYSTEM_UPGRADE_JOB_ACTIVE_DEADLINE_SECONDS": "900",
                  "SYSTEM_UPGRADE_JOB_BACKOFF_LIMIT": "99", "SYSTEM_UPGRADE_JOB_PRIVILEGED": "true",
                  "SYSTEM_UPGRADE_PLAN_POLLING_INTERVAL": "15m"}},
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta("system-upgrade-controller"),
         "spec": {
             "selector": {"matchLabels": app},
             "template": {
                 "metadata": {"labels": app},
                 "spec": {
                     "serviceAccountName": "system-upgrade",
                     "nodeSelector": {"node-role.kubernetes.io/control-plane": "true"},
                     "tolerations": [{"key": "node-role.kubernetes.io/control-plane", "operator": "Exists",
                                      "effect": "NoSchedule"},
                                     {"key": "CriticalAddonsOnly", "operator": "Exists"}],
                     "containers": [{
                         "name": "system-upgrade-controller", "image": SYSTEM_UPGRADE_CONTROLLER_IMAGE,
                         "envFrom": [{"configMapRef": {"name": "default-controller-env"}}],
                         "env": [{"name": "SYSTEM_UPGRADE_CONTROLLER_NAME", "value": "system-upgrade-controller"},
                                 {"name": "SYSTEM_UPGRADE_CONTROLLER_NAMESPACE",
                                  "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}}],
                     }],
                 },
             },
         }},
    )
    return Addon("system-upgrade-controller", documents)
