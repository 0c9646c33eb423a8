"""The default checks: they read the cluster and change nothing at Hetzner.

- nodes: every planned node is registered and Ready, and all nodes run one k3s release; a node's
  server that is off (or missing) at Hetzner is named as the reason.
- addons: every pod in kube-system and the add-ons' namespaces runs and is ready (a chart's install
  job has succeeded), waited for (bounded) since charts take a while after an apply. Whether their
  LoadBalancer Services (the ingress's) got a load balancer is --deep's question: the cloud
  controller makes those on its own schedule (with backoff after API errors).
- dns: a throwaway busybox pod on every Ready node resolves `kubernetes.default` through CoreDNS,
  which runs on one node: from every other node that is cross-node pod traffic through the CNI.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import shlex
from collections import defaultdict
from typing import Any

from khz_tui.engine.cloud.names import planned_nodes
from khz_tui.engine.nodes.addons import addon_list
from khz_tui.engine.nodes.session import NodeError
from khz_tui.engine.verify.model import CheckResult, Verification
from khz_tui.engine.verify.shell import ClusterShell, ClusterUnanswered

DNS_IMAGE = "busybox:1.36"
#: Pods started at once: one SSH channel each, and OpenSSH allows 10 sessions per connection.
DNS_PARALLEL = 8
#: How long a pod may take to start (image pull), as kubectl's --pod-running-timeout.
POD_RUNNING_TIMEOUT = "1m"
#: Seconds (at time scale 1) one `kubectl run` may take: the pod start plus busybox's two 5 s tries.
DNS_COMMAND_TIMEOUT = 150.0
#: Seconds (at time scale 1) the add-ons may take to come up after an apply, and the pause between looks.
ADDONS_DEADLINE = 300.0
ADDONS_POLL = 5.0

ASKING_FAILED_HINT = ("check that a control plane is running and reachable over SSH from this machine "
                      "(ssh.allowed_cidrs), then run verify again")


def unanswered(check: str, title: str, v: Verification, exc: BaseException | None = None) -> CheckResult:
    why = v.unreachable if exc is None else str(exc)
    return CheckResult(check, title, "fail", f"could not ask the cluster: {why}", ASKING_FAILED_HINT)


def _ready_condition(node: dict[str, Any]) -> dict[str, Any]:
    return next((c for c in (node.get("status") or {}).get("conditions") or [] if c.get("type") == "Ready"), {})


def _server_reason(v: Verification, name: str) -> str:
    server = v.servers.get(name)
    if server is None:
        return "its server does not exist at Hetzner"
    if server.status != "running":
        return f"its server is {server.status} at Hetzner"
    return ""


def _releases(known: dict[str, dict[str, Any]]) -> dict[str, list[str]]:
    """The nodes by the k3s release their kubelet reports."""
    versions: dict[str, list[str]] = defaultdict(list)
    for name, node in sorted(known.items()):
        versions[str(((node.get("status") or {}).get("nodeInfo") or {}).get("kubeletVersion", "?"))].append(name)
    return versions


def _nodes_hint(off: bool, failed: list[str]) -> str:
    if off:
        return ("power the server on (`hcloud server poweron NAME`) or run apply again, which powers it on and "
                "waits for its k3s; a missing server is created again by apply")
    if failed:
        return "`kubectl describe node NAME` shows why (CNI, cloud controller, kubelet); apply again once fixed"
    return ("every node should run the release recorded for the cluster: let an upgrade in progress finish, "
            "or reinstall the odd node (delete its server and apply again)")


async def check_nodes(v: Verification) -> CheckResult:
    title = "Every node Ready, on one k3s release"
    if v.shell is None:
        return unanswered("nodes", title, v)
    try:
        items = await v.shell.items("get nodes")
    except (ClusterUnanswered, NodeError) as exc:
        return unanswered("nodes", title, v, exc)
    known = {str((n.get("metadata") or {}).get("name")): n for n in items}
    problems: list[str] = []
    failed: list[str] = []
    off = False
    for slot in planned_nodes(v.ctx.plan):
        node = known.get(slot.name)
        server_reason = _server_reason(v, slot.name)
        off = off or bool(server_reason)
        if node is None:
            problems.append(f"{slot.name}: not registered with Kubernetes" + (f" ({server_reason})" if server_reason else ""))
            failed.append(slot.name)
            continue
        ready = _ready_condition(node)
        if ready.get("status") != "True":
            said = ": ".join(str(p) for p in (ready.get("reason"), ready.get("message")) if p) or "no Ready condition"
            problems.append(f"{slot.name}: NotReady ({said})" + (f"; {server_reason}" if server_reason else ""))
            failed.append(slot.name)
        else:
            v.ready_nodes.append(slot.name)
    versions = _releases(known)
    if len(versions) > 1:
        problems.append("nodes run different k3s releases: " + "; ".join(
            f"{version} on {', '.join(names)}" for version, names in sorted(versions.items())))
    if problems:
        return CheckResult("nodes", title, "fail", "; ".join(problems), _nodes_hint(off, failed), tuple(failed))
    (version,) = versions or {"?": []}
    extra = sorted(set(known) - {s.name for s in planned_nodes(v.ctx.plan)})
    also = f" (also in the cluster, not in the plan: {', '.join(extra)})" if extra else ""
    return CheckResult("nodes", title, "pass", f"{len(v.ready_nodes)} nodes Ready, all on {version}{also}")


def addon_namespaces(v: Verification) -> list[str]:
    """kube-system and every namespace the plan's add-ons put workloads in."""
    found = {"kube-system"}
    for addon in addon_list(v.ctx.plan):
        for doc in addon.documents:
            if doc.get("kind") == "HelmChart":
                found.add(str(doc["spec"].get("targetNamespace") or "kube-system"))
            elif (doc.get("metadata") or {}).get("namespace"):
                found.add(str(doc["metadata"]["namespace"]))
    if v.ctx.plan.network.cni == "calico":
        found.add("calico-system")  # where tigera-operator puts Calico itself
    return sorted(found)


