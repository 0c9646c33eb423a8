"""Each node's /etc/rancher/k3s/config.yaml and the installer command line.

The config file holds every flag (same names as the k3s command line, in YAML), including the join
token: the file is written over SFTP with mode 0600 before the installer runs, so the token never
appears on a command line, in a process listing or in an event. The installer line itself carries no
secret. docs/k3s-config.md explains each key.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from typing import Literal

import yaml

from khz_tui.engine.cloud.names import CONTROL_PLANE_POOL, POOL_LABEL
from khz_tui.plan.model import ClusterPlan

CONFIG_PATH = "/etc/rancher/k3s/config.yaml"
INSTALLER_URL = "https://get.k3s.io"
CONTROL_PLANE_TAINT = "node-role.kubernetes.io/control-plane:NoSchedule"
API_PORT = 6443
#: Prints the installed release: `k3s version v1.33.6+k3s1 (<commit>)`.
VERSION_COMMAND = "k3s --version"
_INSTALLED_VERSION = re.compile(r"^k3s version (v\d+\.\d+\.\d+(?:-rc\d+)?\+k3s\d+)\b", re.MULTILINE)

#: Flags k3s accepts more than once: user args for these are added to ours, not replacing them.
LIST_FLAGS = frozenset(
    {
        "tls-san", "node-label", "node-taint", "disable", "kubelet-arg", "kube-apiserver-arg",
        "kube-controller-manager-arg", "kube-scheduler-arg", "kube-proxy-arg", "kube-cloud-controller-manager-arg",
        "etcd-arg",
    }
)
#: Written by the engine from the plan: a user arg that sets one of these would split the source of truth.
_ENGINE_SCALARS = frozenset({"token", "server", "cluster-init", "node-name"})


@dataclass(frozen=True)
class NodeFacts:
    """What the engine knows about one node once its server exists."""

    name: str
    role: Literal["control-plane", "worker"]
    pool: str
    server_id: int | str
    """The Hetzner server id (`render` writes a placeholder for a server not created yet)."""
    public_ipv4: str | None
    private_ip: str
    location: str
    server_type: str


def parse_extra_args(args: list[str]) -> list[tuple[str, str | bool]]:
    """Turn `--flag=value`, `--flag value` and `--flag` entries into (flag, value) pairs."""
    pairs: list[tuple[str, str | bool]] = []
    for raw in args:
        text = raw.strip()
        if not text.startswith("-"):
            raise ValueError(f"k3s argument {raw!r} must start with -- (e.g. --etcd-snapshot-retention=10)")
        text = text.lstrip("-")
        value: str | bool
        if "=" in text:
            name, value = text.split("=", 1)
        elif " " in text:
            name, value = text.split(None, 1)
        else:
            name, value = text, True
        if not name:
            raise ValueError(f"k3s argument {raw!r} has no flag name")
        pairs.append((name, value))
    return pairs


def _add(config: dict[str, object], key: str, value: str | bool) -> None:
    current = config.get(key)
    if key not in LIST_FLAGS:
        config[key] = value
    elif not isinstance(current, list):
        config[key] = [value]  # the engine sets these flags only as lists: nothing is overwritten
    elif value not in current:
        current.append(value)


def cp_tainted(plan: ClusterPlan) -> bool:
    """Whether control planes carry the NoSchedule taint: not when workloads are allowed on them,
    and never on a single-node cluster (nothing else could run the workloads)."""
    return not (plan.control_plane.allow_workloads or plan.server_count() == 1)


def disabled_components(plan: ClusterPlan) -> list[str]:
    """Packaged k3s components to turn off: the plan's list, plus servicelb when Hetzner load
    balancers serve LoadBalancer Services, plus traefik when another (or no) ingress is chosen, plus
    local-storage when the CSI driver or Longhorn brings a default StorageClass (k3s' local-path
    class is marked default too, and with two defaults a PVC without a class lands on either)."""
    out: list[str] = []
    for name in plan.k3s.disable:
        if name not in out:
            out.append(name)
    if plan.addons.service_load_balancer == "hetzner" and "servicelb" not in out:
        out.append("servicelb")
    if plan.addons.ingress != "traefik" and "traefik" not in out:
        out.append("traefik")
    if (plan.storage.hcloud_csi or plan.storage.longhorn) and "local-storage" not in out:
        out.append("local-storage")
    return out


def join_url(lb_private: str | None, seed_private: str) -> str:
    """Where joining nodes reach the cluster: the API load balancer's private address when there is
    one (any healthy control plane answers, not only the seed), else the seed's private address."""
    return f"https://{lb_private or seed_private}:{API_PORT}"


def tls_sans(lb_public: str | None, lb_private: str | None, control_planes: list[tuple[str | None, str | None]]) -> list[str]:
    """The names the API's certificate must carry: both addresses of the load balancer and of every
    control plane (public, private), each once, in that order."""
    sans = [a for a in (lb_public, lb_private) if a]
    for public, private in control_planes:
        sans += [a for a in (public, private) if a]
    return list(dict.fromkeys(sans))


def parse_installed_version(output: str) -> str | None:
    """The release from `k3s --version` output, or None when it names none."""
    match = _INSTALLED_VERSION.search(output)
    return match.group(1) if match else None


