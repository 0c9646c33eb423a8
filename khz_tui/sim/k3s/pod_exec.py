"""`kubectl run` of a throwaway pod that runs one command and is removed, the way a check such as
`verify` looks at the cluster from inside:

    k3s kubectl run NAME --image=busybox:1.36 --restart=Never --rm -i [-q] [-n NS]
        [--overrides='{"apiVersion":"v1","spec":{"nodeName":"NODE"}}'] [--pod-running-timeout=1m]
        -- nslookup NAME [SERVER]

The pod lands on `spec.nodeName` (or a `kubernetes.io/hostname` nodeSelector) from `--overrides`,
else where the scheduler would put it. Its command's output is kubectl's output and its exit code
kubectl's. Commands a pod can run: `nslookup` (busybox), `true`, `echo`. A lookup goes to the
kube-dns Service, i.e. to the CoreDNS pod on its node, over the pod network modelled in
`controllers/network.py`: when that path is broken the lookup times out (busybox: ";; connection
timed out; no servers could be reached", exit 1) after DNS_TIMEOUT_SECONDS. Names inside the
cluster resolve (`kubernetes.default`, `SVC.NS`, `SVC.NS.svc.cluster.local`, a bare `SVC` in the
pod's namespace); others are NXDOMAIN (the simulator has no internet to forward to).
"""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import dataclass
from typing import Any

from khz_tui.sim.k3s import objects
from khz_tui.sim.k3s.cluster import Cluster
from khz_tui.sim.k3s.controllers.network import PodNetwork

DNS_TIMEOUT_SECONDS = 10.0
"""busybox nslookup: two tries of five seconds each."""
DEFAULT_RUNNING_TIMEOUT = 60.0
RUNNING_TIMEOUT_LIMIT = 600.0
USAGE = ("error: supported: kubectl run NAME --image=IMAGE --restart=Never --rm -i [-q] [-n NS] "
         "[--overrides=JSON] [--pod-running-timeout=DURATION] -- COMMAND [ARGS...]")


@dataclass
class Outcome:
    """kubectl's exit code and output."""

    code: int
    out: str = ""
    err: str = ""


def _duration(text: str) -> float | None:
    m = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s|m)?", text)
    if not m:
        return None
    return float(m.group(1)) * {"ms": 0.001, "s": 1.0, "m": 60.0, None: 1.0}[m.group(2)]


def _parse(args: list[str]) -> tuple[str, dict[str, Any], list[str]]:
    """NAME, options and the pod's command; raises ValueError with kubectl's message."""
    if "--" not in args:
        raise ValueError(USAGE)
    cut = args.index("--")
    head, command = args[:cut], args[cut + 1:]
    opts: dict[str, Any] = {"namespace": "default", "timeout": DEFAULT_RUNNING_TIMEOUT}
    words: list[str] = []
    it = iter(head)
    for a in it:
        name, sep, value = a.partition("=")
        if name in ("--image", "--restart", "--overrides", "--pod-running-timeout", "-n", "--namespace") and not sep:
            value = next(it, "")
        if name == "--image":
            opts["image"] = value
        elif name == "--restart":
            opts["restart"] = value
        elif name == "--overrides":
            try:
                opts["overrides"] = json.loads(value)
            except ValueError as exc:
                raise ValueError(f"error: Invalid JSON Patch: {exc}") from None
        elif name == "--pod-running-timeout":
            seconds = _duration(value)
            if seconds is None:
                raise ValueError(f"error: invalid argument \"{value}\" for \"--pod-running-timeout\" flag")
            opts["timeout"] = min(seconds, RUNNING_TIMEOUT_LIMIT)
        elif name in ("-n", "--namespace"):
            opts["namespace"] = value
        elif a == "--rm":
            opts["rm"] = True
        elif a in ("-i", "--stdin", "--attach", "-iq", "-qi"):
            opts["attach"] = True
            opts["quiet"] = opts.get("quiet") or "q" in a
        elif a in ("-q", "--quiet"):
            opts["quiet"] = True
        elif a == "--command":
            continue
        elif a.startswith("-"):
            raise ValueError(f"error: unknown flag: {name}")
        else:
            words.append(a)
    if len(words) != 1 or not opts.get("image") or opts.get("restart") != "Never" or not opts.get("rm") \
            or not opts.get("attach") or not command:
        raise ValueError(USAGE)
    return words[0], opts, command


