"""Per-node k3s config.yaml and the installer line, for each role, CNI, encryption and taint rule."""

from __future__ import annotations

import pytest
import yaml

from khz_tui.engine.nodes.k3s_config import (
    CONTROL_PLANE_TAINT,
    NodeFacts,
    installer_command,
    parse_extra_args,
    render_k3s_config,
)
from khz_tui.plan.model import ClusterPlan

CP1 = NodeFacts("demo-cp-1", "control-plane", "control-plane", 11, "203.0.113.10", "10.0.1.2", "fsn1", "cpx22")
CP2 = NodeFacts("demo-cp-2", "control-plane", "control-plane", 12, "203.0.113.11", "10.0.1.3", "nbg1", "cpx22")
W1 = NodeFacts("demo-default-1", "worker", "default", 21, None, "10.0.1.10", "fsn1", "cpx32")
JOIN = "https://10.0.1.100:6443"


def render(plan, node, **kw):
    kw.setdefault("first", node is CP1)
    kw.setdefault("join_url", None if node is CP1 else JOIN)
    kw.setdefault("tls_sans", ["198.51.100.7", "10.0.1.100", "10.0.1.2"])
    return yaml.safe_load(render_k3s_config(plan, node, **kw))


def test_first_server_defaults():
    cfg = render(ClusterPlan(name="demo"), CP1, token="K10secret::server:abc")
    assert cfg["cluster-init"] is True and "server" not in cfg
    assert cfg["token"] == "K10secret::server:abc"
    assert cfg["node-name"] == "demo-cp-1"
    assert cfg["node-ip"] == cfg["advertise-address"] == "10.0.1.2"
    assert cfg["node-external-ip"] == "203.0.113.10"
    assert cfg["flannel-iface"] == "enp7s0"
    assert cfg["disable-cloud-controller"] is True
    assert cfg["kubelet-arg"] == ["cloud-provider=external", "provider-id=hcloud://11"]
    assert cfg["cluster-cidr"] == "10.42.0.0/16" and cfg["service-cidr"] == "10.43.0.0/16"
    assert cfg["tls-san"] == ["198.51.100.7", "10.0.1.100", "10.0.1.2"]
    # Hetzner LBs serve LoadBalancer Services; traefik stays; the CSI driver's class is the default.
    assert cfg["disable"] == ["servicelb", "local-storage"]
    assert cfg["secrets-encryption"] is True
    assert cfg["node-taint"] == [CONTROL_PLANE_TAINT]
    assert cfg["node-label"] == ["khz-tui.io/pool=control-plane"]
    assert "flannel-backend" not in cfg


def test_joining_server_points_at_the_join_url_without_cluster_init():
    cfg = render(ClusterPlan(name="demo"), CP2, private_iface="eth1")
    assert cfg["server"] == JOIN and "cluster-init" not in cfg
    assert cfg["flannel-iface"] == "eth1"
    assert "token" not in cfg  # only when given


def test_agent_has_only_agent_flags():
    plan = ClusterPlan(
        name="demo",
        worker_pools=[{"name": "default", "labels": {"tier": "web"}, "taints": ["dedicated=web:NoSchedule"]}],
    )
    cfg = render(plan, W1, token="t0ken-value")
    assert cfg["server"] == JOIN and cfg["token"] == "t0ken-value"
    assert cfg["node-ip"] == "10.0.1.10"
    assert "node-external-ip" not in cfg  # no public IPv4
    for server_only in ("advertise-address", "cluster-cidr", "service-cidr", "tls-san", "disable",
                        "disable-cloud-controller", "cluster-init", "flannel-backend"):
        assert server_only not in cfg
    assert cfg["node-label"] == ["tier=web", "khz-tui.io/pool=default"]
    assert cfg["node-taint"] == ["dedicated=web:NoSchedule"]
    assert cfg["kubelet-arg"] == ["cloud-provider=external", "provider-id=hcloud://21"]


