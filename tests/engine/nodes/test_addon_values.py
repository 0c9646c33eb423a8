"""The values khz-tui gives each add-on, checked against what the upstream projects document.

Each test names the finding of issue 9 it covers and fails on the values khz-tui used before:
Calico's node address autodetection, the cloud controller's load balancer and route settings,
pinned chart versions, the system-upgrade-controller CRD, Cilium's MTU, Longhorn's host
prerequisites, local-storage beside a default class, secrets encryption, and joins pinned to
the version the cluster runs.
"""

from __future__ import annotations

import pytest
import yaml

from khz_tui.engine.cluster_files import ClusterFiles, HostKey
from khz_tui.engine.nodes.addons import (
    CHARTS,
    HETZNER_PRIVATE_MTU,
    SYSTEM_UPGRADE_CONTROLLER_IMAGE,
    addon_list,
    calico_values,
    ccm_env,
    cilium_values,
    cni_addon,
    service_lb_type,
    system_upgrade_controller,
)
from khz_tui.engine.nodes.cloud_init import MULTIPATH_CONF_FILE, render_user_data
from khz_tui.engine.nodes.k3s_config import (
    NodeFacts,
    disabled_components,
    installer_command,
    join_url,
    parse_installed_version,
    pin_version,
    render_k3s_config,
    tls_sans,
)
from khz_tui.plan.model import ClusterPlan

CP1 = NodeFacts("demo-cp-1", "control-plane", "control-plane", 11, "203.0.113.10", "10.0.1.2", "fsn1", "cpx22")


def values(doc: dict) -> dict:
    return yaml.safe_load(doc["spec"]["valuesContent"])


def every_plan() -> list[ClusterPlan]:
    return [
        ClusterPlan(name="demo"),
        ClusterPlan(name="demo", network={"cni": "cilium", "encryption": True}, storage={"longhorn": True},
                    addons={"ingress": "nginx", "system_upgrade_controller": True}),
        ClusterPlan(name="demo", network={"cni": "calico"}, addons={"service_load_balancer": "klipper"}),
    ]


# -- finding 1: Calico tunnels between private addresses ------------------------------------------


def test_calico_finds_node_addresses_from_the_nodes_internal_ip():
    # tigera-operator's default is firstFound (eth0, the public address), which the firewall filters.
    network = calico_values(ClusterPlan(name="demo", network={"cni": "calico"}))["installation"]["calicoNetwork"]
    assert network["nodeAddressAutodetectionV4"] == {"kubernetes": "NodeInternalIP"}
    chart = cni_addon(ClusterPlan(name="demo", network={"cni": "calico"})).documents[0]
    assert values(chart)["installation"]["calicoNetwork"]["nodeAddressAutodetectionV4"] == {"kubernetes": "NodeInternalIP"}


# -- finding 3: the cloud controller can make load balancers ----------------------------------------


def test_ccm_knows_where_to_make_load_balancers_and_targets_private_ips():
    env = ccm_env(ClusterPlan(name="demo", hcloud={"location": "nbg1"}))
    assert env["HCLOUD_LOAD_BALANCERS_LOCATION"] == "nbg1"
    assert "HCLOUD_LOAD_BALANCERS_NETWORK_ZONE" not in env  # mutually exclusive with the location
    assert env["HCLOUD_LOAD_BALANCERS_USE_PRIVATE_IP"] == "true"
    assert "HCLOUD_LOAD_BALANCERS_ENABLED" not in env
    (chart,) = next(a for a in addon_list(ClusterPlan(name="demo")) if a.name == "hcloud-cloud-controller-manager").documents
    # The chart's `env` map form: NAME: {value: ...}, merged with the chart's own HCLOUD_TOKEN entry.
    assert values(chart)["env"]["HCLOUD_LOAD_BALANCERS_LOCATION"] == {"value": "fsn1"}
    assert values(chart)["env"]["HCLOUD_LOAD_BALANCERS_USE_PRIVATE_IP"] == {"value": "true"}