def _place(cluster: Cluster, pod: dict[str, Any]) -> str | None:
    view = objects._view(cluster, pod)
    return (view.get("spec") or {}).get("nodeName") if view["status"]["phase"] == "Running" else None


def _coredns_node(cluster: Cluster) -> str | None:
    pod = next((p for p in objects.objects_of(cluster, "Pod", "kube-system")
                if (p["metadata"].get("labels") or {}).get("k8s-app") == "coredns"), None)
    if pod is None or pod["status"]["phase"] != "Running":
        return None
    return str(pod["spec"].get("nodeName"))


def _resolve(cluster: Cluster, name: str, namespace: str) -> str | None:
    """A Service's cluster IP for a name a pod in `namespace` asks for."""
    domain = "svc.cluster.local"
    name = name.rstrip(".")
    parts = name.removesuffix("." + domain).removesuffix(".svc").split(".")
    if len(parts) == 1:
        svc, ns = parts[0], namespace
    elif len(parts) == 2:
        svc, ns = parts
    else:
        return None
    found = objects.object_named(cluster, "Service", ns, svc)
    return None if found is None else str((found.get("spec") or {}).get("clusterIP") or "") or None


async def _nslookup(cluster: Cluster, network: PodNetwork | None, node: str, namespace: str, args: list[str],
                    time_scale: float) -> Outcome:
    names = [a for a in args if not a.startswith("-")]
    if not names:
        return Outcome(1, err="BusyBox v1.36.1 multi-call binary.\n\nUsage: nslookup [-type=QUERY_TYPE] HOST [DNS_SERVER]\n")
    dns = objects.service_ip(cluster, 10)
    coredns = _coredns_node(cluster)
    here = cluster.nodes.get(node)
    there = cluster.nodes.get(coredns) if coredns else None
    broken = "no CoreDNS pod runs" if there is None or here is None else (
        network.both_ways(here, there) if network is not None else "no pod network")
    if broken is not None:
        await asyncio.sleep(DNS_TIMEOUT_SECONDS * time_scale)
        return Outcome(1, out=";; connection timed out; no servers could be reached\n\n")
    address = _resolve(cluster, names[0], namespace)
    head = f"Server:\t\t{dns}\nAddress:\t{dns}:53\n\n"
    if address is None:
        return Outcome(1, out=head + f"** server can't find {names[0]}: NXDOMAIN\n\n")
    fqdn = names[0].rstrip(".")
    if not fqdn.endswith(".svc.cluster.local"):
        parts = fqdn.removesuffix(".svc").split(".")
        fqdn = f"{parts[0]}.{parts[1] if len(parts) > 1 else namespace}.svc.cluster.local"
    return Outcome(0, out=head + f"Name:\t{fqdn}\nAddress: {address}\n\n")


async def run_pod(cluster: Cluster, network: PodNetwork | None, args: list[str], time_scale: float) -> Outcome:
    """Run `kubectl run ARGS` against the cluster."""
    try:
        name, opts, command = _parse(args)
    except ValueError as exc:
        return Outcome(1, err=str(exc) + "\n")
    namespace = str(opts["namespace"])
    if namespace not in objects.namespaces(cluster):
        return Outcome(1, err=f"Error from server (NotFound): namespaces \"{namespace}\" not found\n")
    if ("Pod", namespace, name) in cluster.objects:
        return Outcome(1, err=f"Error from server (AlreadyExists): pods \"{name}\" already exists\n")
    overrides = opts.get("overrides") or {}
    spec = dict(overrides.get("spec") or {})
    spec["containers"] = [{"name": name, "image": opts["image"], "command": command}]
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": namespace,
                                                           "creationTimestamp": "", "labels": {"run": name}},
           "spec": spec}
    node = _place(cluster, pod)
    if node is None:
        await asyncio.sleep(float(opts["timeout"]) * time_scale)
        return Outcome(1, err="error: timed out waiting for the condition\n")
    program = command[0].rsplit("/", 1)[-1]
    if program == "nslookup":
        result = await _nslookup(cluster, network, node, namespace, command[1:], time_scale)
    elif program == "true":
        result = Outcome(0)
    elif program == "echo":
        result = Outcome(0, out=" ".join(command[1:]) + "\n")
    else:
        result = Outcome(128, err=f"exec: \"{command[0]}\": executable file not found in $PATH\n")
    if result.code != 0:
        result.err += f"pod {namespace}/{name} terminated (Error)\n"
    if not opts.get("quiet"):
        result.out += f"pod \"{name}\" deleted\n"
    return result
