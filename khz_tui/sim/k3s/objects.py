"""Kubernetes objects of a simulated cluster as the API returns them, in one place for both ways in:
`k3s kubectl` over SSH (`kubectl.py`) and the TLS API on 6443 (`apiserver.py`).

Besides what was applied or created, a k3s cluster has objects of its own: the four namespaces, the
`kubernetes` Service (the first address of the service CIDR), and the packaged components' pods and
services in kube-system (coredns, local-path-provisioner, metrics-server, traefik), each unless
`--disable`d. Their status follows the nodes: a pod runs once a Ready node without an untolerated
NoSchedule taint exists.
"""

from __future__ import annotations

import hashlib
import ipaddress
import time
import uuid
from typing import Any

from khz_tui.sim.k3s.cluster import Cluster, _iso
from khz_tui.sim.k3s.controllers import charts, longhorn

BUILTIN_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition",
                  "StorageClass", "PriorityClass", "CSIDriver", "IngressClass", "Node",
                  "ValidatingWebhookConfiguration", "MutatingWebhookConfiguration", "APIService",
                  "PersistentVolume"}
CONTROL_PLANE_TAINT = "node-role.kubernetes.io/control-plane"
# k3s' packaged components: (name in --disable, deployment, service or None, tolerates control planes).
_PACKAGED = (
    ("coredns", "coredns", "kube-dns", True),
    ("local-storage", "local-path-provisioner", None, True),
    ("metrics-server", "metrics-server", "metrics-server", True),
    ("traefik", "traefik", "traefik", False),
)


def stable_uid(cluster: Cluster, kind: str, namespace: str, name: str) -> str:
    """The uid of an object stored without one (applied before kubectl stamped uids)."""
    return _uid(cluster, kind, namespace, name)


def _uid(cluster: Cluster, *key: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"k3s-sim/{cluster.id}/{cluster.secret}/" + "/".join(key)))


def _suffix(cluster: Cluster, name: str, length: int) -> str:
    return hashlib.sha256(f"{cluster.secret}/{name}".encode()).hexdigest()[:length]


def _created(cluster: Cluster) -> str:
    first = min((n.created for n in cluster.nodes.values()), default=0.0)
    return _iso(first)


def namespaces(cluster: Cluster) -> set[str]:
    """Names of every namespace: the built-in four and the created ones."""
    return set(BUILTIN_NAMESPACES) | {k[2] for k in cluster.objects if k[0] == "Namespace"}


def service_ip(cluster: Cluster, index: int) -> str:
    """The `index`-th address of the cluster's service CIDR (1: the API, 10: DNS)."""
    net = ipaddress.ip_network(cluster.service_cidr, strict=False)
    return str(net.network_address + index)


def _schedulable(cluster: Cluster, tolerated: set[str]) -> str | None:
    """Name of a Ready node whose NoSchedule taints are all tolerated, if any."""
    for node in sorted(cluster.nodes.values(), key=lambda n: n.name):
        obj = cluster.node_json(node)
        if obj["status"]["conditions"][0]["status"] != "True":
            continue
        taints = [t["key"] for t in obj["spec"].get("taints", []) if t.get("effect") in ("NoSchedule", "NoExecute")]
        if all(t in tolerated for t in taints):
            return node.name
    return None


def _bound_node(cluster: Cluster, pod: dict[str, Any], tolerated: set[str]) -> str | None:
    """`spec.nodeName` binds a pod past the scheduler (taints with NoSchedule do not apply); a
    `kubernetes.io/hostname` nodeSelector narrows the scheduler to that node."""
    spec = pod.get("spec") or {}
    wanted = spec.get("nodeName") or (spec.get("nodeSelector") or {}).get("kubernetes.io/hostname")
    if not wanted:
        return _schedulable(cluster, tolerated)
    node = cluster.nodes.get(str(wanted))
    if node is None or not cluster.is_ready(node):
        return None
    if spec.get("nodeName"):
        return node.name
    obj = cluster.node_json(node)
    taints = [t["key"] for t in obj["spec"].get("taints", []) if t.get("effect") in ("NoSchedule", "NoExecute")]
    return node.name if all(t in tolerated for t in taints) else None


