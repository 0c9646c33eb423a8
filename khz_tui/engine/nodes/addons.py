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

import yaml

from khz_tui.plan.model import ClusterPlan

HETZNER_CHARTS = "https://charts.hetzner.cloud"
SYSTEM_UPGRADE_CONTROLLER_IMAGE = "rancher/system-upgrade-controller:v0.14.2"


@dataclass(frozen=True)
class Addon:
    """One add-on: its name (as reported) and the manifest documents that install it."""

    name: str
    documents: tuple[dict, ...]

    def manifest(self) -> str:
        """The documents as one multi-document YAML stream for `kubectl apply -f -`."""
        return yaml.safe_dump_all(list(self.documents), sort_keys=False, default_flow_style=False)


def hcloud_secret(hcloud_token: str, network: str) -> str:
    """The `hcloud` Secret read by the cloud controller manager and the CSI driver. Secret: stdin only."""
    document = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "hcloud", "namespace": "kube-system", "labels": {"app.kubernetes.io/managed-by": "khz-tui"}},
        "type": "Opaque",
        "stringData": {"token": hcloud_token, "network": network},
    }
    return yaml.safe_dump(document, sort_keys=False)


def _helm_chart(
    name: str, repo: str, chart: str, namespace: str, values: dict, *, bootstrap: bool = False
) -> dict:
    spec: dict = {"repo": repo, "chart": chart, "targetNamespace": namespace}
    if namespace != "kube-system":
        spec["createNamespace"] = True
    if bootstrap:
        spec["bootstrap"] = True
    if values:
        spec["valuesContent"] = yaml.safe_dump(values, sort_keys=False, default_flow_style=False)
    return {
        "apiVersion": "helm.cattle.io/v1",
        "kind": "HelmChart",
        "metadata": {"name": name, "namespace": "kube-system", "labels": {"app.kubernetes.io/managed-by": "khz-tui"}},
        "spec": spec,
    }


def cni_addon(plan: ClusterPlan) -> Addon | None:
    """Cilium or Calico when the plan chooses one (flannel is built into k3s: nothing to install)."""
    cni = plan.network.cni
    if cni == "cilium":
        values: dict = {
            "ipam": {"mode": "kubernetes"},  # use the pod CIDR k3s hands each node (cluster-cidr)
            "operator": {"replicas": 1},
        }
        if plan.network.encryption:
            values["encryption"] = {"enabled": True, "type": "wireguard"}
        return Addon("cilium", (_helm_chart("cilium", "https://helm.cilium.io", "cilium", "kube-system", values, bootstrap=True),))
    if cni == "calico":
        values = {
            "installation": {
                "cni": {"type": "Calico"},
                "calicoNetwork": {
                    "bgp": "Disabled",
                    "ipPools": [{"cidr": plan.network.pod_cidr, "encapsulation": "VXLAN", "natOutgoing": "Enabled"}],
                },
            }
        }
        return Addon(
            "calico",
            (_helm_chart("tigera-operator", "https://docs.tigera.io/calico/charts", "tigera-operator", "tigera-operator",
                         values, bootstrap=True),),
        )
    return None


def addon_list(plan: ClusterPlan) -> list[Addon]:
    """Every add-on the plan asks for, CNI first (nodes are not Ready without it), then the cloud
    controller (it initialises nodes), then storage, ingress and upgrades."""
    addons: list[Addon] = []
    cni = cni_addon(plan)
    if cni is not None:
        addons.append(cni)
    if plan.addons.cloud_controller:
        values = {
            # The networks variant: routes pod traffic over the private network, so the CCM needs the
            # pod CIDR; it reads the token and network from the `hcloud` Secret.
            "networking": {"enabled": True, "clusterCIDR": plan.network.pod_cidr},
        }
        addons.append(Addon(
            "hcloud-cloud-controller-manager",
            (_helm_chart("hcloud-cloud-controller-manager", HETZNER_CHARTS, "hcloud-cloud-controller-manager",
                         "kube-system", values, bootstrap=True),),
        ))
    if plan.storage.hcloud_csi:
        addons.append(Addon(
            "hcloud-csi",
            (_helm_chart("hcloud-csi", HETZNER_CHARTS, "hcloud-csi", "kube-system",
                         {"storageClasses": [{"name": "hcloud-volumes", "defaultStorageClass": not plan.storage.longhorn,
                                              "reclaimPolicy": "Delete"}]}),),
        ))
    if plan.storage.longhorn:
        addons.append(Addon(
            "longhorn",
            (_helm_chart("longhorn", "https://charts.longhorn.io", "longhorn", "longhorn-system",
                         {"persistence": {"defaultClass": True}}),),
        ))
    if plan.addons.ingress == "nginx":
        service: dict = {"type": "LoadBalancer"}
        if plan.addons.service_load_balancer == "hetzner":
            service["annotations"] = {
                "load-balancer.hetzner.cloud/name": f"{plan.name}-ingress",
                "load-balancer.hetzner.cloud/location": plan.hcloud.location,
                "load-balancer.hetzner.cloud/use-private-ip": "true",
            }
        addons.append(Addon(
            "ingress-nginx",
            (_helm_chart("ingress-nginx", "https://kubernetes.github.io/ingress-nginx", "ingress-nginx", "ingress-nginx",
                         {"controller": {"kind": "DaemonSet", "service": service}}),),
        ))
    if plan.addons.system_upgrade_controller:
        addons.append(system_upgrade_controller())
    return addons


def system_upgrade_controller() -> Addon:
    """Rancher's system-upgrade-controller, as its release manifest lays it out (namespace, account,
    binding, deployment). A real install also applies the project's `crd.yaml` for `Plan` objects."""
    ns = "system-upgrade"
    labels = {"app.kubernetes.io/name": "system-upgrade-controller", "app.kubernetes.io/managed-by": "khz-tui"}
    return Addon("system-upgrade-controller", (
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns, "labels": labels}},
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "system-upgrade", "namespace": ns}},
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": "system-upgrade"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
            "subjects": [{"kind": "ServiceAccount", "name": "system-upgrade", "namespace": ns}],
        },
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "system-upgrade-controller", "namespace": ns, "labels": labels},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": {"app.kubernetes.io/name": "system-upgrade-controller"}},
                "template": {
                    "metadata": {"labels": {"app.kubernetes.io/name": "system-upgrade-controller"}},
                    "spec": {
                        "serviceAccountName": "system-upgrade",
                        "nodeSelector": {"node-role.kubernetes.io/control-plane": "true"},
                        "tolerations": [{"key": "node-role.kubernetes.io/control-plane", "operator": "Exists",
                                         "effect": "NoSchedule"}],
                        "containers": [{
                            "name": "system-upgrade-controller",
                            "image": SYSTEM_UPGRADE_CONTROLLER_IMAGE,
                            "env": [{"name": "SYSTEM_UPGRADE_CONTROLLER_NAMESPACE", "value": ns}],
                        }],
                    },
                },
            },
        },
    ))