def test_csi_volumes_carry_the_clusters_label():
    """The CSI driver's volumes get the cluster label (chart value `controller.volumeExtraLabels`, csi-driver
    docs "volume-labels"), so destroy can prove a detached `pvc-...` volume belongs to this cluster."""
    (chart,) = next(a for a in addon_list(ClusterPlan(name="demo")) if a.name == "hcloud-csi").documents
    assert values(chart)["controller"]["volumeExtraLabels"] == {"khz-tui.io/cluster": "demo"}


def test_with_klipper_the_ccm_leaves_services_alone():
    env = ccm_env(ClusterPlan(name="demo", addons={"service_load_balancer": "klipper"}))
    assert env["HCLOUD_LOAD_BALANCERS_ENABLED"] == "false"
    assert "HCLOUD_LOAD_BALANCERS_LOCATION" not in env


@pytest.mark.parametrize(("workers", "expected"), [(2, "lb11"), (22, "lb11"), (23, "lb21"), (40, "lb21"), (80, "lb31")])
def test_service_load_balancer_type_holds_every_node(workers, expected):
    # lb11 holds 25 targets, lb21 75, lb31 150; the CCM makes every node a target.
    plan = ClusterPlan(name="demo", worker_pools=[{"name": "w", "count": workers}],
                       network={"subnet": "10.0.0.0/22"})
    assert service_lb_type(plan) == expected
    assert ccm_env(plan)["HCLOUD_LOAD_BALANCERS_TYPE"] == expected


def test_service_load_balancer_type_counts_the_autoscaling_maximum():
    plan = ClusterPlan(name="demo", worker_pools=[{"name": "w", "count": 2, "autoscaling": {"min": 1, "max": 30}}])
    assert service_lb_type(plan) == "lb21"


def test_routes_are_off_for_overlay_networks():
    for cni in ("flannel", "cilium", "calico"):
        assert ccm_env(ClusterPlan(name="demo", network={"cni": cni}))["HCLOUD_NETWORK_ROUTES_ENABLED"] == "false"


# -- finding 8: system-upgrade-controller with its CRD -----------------------------------------------


def test_system_upgrade_controller_brings_its_plan_crd_from_the_pinned_release():
    docs = list(system_upgrade_controller().documents)
    crd = docs[0]
    assert crd["kind"] == "CustomResourceDefinition" and crd["metadata"]["name"] == "plans.upgrade.cattle.io"
    assert crd["spec"]["group"] == "upgrade.cattle.io" and crd["spec"]["names"]["kind"] == "Plan"
    (deployment,) = [d for d in docs if d["kind"] == "Deployment"]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["image"] == SYSTEM_UPGRADE_CONTROLLER_IMAGE == "rancher/system-upgrade-controller:v0.20.1"
    # Everything of the controller lives in its namespace.
    for doc in docs:
        if doc["kind"] in ("ServiceAccount", "ConfigMap", "Deployment", "Role", "RoleBinding"):
            assert doc["metadata"]["namespace"] == "system-upgrade"
        for subject in doc.get("subjects") or []:
            assert subject["namespace"] == "system-upgrade"
    # The bundled copy is not changed by building the add-on.
    assert system_upgrade_controller().documents == system_upgrade_controller().documents


# -- finding 9: every chart pinned -------------------------------------------------------------------


def test_every_helm_chart_has_a_version_from_the_one_table():
    seen = set()
    for plan in every_plan():
        for addon in addon_list(plan):
            for doc in addon.documents:
                if doc["kind"] != "HelmChart":
                    continue
                spec = doc["spec"]
                chart = CHARTS[doc["metadata"]["name"]]
                assert spec["version"] == chart.version and spec["chart"] == chart.chart and spec["repo"] == chart.repo
                seen.add(doc["metadata"]["name"])
    assert seen == set(CHARTS)


# -- minor findings ----------------------------------------------------------------------------------


def test_cilium_mtu_is_the_private_interface_with_or_without_wireguard():
    # Cilium subtracts its own VXLAN and WireGuard overhead from the device's MTU it is given.
    for encryption in (False, True):
        plan = ClusterPlan(name="demo", network={"cni": "cilium", "encryption": encryption})
        assert cilium_values(plan)["MTU"] == HETZNER_PRIVATE_MTU == 1450


