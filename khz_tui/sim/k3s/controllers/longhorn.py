"""Longhorn's manager on each node, and what it needs from the host.

Longhorn's installation requirements (longhorn.io docs, deploy/install, v1.7 to v1.9): "`open-iscsi`
is installed, and the `iscsid` daemon is running on all the nodes. This is necessary, since Longhorn
relies on `iscsiadm` on the host to provide persistent volumes to Kubernetes." longhorn-manager
(longhorn/longhorn-manager app/daemon.go) checks the host at start and exits with "failed to check
environment, please make sure you have iscsiadm/open-iscsi installed on the host"; the DaemonSet's
pod then crash-loops on that node and the node takes no Longhorn volume.

Modelled per node: the `longhorn-manager` pod is Ready only while the machine has `iscsiadm`
(the open-iscsi package) and its `iscsid` unit is active. The real manager only execs `iscsiadm`
at start and needs iscsid once it attaches a volume; both are folded into its readiness here, which
is what the engine must provide either way (install open-iscsi, `systemctl enable --now iscsid`).
"""

from __future__ import annotations

import hashlib
from typing import Any

from khz_tui.sim.k3s.cluster import Cluster
from khz_tui.sim.k3s.controllers.charts import helm_chart, target_namespace

CHART = "longhorn"
ISCSIADM = "/usr/sbin/iscsiadm"
ENVIRONMENT_ERROR = ("Error starting manager: failed to check environment, please make sure you have "
                     "iscsiadm/open-iscsi installed on the host")


def host_problem(cluster: Cluster, node_name: str) -> str | None:
    """Why Longhorn's manager cannot run on this node's machine, or None."""
    node = cluster.nodes.get(node_name)
    facts = cluster.facts
    if node is None or facts is None:
        return "node not found"
    if not facts.has_file(node.server_id, ISCSIADM):
        return (f"{ENVIRONMENT_ERROR}: failed to execute: nsenter [--mount=/host/proc/1/ns/mnt "
                "--net=/host/proc/1/ns/net iscsiadm --version], output , stderr nsenter: failed to execute "
                "iscsiadm: No such file or directory: exit status 127")
    if facts.services(node.server_id).get("iscsid") != "active":
        return f"{ENVIRONMENT_ERROR}: iscsid is not running on the host"
    return None


def manager_ready(cluster: Cluster, node_name: str) -> bool:
    """Whether Longhorn's manager runs and is Ready on this node."""
    node = cluster.nodes.get(node_name)
    return (helm_chart(cluster, CHART) is not None and node is not None and cluster.is_ready(node)
            and host_problem(cluster, node_name) is None)


def manager_pods(cluster: Cluster) -> list[dict[str, Any]]:
    """The `longhorn-manager` DaemonSet's pods, one per Ready node, when the chart is applied."""
    if helm_chart(cluster, CHART) is None:
        return []
    namespace = target_namespace(cluster, CHART)
    pods = []
    for node in sorted(cluster.nodes.values(), key=lambda n: n.name):
        if not cluster.is_ready(node):
            continue
        suffix = hashlib.sha256(f"{cluster.secret}/longhorn/{node.name}".encode()).hexdigest()[:5]
        name = f"longhorn-manager-{suffix}"
        problem = host_problem(cluster, node.name)
        if problem is None:
            container = {"name": "longhorn-manager", "ready": True, "restartCount": 0,
                         "state": {"running": {}}}
            conditions = [{"type": "Ready", "status": "True"}]
        else:
            container = {"name": "longhorn-manager", "ready": False, "restartCount": 5,
                         "state": {"waiting": {"reason": "CrashLoopBackOff", "message": problem}},
                         "lastState": {"terminated": {"exitCode": 1, "reason": "Error", "message": problem}}}
            conditions = [{"type": "Ready", "status": "False", "reason": "ContainersNotReady",
                           "message": "containers with unready status: [longhorn-manager]"}]
        pods.append({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": namespace, "labels": {"app": "longhorn-manager"},
                         "ownerReferences": [{"kind": "DaemonSet", "name": "longhorn-manager"}]},
            "spec": {"nodeName": node.name, "containers": [{"name": "longhorn-manager"}]},
            "status": {"phase": "Running", "conditions": conditions, "containerStatuses": [container]},
        })
    return pods