def _pod_status(cluster: Cluster, pod: dict[str, Any], tolerated: set[str]) -> dict[str, Any]:
    node = _bound_node(cluster, pod, tolerated)
    if node is None:
        return {"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False",
                                                     "reason": "Unschedulable"}]}
    pod.setdefault("spec", {})["nodeName"] = node
    containers = (pod.get("spec") or {}).get("containers") or [{"name": "main"}]
    return {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}],
            "containerStatuses": [{"name": c.get("name", "main"), "ready": True, "restartCount": 0,
                                   "state": {"running": {"startedAt": pod["metadata"]["creationTimestamp"]}}}
                                  for c in containers]}


def _system_pods(cluster: Cluster) -> list[dict[str, Any]]:
    pods = []
    for disable, name, _svc, cp_ok in _PACKAGED:
        if disable in cluster.disabled:
            continue
        tolerated = {CONTROL_PLANE_TAINT, "CriticalAddonsOnly"} if cp_ok else set()
        pod_name = f"{name}-{_suffix(cluster, name, 10)}-{_suffix(cluster, name + '/pod', 5)}"
        pod: dict[str, Any] = {
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": pod_name, "namespace": "kube-system", "uid": _uid(cluster, "Pod", pod_name),
                         "labels": {"k8s-app": name}, "creationTimestamp": _created(cluster)},
            "spec": {"containers": [{"name": name}]},
        }
        pod["status"] = _pod_status(cluster, pod, tolerated)
        pods.append(pod)
    return pods