def test_local_storage_is_off_beside_a_default_class():
    assert "local-storage" in disabled_components(ClusterPlan(name="demo"))  # the CSI driver's class
    assert "local-storage" in disabled_components(ClusterPlan(name="demo", storage={"hcloud_csi": False, "longhorn": True}))
    none = ClusterPlan(name="demo", storage={"hcloud_csi": False})
    assert "local-storage" not in disabled_components(none)  # the only class left is k3s' own


def test_servers_encrypt_secrets_agents_do_not_carry_the_flag():
    server = yaml.safe_load(render_k3s_config(ClusterPlan(name="demo"), CP1, first=True, join_url=None, tls_sans=[]))
    assert server["secrets-encryption"] is True
    worker = NodeFacts("demo-default-1", "worker", "default", 21, None, "10.0.1.10", "fsn1", "cpx32")
    agent = yaml.safe_load(render_k3s_config(ClusterPlan(name="demo"), worker, first=False,
                                             join_url="https://10.0.1.5:6443", tls_sans=[]))
    assert "secrets-encryption" not in agent  # a server flag: k3s agent refuses it


def test_joins_go_through_the_api_load_balancer_when_there_is_one():
    assert join_url("10.0.1.5", "10.0.1.2") == "https://10.0.1.5:6443"
    assert join_url(None, "10.0.1.2") == "https://10.0.1.2:6443"
    assert tls_sans("198.51.100.7", "10.0.1.5", [("203.0.113.10", "10.0.1.2"), (None, "10.0.1.2")]) == [
        "198.51.100.7", "10.0.1.5", "203.0.113.10", "10.0.1.2"]


# -- finding 2: Longhorn's host prerequisites --------------------------------------------------------


def test_longhorn_nodes_get_iscsi_nfs_and_multipath_kept_off():
    data = yaml.safe_load(render_user_data(ClusterPlan(name="demo", storage={"longhorn": True}), "demo-cp-1",
                                           HostKey.generate()))
    assert {"open-iscsi", "nfs-common"} <= set(data["packages"])
    assert "systemctl enable --now iscsid" in data["runcmd"]
    (multipath,) = [f for f in data["write_files"] if f["path"] == MULTIPATH_CONF_FILE]
    assert 'devnode "^sd[a-z0-9]+"' in multipath["content"]
    plain = yaml.safe_load(render_user_data(ClusterPlan(name="demo"), "demo-cp-1", HostKey.generate()))
    assert "packages" not in plain and "runcmd" not in plain


# -- finding 7: a channel resolved once -------------------------------------------------------------


def test_the_installed_version_is_read_from_k3s_itself():
    assert parse_installed_version("k3s version v1.33.6+k3s1 (5b2ab1b5)\ngo version go1.24.9\n") == "v1.33.6+k3s1"
    assert parse_installed_version("k3s version v1.35.0-rc1+k3s1 (abc)\n") == "v1.35.0-rc1+k3s1"
    assert parse_installed_version("command not found") is None


def test_joins_of_a_channel_plan_install_exactly_the_clusters_version():
    plan = ClusterPlan(name="demo", k3s={"channel": "stable"})
    assert "INSTALL_K3S_CHANNEL=stable" in installer_command(plan, "worker")[0]
    pinned = pin_version(plan, "v1.33.6+k3s1")
    line, _ = installer_command(pinned, "worker")
    assert "INSTALL_K3S_VERSION=v1.33.6+k3s1" in line and "CHANNEL" not in line
    assert plan.k3s.channel == "stable"  # the person's plan is left as it is


def test_the_clusters_k3s_version_is_recorded_locally(tmp_path):
    state = ClusterFiles("demo", base=tmp_path)
    assert state.pinned_k3s_version() is None
    state.record_k3s_version("v1.33.6+k3s1")
    assert state.pinned_k3s_version() == "v1.33.6+k3s1"
    assert (state.k3s_version_path.stat().st_mode & 0o777) == 0o600
    with pytest.raises(ValueError):
        state.record_k3s_version("stable")