def pin_version(plan: ClusterPlan, version: str) -> ClusterPlan:
    """The plan with k3s pinned to `version` (its channel dropped): what every join installs once the
    cluster's version is known, so a channel that moved on meanwhile cannot give a later node a
    newer k3s than the cluster runs."""
    return plan.model_copy(update={"k3s": plan.k3s.model_copy(update={"version": version, "channel": None})})


def node_labels(plan: ClusterPlan, node: NodeFacts) -> list[str]:
    """`key=value` labels for the node: its pool's labels and the khz-tui pool label."""
    labels: dict[str, str] = {}
    if node.role == "worker":
        pool = plan.pool(node.pool)
        if pool is not None:
            labels.update(pool.labels)
    labels[POOL_LABEL] = node.pool if node.role == "worker" else CONTROL_PLANE_POOL
    return [f"{k}={v}" for k, v in labels.items()]


def node_taints(plan: ClusterPlan, node: NodeFacts) -> list[str]:
    """Taints for the node: its pool's, or the control-plane taint unless workloads are allowed."""
    if node.role == "control-plane":
        return [CONTROL_PLANE_TAINT] if cp_tainted(plan) else []
    pool = plan.pool(node.pool)
    return list(pool.taints) if pool is not None else []


def render_k3s_config(
    plan: ClusterPlan,
    node: NodeFacts,
    *,
    first: bool,
    join_url: str | None,
    tls_sans: list[str],
    private_iface: str = "enp7s0",
    token: str | None = None,
) -> str:
    """The YAML of /etc/rancher/k3s/config.yaml for `node`.

    `first` marks the server that starts etcd (`cluster-init`); every other node needs `join_url`
    (https://<first server or API LB private IP>:6443). `token` is the cluster join token: it belongs
    in this file only, which must be written with mode 0600 and never shown."""
    is_server = node.role == "control-plane"
    if not first and not join_url:
        raise ValueError(f"{node.name} joins an existing cluster: give join_url")
    if first and not is_server:
        raise ValueError(f"{node.name} is a worker; only a control plane can start the cluster")
    config: dict[str, object] = {}
    if is_server and first:
        config["cluster-init"] = True
    else:
        config["server"] = join_url
    if token is not None:
        config["token"] = token
    config["node-name"] = node.name
    # Kubernetes traffic stays on the private network; the public address is only announced.
    config["node-ip"] = node.private_ip
    if is_server:
        config["advertise-address"] = node.private_ip
    if node.public_ipv4:
        config["node-external-ip"] = node.public_ipv4
    if plan.network.cni == "flannel":
        config["flannel-iface"] = private_iface
    kubelet_args: list[str] = []
    if plan.addons.cloud_controller:
        # The Hetzner cloud controller manager initialises nodes (addresses, provider ID, routes).
        kubelet_args += ["cloud-provider=external", f"provider-id=hcloud://{node.server_id}"]
    if kubelet_args:
        config["kubelet-arg"] = kubelet_args
    if is_server:
        if plan.addons.cloud_controller:
            config["disable-cloud-controller"] = True
        if plan.network.cni in ("cilium", "calico"):
            config["flannel-backend"] = "none"
            config["disable-network-policy"] = True
        elif plan.network.encryption:
            config["flannel-backend"] = "wireguard-native"
        config["cluster-cidr"] = plan.network.pod_cidr
        config["service-cidr"] = plan.network.service_cidr
        sans: list[str] = []
        for san in tls_sans:
            if san and san not in sans:
                sans.append(san)
        if sans:
            config["tls-san"] = sans
        disabled = disabled_components(plan)
        if disabled:
            config["disable"] = disabled
        # The API token lives in the `hcloud` Secret: keep Secrets encrypted in etcd (and in its
        # snapshots). Every server of a cluster must agree on it, so all get it from the start.
        config["secrets-encryption"] = True
    labels = node_labels(plan, node)
    if labels:
        config["node-label"] = labels
    taints = node_taints(plan, node)
    if taints:
        config["node-taint"] = taints
    extra = plan.k3s.server_args if is_server else plan.k3s.agent_args
    for name, value in parse_extra_args(extra):
        if name in _ENGINE_SCALARS:
            raise ValueError(f"k3s argument --{name} is set by khz-tui from the plan; remove it from the extra args")
        _add(config, name, value)
    return yaml.safe_dump(config, sort_keys=False, default_flow_style=False)


def installer_command(plan: ClusterPlan, role: str) -> tuple[str, dict[str, str]]:
    """The official installer line for `role` (control-plane/server or worker/agent) and the secret
    environment it needs. The token lives in config.yaml, so the secret environment is always empty
    and the line is safe to log."""
    if role in ("control-plane", "server"):
        exec_role = "server"
    elif role in ("worker", "agent"):
        exec_role = "agent"
    else:
        raise ValueError(f"unknown k3s role {role!r}: use control-plane or worker")
    env: list[str] = []
    if plan.k3s.version:
        env.append(f"INSTALL_K3S_VERSION={shlex.quote(plan.k3s.version)}")
    else:
        env.append(f"INSTALL_K3S_CHANNEL={shlex.quote(plan.k3s.channel or 'stable')}")
    return f"curl -sfL {INSTALLER_URL} | {' '.join(env)} sh -s - {exec_role}", {}
