"""Add-on manifests: what each plan choice installs, in which order, and that the token stays out."""

from __future__ import annotations

import yaml

from khz_tui.engine.nodes.addons import addon_list, cni_addon, hcloud_secret
from khz_tui.plan.model import ClusterPlan


def names(plan):
    return [a.name for a in addon_list(plan)]


def docs(addon):
    return list(yaml.safe_load_all(addon.manifest()))


def test_default_plan_installs_ccm_and_csi():
    plan = ClusterPlan(name="demo")
    assert names(plan) == ["hcloud-cloud-controller-manager", "hcloud-csi"]
    (ccm,) = docs(addon_list(plan)[0])
    assert ccm["apiVersion"] == "helm.cattle.io/v1" and ccm["kind"] == "HelmChart"
    assert ccm["metadata"] == {"name": "hcloud-cloud-controller-manager", "namespace": "kube-system",
                               "labels": {"app.kubernetes.io/managed-by": "khz-tui"}}
    assert ccm["spec"]["bootstrap"] is True
    values = yaml.safe_load(ccm["spec"]["valuesContent"])
    assert values["networking"] == {"enabled": True, "clusterCIDR": "10.42.0.0/16"}


def test_everything_chosen_installs_in_dependency_order():
    plan = ClusterPlan(
        name="demo",
        network={"cni": "cilium", "encryption": True, "pod_cidr": "10.100.0.0/16"},
        storage={"longhorn": True},
        addons={"ingress": "nginx", "system_upgrade_controller": True},
    )
    assert names(plan) == ["cilium", "hcloud-cloud-controller-manager", "hcloud-csi", "longhorn", "ingress-nginx",
                           "system-upgrade-controller"]
    cilium = docs(cni_addon(plan))[0]
    assert yaml.safe_load(cilium["spec"]["valuesContent"])["encryption"] == {"enabled": True, "type": "wireguard"}
    ccm = docs(addon_list(plan)[1])[0]
    assert yaml.safe_load(ccm["spec"]["valuesContent"])["networking"]["clusterCIDR"] == "10.100.0.0/16"
    suc = docs(addon_list(plan)[-1])
    assert suc[0]["kind"] == "CustomResourceDefinition"  # the controller's Plan CRD comes with it
    assert {"Namespace", "ServiceAccount", "ClusterRoleBinding", "Deployment"} <= {d["kind"] for d in suc}
    for addon in addon_list(plan):
        for doc in docs(addon):
            assert doc["apiVersion"] and doc["kind"] and doc["metadata"]["name"]


def test_calico_pool_uses_the_pod_cidr():
    plan = ClusterPlan(name="demo", network={"cni": "calico"})
    chart = docs(cni_addon(plan))[0]
    values = yaml.safe_load(chart["spec"]["valuesContent"])
    assert values["installation"]["calicoNetwork"]["ipPools"][0]["cidr"] == "10.42.0.0/16"
    assert cni_addon(ClusterPlan(name="demo")) is None


def test_nothing_optional_installs_nothing():
    plan = ClusterPlan(name="demo", addons={"cloud_controller": False}, storage={"hcloud_csi": False})
    assert names(plan) == []


def test_hcloud_secret_shape():
    secret = yaml.safe_load(hcloud_secret("tok" * 20, "demo-net"))
    assert secret["kind"] == "Secret" and secret["metadata"]["name"] == "hcloud"
    assert secret["metadata"]["namespace"] == "kube-system"
    assert secret["stringData"] == {"token": "tok" * 20, "network": "demo-net"}
    # The token only ever lives in the secret itself, never in the chart manifests.
    everything = "".join(a.manifest() for a in addon_list(ClusterPlan(name="demo")))
    assert "tok" * 20 not in everything