def _pod_problem(pod: dict[str, Any]) -> str | None:
    """Why a pod is not up, or None."""
    meta, status = pod.get("metadata") or {}, pod.get("status") or {}
    phase = status.get("phase", "Pending")
    if phase == "Succeeded":
        return None
    if str(meta.get("name", "")).startswith("helm-install-"):
        return f"chart install job {phase}" if phase != "Failed" else "chart install job failed"
    containers = status.get("containerStatuses") or []
    for c in containers:
        if not c.get("ready"):
            state = c.get("state") or {}
            waiting = state.get("waiting") or state.get("terminated") or {}
            said = ": ".join(str(p) for p in (waiting.get("reason"), waiting.get("message")) if p)
            return f"container {c.get('name')} not ready" + (f" ({said})" if said else "")
    if phase != "Running":
        reason = next((c.get("reason") or c.get("message") for c in status.get("conditions") or []
                       if c.get("status") == "False" and (c.get("reason") or c.get("message"))), "")
        return f"{phase}" + (f" ({reason})" if reason else "")
    return None


async def _addon_problems(shell: ClusterShell, namespaces: list[str]) -> tuple[list[str], list[str], int]:
    pods = [p for p in await shell.items("get pods --all-namespaces")
            if (p.get("metadata") or {}).get("namespace") in namespaces]
    problems, nodes = [], []
    for pod in pods:
        why = _pod_problem(pod)
        if why is not None:
            meta = pod["metadata"]
            node = str((pod.get("spec") or {}).get("nodeName") or "")
            problems.append(f"{meta.get('namespace')}/{meta.get('name')}" + (f" on {node}" if node else "") + f": {why}")
            if node:
                nodes.append(node)
    return problems, nodes, len(pods)


async def check_addons(v: Verification) -> CheckResult:
    title = "The add-ons' workloads are up"
    if v.shell is None:
        return unanswered("addons", title, v)
    namespaces = addon_namespaces(v)
    loop = asyncio.get_running_loop()
    end = loop.time() + v.ctx.scaled(ADDONS_DEADLINE, floor=2.0)
    try:
        while True:
            problems, nodes, count = await _addon_problems(v.shell, namespaces)
            if not problems or loop.time() >= end:
                break
            await asyncio.sleep(v.ctx.scaled(ADDONS_POLL))
    except (ClusterUnanswered, NodeError) as exc:
        return unanswered("addons", title, v, exc)
    where = ", ".join(namespaces)
    if problems:
        waited = v.ctx.scaled(ADDONS_DEADLINE, floor=2.0)
        return CheckResult(
            "addons", title, "fail",
            f"after {waited:.0f}s, {len(problems)} pod(s) in {where} are not up: " + "; ".join(problems[:8])
            + (f"; and {len(problems) - 8} more" if len(problems) > 8 else ""),
            "`kubectl -n NAMESPACE describe pod NAME` and `kubectl -n NAMESPACE logs NAME` say why; a pod on a node "
            "that is not Ready comes up once the node does. Longhorn needs iscsid running on every node.",
            tuple(sorted(set(nodes))))
    return CheckResult("addons", title, "pass", f"{count} pod(s) in {where} are running and ready")