def _builtin_services(cluster: Cluster) -> list[dict[str, Any]]:
    def svc(ns: str, name: str, ip: str, ports: list[dict[str, Any]], kind: str = "ClusterIP") -> dict[str, Any]:
        ip = ip or service_ip(cluster, 40 + int(_suffix(cluster, f"{ns}/{name}", 3), 16) % 50)
        return {"apiVersion": "v1", "kind": "Service",
                "metadata": {"name": name, "namespace": ns, "uid": _uid(cluster, "Service", ns, name),
                             "creationTimestamp": _created(cluster)},
                "spec": {"type": kind, "clusterIP": ip, "clusterIPs": [ip], "ports": ports},
                "status": {"loadBalancer": {}}}

    out = [svc("default", "kubernetes", service_ip(cluster, 1),
               [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": 6443}])]
    out += charts.chart_services(cluster, svc)
    extra = {"kube-dns": (10, [{"name": "dns", "port": 53, "protocol": "UDP"}], "ClusterIP"),
             "metrics-server": (20, [{"name": "https", "port": 443, "protocol": "TCP"}], "ClusterIP"),
             "traefik": (30, [{"name": "web", "port": 80, "protocol": "TCP"},
                              {"name": "websecure", "port": 443, "protocol": "TCP"}], "LoadBalancer")}
    for disable, _name, service, _cp in _PACKAGED:
        if service and disable not in cluster.disabled:
            index, ports, kind = extra[service]
            made = svc("kube-system", service, service_ip(cluster, index), ports, kind)
            if service == "traefik":
                # The packaged chart's `service.annotations`, set through a HelmChartConfig.
                annotations = (charts.traefik_values(cluster).get("service") or {}).get("annotations")
                if annotations:
                    made["metadata"]["annotations"] = dict(annotations)
            out.append(made)
    for made in out:
        _service_status(cluster, made)
    return out


def _service_status(cluster: Cluster, obj: dict[str, Any]) -> None:
    """status.loadBalancer as the service controllers left it (empty: pending)."""
    meta = obj["metadata"]
    ingress = cluster.service_status.get((meta.get("namespace", ""), meta["name"]))
    obj["status"] = {"loadBalancer": {"ingress": [dict(i) for i in ingress]} if ingress else {}}


def _namespace(cluster: Cluster, name: str, obj: dict[str, Any] | None) -> dict[str, Any]:
    meta = dict((obj or {}).get("metadata") or {"name": name})
    meta.setdefault("uid", _uid(cluster, "Namespace", name))
    meta.setdefault("creationTimestamp", _created(cluster))
    meta.setdefault("labels", {"kubernetes.io/metadata.name": name})
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": meta,
            "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}}


def _pvc_view(cluster: Cluster, obj: dict[str, Any]) -> dict[str, Any]:
    """A claim binds once a pod uses it and its provisioner made the volume: k3s' local-path (on the
    pod's node), the hcloud CSI driver (once it created `pvc-<uid>` through the API, see
    `controllers/csi.py`), Longhorn (once its manager runs on the pod's node, `controllers/longhorn.py`).
    All three bind WaitForFirstConsumer."""
    view = dict(obj)
    meta = dict(view["metadata"])
    meta.setdefault("uid", stable_uid(cluster, "PersistentVolumeClaim", meta.get("namespace", ""), meta["name"]))
    view["metadata"] = meta
    spec = dict(view.get("spec") or {})
    spec.setdefault("storageClassName", "local-path")
    klass = str(spec["storageClassName"])
    users = [str((pod.get("spec") or {}).get("nodeName") or "") for pod in objects_of(cluster, "Pod", meta.get("namespace"))
             if any((v.get("persistentVolumeClaim") or {}).get("claimName") == meta["name"]
                    for v in ((pod.get("spec") or {}).get("volumes") or []))
             and (pod.get("status") or {}).get("phase") == "Running"]
    if klass == "local-path":
        bound = "local-storage" not in cluster.disabled and bool(users)
    elif klass == "longhorn":
        bound = bool(users) and longhorn.manager_ready(cluster, users[0])
    else:
        bound = str(meta["uid"]) in cluster.volumes
    if bound:
        spec["volumeName"] = f"pvc-{meta['uid']}"
        size = (((spec.get("resources") or {}).get("requests")) or {}).get("storage", "")
        view["status"] = {"phase": "Bound", "accessModes": spec.get("accessModes", []), "capacity": {"storage": size}}
    else:
        view["status"] = {"phase": "Pending"}
    view["spec"] = spec
    return view


def _view(cluster: Cluster, obj: dict[str, Any]) -> dict[str, Any]:
    kind = obj.get("kind")
    if kind == "Pod":
        view = dict(obj)
        tolerated = {str(t.get("key")) for t in ((obj.get("spec") or {}).get("tolerations") or [])}
        view["spec"] = dict(obj.get("spec") or {})
        view["status"] = _pod_status(cluster, view, tolerated)
        return view
    if kind == "PersistentVolumeClaim":
        return _pvc_view(cluster, obj)
    if kind == "Namespace":
        return _namespace(cluster, obj["metadata"]["name"], obj)
    if kind == "Service":
        view = dict(obj)
        meta = view["metadata"] = dict(obj.get("metadata") or {})
        meta.setdefault("uid", stable_uid(cluster, "Service", meta.get("namespace", ""), meta["name"]))
        _service_status(cluster, view)
        return view
    return obj


def objects_of(cluster: Cluster, kind: str, namespace: str | None) -> list[dict[str, Any]]:
    """Every object of `kind` (in `namespace`, or all namespaces when None), sorted by namespace
    and name, as `kubectl get -o json` shows it."""
    if kind == "Node":
        return [cluster.node_json(n) for n in sorted(cluster.nodes.values(), key=lambda n: n.name)]
    if kind == "Namespace":
        created = {k[2]: o for k, o in cluster.objects.items() if k[0] == "Namespace"}
        return [_namespace(cluster, name, created.get(name)) for name in sorted(namespaces(cluster))]
    found: list[dict[str, Any]] = []
    if kind == "Event":
        found += [dict(e) for e in cluster.events]
    if kind == "Pod":
        found += _system_pods(cluster) + longhorn.manager_pods(cluster)
    if kind == "Service":
        found += _builtin_services(cluster)
    found += [_view(cluster, o) for (k, _ns, _n), o in cluster.objects.items() if k == kind]
    if namespace is not None:
        found = [o for o in found if o["metadata"].get("namespace", "") == namespace]
    return sorted(found, key=lambda o: (o["metadata"].get("namespace", ""), o["metadata"]["name"]))


def object_named(cluster: Cluster, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
    """One object, or None."""
    scope = None if kind in CLUSTER_SCOPED else namespace
    return next((o for o in objects_of(cluster, kind, scope) if o["metadata"]["name"] == name), None)


def stamp(cluster: Cluster, obj: dict[str, Any], namespace: str) -> None:
    """Fill what the API server sets on create: namespace, uid, creation time, a service's cluster IP."""
    meta = obj.setdefault("metadata", {})
    if obj.get("kind") not in CLUSTER_SCOPED:
        meta["namespace"] = namespace
    meta.setdefault("uid", str(uuid.uuid4()))
    meta.setdefault("creationTimestamp", _iso(time.time()))
    meta.setdefault("resourceVersion", "1")
    if obj.get("kind") == "Service":
        spec = obj.setdefault("spec", {})
        spec.setdefault("type", "ClusterIP")
        if spec["type"] != "ExternalName" and not spec.get("clusterIP"):
            taken = {s["spec"].get("clusterIP") for s in objects_of(cluster, "Service", None)}
            index = 100 + int(_suffix(cluster, meta["uid"], 4), 16) % 60000
            while service_ip(cluster, index) in taken:
                index += 1
            spec["clusterIP"] = service_ip(cluster, index)
            spec["clusterIPs"] = [spec["clusterIP"]]


def node_row(obj: dict[str, Any]) -> tuple[str, str, str, str]:
    """NAME, STATUS, ROLES, VERSION of a Node, as `kubectl get nodes` prints them."""
    ready = obj["status"]["conditions"][0]["status"] == "True"
    roles = ",".join(sorted(k.split("/", 1)[1] for k in obj["metadata"]["labels"]
                            if k.startswith("node-role.kubernetes.io/"))) or "<none>"
    status = "Ready" if ready else "NotReady"
    if obj["spec"].get("unschedulable"):
        status += ",SchedulingDisabled"
    return obj["metadata"]["name"], status, roles, obj["status"]["nodeInfo"]["kubeletVersion"]


def external_ip(obj: dict[str, Any]) -> str:
    """EXTERNAL-IP as kubectl prints it: the load balancer's addresses, `<pending>` for a
    LoadBalancer Service that has none yet, `<none>` otherwise."""
    ingress = ((obj.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    if ingress:
        return ",".join(str(i.get("ip") or i.get("hostname")) for i in ingress)
    return "<pending>" if (obj.get("spec") or {}).get("type") == "LoadBalancer" else "<none>"


def service_row(obj: dict[str, Any]) -> list[str]:
    """NAME, TYPE, CLUSTER-IP, EXTERNAL-IP, PORT(S) of a Service."""
    spec = obj.get("spec") or {}
    ports = ",".join(f"{p.get('port')}{':' + str(p['nodePort']) if p.get('nodePort') else ''}/{p.get('protocol', 'TCP')}"
                     for p in spec.get("ports", []))
    return [obj["metadata"]["name"], str(spec.get("type", "ClusterIP")), str(spec.get("clusterIP", "")),
            external_ip(obj), ports]


def pod_row(obj: dict[str, Any]) -> list[Any]:
    """NAME, READY, STATUS, RESTARTS of a Pod (a waiting container's reason is its STATUS)."""
    status = obj.get("status") or {}
    containers = status.get("containerStatuses") or []
    ready = sum(1 for c in containers if c.get("ready"))
    waiting = next((c["state"]["waiting"].get("reason") for c in containers
                    if (c.get("state") or {}).get("waiting")), None)
    return [obj["metadata"]["name"], f"{ready}/{max(1, len(containers))}", waiting or status.get("phase", "Pending"),
            sum(int(c.get("restartCount", 0)) for c in containers)]
