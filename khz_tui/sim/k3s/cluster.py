"""The state of one simulated k3s cluster: its token, nodes, applied objects and add-ons."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Protocol

from khz_tui.sim.k3s.kubeconfig import ClusterCertificates

NOT_READY_NETWORK = ("container runtime network not ready: NetworkReady=false "
                     "reason:NetworkPluginNotReady message:Network plugin returns error: "
                     "cni plugin not initialized")
UNINITIALIZED_TAINT = "node.cloudprovider.kubernetes.io/uninitialized"

# Substrings of object names (or HelmChart charts) that identify an add-on.
_ADDON_MARKERS = {
    "hcloud-ccm": ("hcloud-cloud-controller-manager",),
    "hcloud-csi": ("hcloud-csi",),
    "cilium": ("cilium",),
    "calico": ("calico", "tigera-operator"),
    "longhorn": ("longhorn",),
    "ingress-nginx": ("ingress-nginx",),
    "system-upgrade-controller": ("system-upgrade-controller",),
    "cert-manager": ("cert-manager",),
}


EVENT_LIMIT = 200
"""Events kept per cluster (the oldest go first, as the API server's TTL would drop them)."""


class MachineFacts(Protocol):
    """What in-cluster controllers may ask about the machine under a node (set by the k3s service)."""

    def services(self, server_id: int) -> dict[str, str]:
        """systemd unit -> active state on that machine (empty when it is gone)."""

    def has_file(self, server_id: int, path: str) -> bool:
        """Whether a file exists on that machine."""


def _now() -> float:
    return asyncio.get_running_loop().time()


def _iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class ClusterNode:
    """A Kubernetes Node: one k3s server or agent process on one machine."""

    name: str
    server_id: int
    role: str
    """server or agent."""
    internal_ip: str
    external_ip: str | None
    labels: dict[str, str] = field(default_factory=dict)
    taints: list[dict[str, str]] = field(default_factory=list)
    network_ok: bool = True
    """False when node-ip or flannel-iface name something the machine does not have."""
    external_cloud_provider: bool = False
    running: bool = True
    ready_at: float = 0.0
    unschedulable: bool = False
    version: str = ""
    created: float = field(default_factory=lambda: dt.datetime.now(dt.UTC).timestamp())
    architecture: str = "amd64"
    location: str = ""
    server_type: str = ""


@dataclass
class Cluster:
    """One k3s cluster, started by a `cluster-init` server and shared by every node that joined."""

    id: int
    secret: str
    certificates: ClusterCertificates
    version: str
    flannel_backend: str = "vxlan"
    disabled: list[str] = field(default_factory=list)
    nodes: dict[str, ClusterNode] = field(default_factory=dict)
    objects: dict[tuple[str, str, str], dict[str, Any]] = field(default_factory=dict)
    """(kind, namespace, name) -> the object as applied (namespace "" for cluster-scoped kinds)."""
    applied: list[tuple[str, str, str]] = field(default_factory=list)
    """Every apply/create in order, for tests that assert what was installed and when."""
    learner: int | None = None
    """Server id of the server currently joining etcd as a learner."""
    service_cidr: str = "10.43.0.0/16"
    serving_sans: list[str] = field(default_factory=list)
    """Subject alternative names of the serving certificate on 6443. k3s keeps that certificate in
    the `k3s-serving` secret shared by every server, and each server adds its own names when it
    starts, so the list only grows."""
    service_status: dict[tuple[str, str], list[dict[str, Any]]] = field(default_factory=dict)
    """(namespace, name) of a LoadBalancer Service -> its status.loadBalancer.ingress, as the
    controller that handles it last wrote it (`controllers/ccm.py`, servicelb)."""
    events: list[dict[str, Any]] = field(default_factory=list)
    """Events the simulated controllers recorded (`kubectl get events`), newest last."""
    lb_services: dict[str, list[str]] = field(default_factory=dict)
    """Service uid -> [namespace, name] of every Service the hcloud CCM made a load balancer for:
    the service controller's finalizer, so a deleted Service still gets its load balancer deleted."""
    volumes: dict[str, dict[str, Any]] = field(default_factory=dict)
    """PVC uid -> {"id": Hetzner volume id, "server": attached server id or None, "claim": [ns, name]}
    for every volume the hcloud CSI driver provisioned."""
    ccm_failure: str | None = None
    """Why the hcloud CCM's pod crash-loops (bad configuration, token refused, network not found);
    None while it runs. Set by `controllers/ccm.py`; not persisted."""
    facts: MachineFacts | None = field(default=None, repr=False, compare=False)
    """The machines under the nodes (not persisted; the k3s service sets it)."""

    @property
    def token(self) -> str:
        """The full join token, as in `/var/lib/rancher/k3s/server/node-token`."""
        return f"K10{self.certificates.ca_hash}::server:{self.secret}"

    def accepts_token(self, token: str | None) -> bool:
        """Whether a join token is this cluster's (full form, or the bare secret)."""
        return bool(token) and token in (self.token, self.secret)

    @property
    def addons(self) -> set[str]:
        """Add-ons found among the applied objects, plus traefik unless disabled."""
        found: set[str] = set()
        for (kind, _ns, name), obj in self.objects.items():
            haystack = [name.lower()]
            if kind == "HelmChart":
                haystack.append(str((obj.get("spec") or {}).get("chart", "")).lower())
            if kind == "Installation" and str(obj.get("apiVersion", "")).startswith("operator.tigera.io"):
                found.add("calico")
            for addon, markers in _ADDON_MARKERS.items():
                if any(m in h for m in markers for h in haystack):
                    found.add(addon)
        if "traefik" not in self.disabled:
            found.add("traefik")
        return found

    def secret_value(self, namespace: str, name: str, key: str) -> str | None:
        """A decoded value of a Secret (from `data` or `stringData`)."""
        obj = self.objects.get(("Secret", namespace, name))
        if obj is None:
            return None
        if key in (obj.get("stringData") or {}):
            return str(obj["stringData"][key])
        raw = (obj.get("data") or {}).get(key)
        return base64.b64decode(raw).decode() if raw is not None else None

    def cloud_controller_running(self) -> bool:
        """The hcloud CCM is applied and its `hcloud` secret carries a token."""
        return ("hcloud-ccm" in self.addons and bool(self.secret_value("kube-system", "hcloud", "token"))
                and self.ccm_failure is None)

    def network_plugin_ready(self) -> bool:
        """Flannel is built in; with `flannel-backend: none` a CNI add-on must be applied."""
        return self.flannel_backend != "none" or bool({"cilium", "calico"} & self.addons)

    def is_ready(self, node: ClusterNode, now: float | None = None) -> bool:
        """The node's Ready condition at `now` (the event loop's clock; the present when None)."""
        return (node.running and node.network_ok and self.network_plugin_ready()
                and (_now() if now is None else now) >= node.ready_at)

    def live_servers(self) -> list[ClusterNode]:
        """Servers whose k3s process runs."""
        return [n for n in self.nodes.values() if n.role == "server" and n.running]

    def node_for(self, server_id: int) -> ClusterNode | None:
        """The Node object of a machine."""
        return next((n for n in self.nodes.values() if n.server_id == server_id), None)

    def node_json(self, node: ClusterNode) -> dict[str, Any]:
        """The Node as `kubectl get node -o json` shows it."""
        ready = self.is_ready(node)
        initialized = node.external_cloud_provider and self.cloud_controller_running()
        labels = {
            "beta.kubernetes.io/arch": node.architecture, "beta.kubernetes.io/os": "linux",
            "kubernetes.io/arch": node.architecture, "kubernetes.io/hostname": node.name,
            "kubernetes.io/os": "linux",
            "beta.kubernetes.io/instance-type": node.server_type if initialized else "k3s",
            "node.kubernetes.io/instance-type": node.server_type if initialized else "k3s",
        }
        if node.role == "server":
            labels.update({"node-role.kubernetes.io/control-plane": "true",
                           "node-role.kubernetes.io/master": "true",
                           "node-role.kubernetes.io/etcd": "true"})
        if initialized:
            labels.update({"topology.kubernetes.io/region": node.location,
                           "topology.kubernetes.io/zone": f"{node.location}-dc1"})
        labels.update(node.labels)
        taints = list(node.taints)
        if node.external_cloud_provider and not initialized:
            taints.append({"key": UNINITIALIZED_TAINT, "value": "true", "effect": "NoSchedule"})
        if not ready:
            taints.append({"key": "node.kubernetes.io/not-ready", "effect": "NoSchedule"})
        if node.unschedulable:
            taints.append({"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"})
        spec: dict[str, Any] = {"podCIDR": "10.42.0.0/24", "podCIDRs": ["10.42.0.0/24"]}
        if taints:
            spec["taints"] = taints
        if node.unschedulable:
            spec["unschedulable"] = True
        if initialized:
            spec["providerID"] = f"hcloud://{node.server_id}"
        elif not node.external_cloud_provider:
            spec["providerID"] = f"k3s://{node.name}"
        addresses = [{"address": node.internal_ip, "type": "InternalIP"}]
        if node.external_ip:
            addresses.append({"address": node.external_ip, "type": "ExternalIP"})
        addresses.append({"address": node.name, "type": "Hostname"})
        created = _iso(node.created)
        if ready:
            condition = {"type": "Ready", "status": "True", "reason": "KubeletReady",
                         "message": "kubelet is posting ready status"}
        elif not node.running:
            condition = {"type": "Ready", "status": "Unknown", "reason": "NodeStatusUnknown",
                         "message": "Kubelet stopped posting node status."}
        else:
            condition = {"type": "Ready", "status": "False", "reason": "KubeletNotReady",
                         "message": NOT_READY_NETWORK}
        condition.update({"lastHeartbeatTime": created, "lastTransitionTime": created})
        return {
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": node.name, "labels": labels, "creationTimestamp": created,
                         "annotations": {"k3s.io/internal-ip": node.internal_ip,
                                         "flannel.alpha.coreos.com/backend-type": self.flannel_backend}},
            "spec": spec,
            "status": {
                "addresses": addresses,
                "conditions": [condition],
                "nodeInfo": {"architecture": node.architecture, "kubeletVersion": node.version,
                             "kubeProxyVersion": node.version, "operatingSystem": "linux",
                             "osImage": "Ubuntu 24.04.1 LTS", "containerRuntimeVersion": "containerd://2.0.5-k3s1"},
            },
        }

    def record_event(self, involved: dict[str, str], kind: str, reason: str, message: str,
                     component: str) -> None:
        """An Event about an object (`involved`: kind, namespace, name, uid); a repeat of the same
        reason and message counts up instead of adding a line, as the event recorder does."""
        for event in self.events:
            if event["involvedObject"] == involved and event["reason"] == reason and event["message"] == message:
                event["count"] += 1
                event["lastTimestamp"] = _iso(dt.datetime.now(dt.UTC).timestamp())
                return
        stamp = _iso(dt.datetime.now(dt.UTC).timestamp())
        name = f"{involved.get('name', '')}.{len(self.events) + 1:x}"
        self.events.append({
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"name": name, "namespace": involved.get("namespace") or "default"},
            "involvedObject": involved, "type": kind, "reason": reason, "message": message,
            "source": {"component": component}, "count": 1,
            "firstTimestamp": stamp, "lastTimestamp": stamp,
        })
        del self.events[:-EVENT_LIMIT]

    def export(self) -> dict[str, Any]:
        """JSON-serialisable form (learner state, events and statuses are transient and not kept)."""
        return {
            "id": self.id, "secret": self.secret, "version": self.version,
            "flannel_backend": self.flannel_backend, "disabled": self.disabled,
            "service_cidr": self.service_cidr, "serving_sans": self.serving_sans,
            "lb_services": self.lb_services, "volumes": self.volumes,
            "certificates": vars(self.certificates),
            "nodes": [{k: v for k, v in vars(n).items() if k not in ("running", "ready_at")}
                      for n in self.nodes.values()],
            "objects": [obj for obj in self.objects.values()],
        }

    @classmethod
    def restore(cls, state: dict[str, Any]) -> Cluster:
        """Rebuild from `export()`; nodes come back stopped until their machines boot."""
        cluster = cls(id=state["id"], secret=state["secret"], version=state["version"],
                      certificates=ClusterCertificates(**state["certificates"]),
                      flannel_backend=state.get("flannel_backend", "vxlan"),
                      disabled=list(state.get("disabled", [])),
                      service_cidr=state.get("service_cidr", "10.43.0.0/16"),
                      serving_sans=list(state.get("serving_sans", [])),
                      lb_services=dict(state.get("lb_services", {})),
                      volumes=dict(state.get("volumes", {})))
        for n in state.get("nodes", []):
            node = ClusterNode(**n)
            node.running = False
            cluster.nodes[node.name] = node
        for obj in state.get("objects", []):
            meta = obj.get("metadata") or {}
            cluster.objects[(obj["kind"], meta.get("namespace", ""), meta["name"])] = obj
        return cluster