@pytest.mark.parametrize("cni", ["cilium", "calico"])
def test_cilium_and_calico_replace_flannel(cni):
    cfg = render(ClusterPlan(name="demo", network={"cni": cni, "encryption": True}), CP1)
    assert cfg["flannel-backend"] == "none" and cfg["disable-network-policy"] is True
    assert "flannel-iface" not in cfg


def test_flannel_encryption_uses_wireguard_native():
    cfg = render(ClusterPlan(name="demo", network={"encryption": True}), CP1)
    assert cfg["flannel-backend"] == "wireguard-native"
    assert "disable-network-policy" not in cfg


def test_workloads_on_control_planes_and_single_node_are_untainted():
    assert "node-taint" not in render(ClusterPlan(name="demo", control_plane={"allow_workloads": True}), CP1)
    single = ClusterPlan(name="demo", control_plane={"count": 1}, worker_pools=[])
    assert "node-taint" not in render(single, CP1)
    one_cp_with_workers = ClusterPlan(name="demo", control_plane={"count": 1})
    assert render(one_cp_with_workers, CP1)["node-taint"] == [CONTROL_PLANE_TAINT]


def test_disable_list_follows_addons():
    plan = ClusterPlan(
        name="demo",
        k3s={"disable": ["metrics-server", "servicelb"]},
        addons={"ingress": "nginx", "service_load_balancer": "klipper", "cloud_controller": False},
    )
    cfg = render(plan, CP1)
    assert cfg["disable"] == ["metrics-server", "servicelb", "traefik", "local-storage"]
    assert "disable-cloud-controller" not in cfg and "kubelet-arg" not in cfg
    klipper = render(ClusterPlan(name="demo", addons={"service_load_balancer": "klipper"},
                                 storage={"hcloud_csi": False}), CP1)
    assert "disable" not in klipper


def test_extra_args_are_merged():
    plan = ClusterPlan(
        name="demo",
        k3s={
            "server_args": ["--etcd-snapshot-retention=10", "--kubelet-arg=max-pods=200", "--secrets-encryption",
                            "--tls-san extra.example.com"],
            "agent_args": ["--kubelet-arg=max-pods=150"],
        },
    )
    cfg = render(plan, CP1)
    assert cfg["etcd-snapshot-retention"] == "10"
    assert cfg["secrets-encryption"] is True
    assert cfg["kubelet-arg"][-1] == "max-pods=200" and "cloud-provider=external" in cfg["kubelet-arg"]
    assert cfg["tls-san"][-1] == "extra.example.com"
    assert render(plan, W1)["kubelet-arg"][-1] == "max-pods=150"


def test_extra_args_cannot_override_engine_owned_flags():
    with pytest.raises(ValueError, match="--token"):
        render(ClusterPlan(name="demo", k3s={"server_args": ["--token=abc"]}), CP1)
    with pytest.raises(ValueError):
        parse_extra_args(["no-dashes"])


def test_joining_needs_a_join_url_and_workers_cannot_start_a_cluster():
    with pytest.raises(ValueError):
        render(ClusterPlan(name="demo"), CP2, join_url=None)
    with pytest.raises(ValueError):
        render(ClusterPlan(name="demo"), W1, first=True)


def test_installer_command_carries_no_secret():
    plan = ClusterPlan(name="demo")
    command, env = installer_command(plan, "control-plane")
    assert command == "curl -sfL https://get.k3s.io | INSTALL_K3S_VERSION=v1.33.6+k3s1 sh -s - server"
    assert env == {}
    agent, _ = installer_command(ClusterPlan(name="demo", k3s={"channel": "stable"}), "worker")
    assert agent == "curl -sfL https://get.k3s.io | INSTALL_K3S_CHANNEL=stable sh -s - agent"
    assert "TOKEN" not in command + agent
    with pytest.raises(ValueError):
        installer_command(plan, "boss")