def dns_pod_name(node: str) -> str:
    """`dns-<node>`, cut to a DNS label's 63 characters."""
    return f"dns-{node}"[:63].rstrip("-")


def kubernetes_service_ip(v: Verification) -> str:
    """The `kubernetes` Service's address: the first of the service CIDR."""
    return str(ipaddress.ip_network(v.ctx.plan.network.service_cidr, strict=False).network_address + 1)


def dns_command(node: str) -> str:
    overrides = json.dumps({"apiVersion": "v1", "spec": {"nodeName": node}}, separators=(",", ":"))
    return (f"run {dns_pod_name(node)} --image={DNS_IMAGE} --restart=Never --rm -i -q "
            f"--overrides={shlex.quote(overrides)} --pod-running-timeout={POD_RUNNING_TIMEOUT} "
            "-- nslookup kubernetes.default")


async def _lookup(v: Verification, shell: ClusterShell, node: str) -> str | None:
    """None when a pod on `node` resolved kubernetes.default to its address; else why not."""
    timeout = v.ctx.scaled(DNS_COMMAND_TIMEOUT, floor=30.0)
    why = "a pod of an earlier verify is still there"
    for attempt in range(2):  # one more try: a first pull or a CoreDNS restart can make one lookup fail
        result = await shell.kubectl(dns_command(node), timeout=timeout)
        out = result.stdout + result.stderr
        if "AlreadyExists" in out:  # left by a verify that was killed: remove it and try again
            await shell.kubectl(f"delete pod {dns_pod_name(node)} --ignore-not-found --wait=false", timeout=60)
            continue
        if result.exit_status == 0 and f"Address: {kubernetes_service_ip(v)}" in result.stdout:
            return None
        if "no servers could be reached" in out:
            why = ("the lookup timed out: no answer from CoreDNS over the pod network (cross-node pod traffic "
                   "from this node does not get through)")
        elif "timed out waiting for the condition" in out:
            why = f"no pod could start there within {POD_RUNNING_TIMEOUT}"
        elif "NXDOMAIN" in out:
            why = "CoreDNS answered but does not know kubernetes.default"
        else:
            why = f"kubectl exited {result.exit_status}: " + " ".join(out.split())[:200]
        if attempt == 1:
            return why
    return why


async def check_dns(v: Verification) -> CheckResult:
    title = "DNS resolves from a pod on every node"
    if v.shell is None:
        return unanswered("dns", title, v)
    shell = v.shell
    planned = [s.name for s in planned_nodes(v.ctx.plan)]
    nodes = [n for n in planned if n in v.ready_nodes]
    if not nodes:
        return CheckResult("dns", title, "fail", "no node is Ready: no pod can run", "see the nodes check")
    gate = asyncio.Semaphore(DNS_PARALLEL)

    async def one(node: str) -> tuple[str, str | None]:
        async with gate:
            try:
                return node, await _lookup(v, shell, node)
            except NodeError as exc:
                return node, f"could not ask the cluster: {exc}"

    answers = await asyncio.gather(*(one(n) for n in nodes))
    failed = [(n, why) for n, why in answers if why is not None]
    skipped = [n for n in planned if n not in nodes]
    not_checked = f"; not checked on {', '.join(skipped)} (not Ready)" if skipped else ""
    if failed:
        return CheckResult(
            "dns", title, "fail",
            "; ".join(f"{n}: {why}" for n, why in failed) + not_checked,
            "pods reach CoreDNS on another node through the CNI's tunnel: its node addresses must be the private "
            "ones (Calico: nodeAddressAutodetectionV4 kubernetes: NodeInternalIP), since the Hetzner firewall "
            "filters the public interface. `kubectl -n kube-system get pods -o wide` shows where CoreDNS runs.",
            tuple(n for n, _ in failed))
    return CheckResult("dns", title, "pass",
                       f"kubernetes.default resolved to {kubernetes_service_ip(v)} from a pod on each of "
                       f"{len(nodes)} node(s){not_checked}")
