"""The `kubectl` subset a simulated server answers (through `k3s kubectl` or `kubectl`).

get (nodes, secrets and any applied kind; -o json|yaml|name|wide), apply -f -|FILE,
create secret generic / create namespace (with --dry-run=client -o yaml), delete, cordon,
uncordon, drain, wait --for=condition=Ready. Anything else is an error, not a silent success.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import yaml

from khz_tui.sim.k3s import objects
from khz_tui.sim.k3s.cluster import Cluster
from khz_tui.sim.k3s.controllers.network import PodNetwork
from khz_tui.sim.k3s.pod_exec import run_pod

WAIT_LIMIT = 3600.0
"""Longest `kubectl wait --timeout` accepted, in simulated seconds."""

_ALIASES = {
    "secret": "Secret", "secrets": "Secret", "deployment": "Deployment", "deployments": "Deployment",
    "deploy": "Deployment", "daemonset": "DaemonSet", "daemonsets": "DaemonSet", "ds": "DaemonSet",
    "namespace": "Namespace", "namespaces": "Namespace", "ns": "Namespace", "configmap": "ConfigMap",
    "configmaps": "ConfigMap", "cm": "ConfigMap", "helmchart": "HelmChart", "helmcharts": "HelmChart",
    "service": "Service", "services": "Service", "svc": "Service", "serviceaccount": "ServiceAccount",
    "serviceaccounts": "ServiceAccount", "sa": "ServiceAccount", "storageclass": "StorageClass",
    "storageclasses": "StorageClass", "sc": "StorageClass", "pod": "Pod", "pods": "Pod", "po": "Pod",
    "persistentvolumeclaim": "PersistentVolumeClaim", "persistentvolumeclaims": "PersistentVolumeClaim",
    "pvc": "PersistentVolumeClaim", "event": "Event", "events": "Event", "ev": "Event",
    "helmchartconfig": "HelmChartConfig", "helmchartconfigs": "HelmChartConfig",
}
_STAMPED = ("uid", "creationTimestamp", "resourceVersion")
_CLUSTER_SCOPED = objects.CLUSTER_SCOPED


@dataclass
class Result:
    """Exit code and output of one kubectl run."""

    code: int
    out: str = ""
    err: str = ""


class _Usage(Exception):
    pass


def _resource_name(obj: dict[str, Any]) -> str:
    group = str(obj.get("apiVersion", "v1")).rpartition("/")[0]
    kind = str(obj["kind"]).lower()
    return f"{kind}.{group}/{obj['metadata']['name']}" if group else f"{kind}/{obj['metadata']['name']}"


_namespaces = objects.namespaces


def _split_args(args: list[str]) -> tuple[list[str], dict[str, str | bool]]:
    """Positional words and options (`-n X`, `--namespace=X`, `-o json`, `--flag`)."""
    words: list[str] = []
    opts: dict[str, str | bool] = {}
    takes_value = {"-n": "namespace", "--namespace": "namespace", "-o": "output", "--output": "output",
                   "-f": "filename", "--filename": "filename", "--for": "for", "--timeout": "timeout",
                   "--from-literal": "from-literal", "--dry-run": "dry-run", "--kubeconfig": "kubeconfig",
                   "--grace-period": "grace-period", "-l": "selector", "--selector": "selector",
                   "--type": "type", "--field-manager": "field-manager"}
    it = iter(args)
    for a in it:
        if a.startswith("-"):
            name, sep, value = a.partition("=")
            if name in takes_value:
                key = takes_value[name]
                if not sep:
                    if name == "--dry-run":
                        value = "client"
                    else:
                        nxt = next(it, None)
                        if nxt is None:
                            raise _Usage(f"error: flag needs an argument: {name}")
                        value = nxt
                if key == "from-literal":
                    opts[key] = f"{opts[key]}\0{value}" if key in opts else value
                else:
                    opts[key] = value
            elif name in ("-A", "--all-namespaces", "--all", "--ignore-daemonsets", "--delete-emptydir-data",
                          "--force", "--ignore-not-found", "--server-side", "--force-conflicts",
                          "--delete-local-data", "--wait", "--validate"):
                opts[name.lstrip("-")] = value or True
            else:
                raise _Usage(f"error: unknown flag: {name}")
        else:
            words.append(a)
    return words, opts


def _render(objs: list[dict[str, Any]], output: str | bool | None, single: bool,
            table: Callable[[list[dict[str, Any]]], str]) -> str:
    if output == "json":
        doc = objs[0] if single else {"apiVersion": "v1", "kind": "List", "items": objs,
                                      "metadata": {"resourceVersion": ""}}
        return json.dumps(doc, indent=4) + "\n"
    if output == "yaml":
        doc = objs[0] if single else {"apiVersion": "v1", "kind": "List", "items": objs}
        return yaml.safe_dump(doc, sort_keys=False)
    if output == "name":
        return "".join(_resource_name(o) + "\n" for o in objs)
    if isinstance(output, str) and output.startswith("jsonpath="):
        path = output[len("jsonpath="):].strip("'\"{}").lstrip(".")
        value: Any = objs[0] if single else {"items": objs}
        for part in [p for p in path.split(".") if p]:
            value = value.get(part, "") if isinstance(value, dict) else ""
        return value if isinstance(value, str) else json.dumps(value)
    if output not in (None, "wide"):
        raise _Usage(f"error: unable to match a printer suitable for the output format \"{output}\"")
    return table(objs)


def _node_table(cluster: Cluster) -> Callable[[list[dict[str, Any]]], str]:
    def table(objs: list[dict[str, Any]]) -> str:
        if not objs:
            return ""
        rows = ["NAME STATUS ROLES AGE VERSION"]
        for o in objs:
            name, status, roles, version = objects.node_row(o)
            rows.append(f"{name} {status} {roles} 1m {version}")
        return "\n".join(rows) + "\n"
    return table


def _object_table(objs: list[dict[str, Any]]) -> str:
    if not objs:
        return ""
    kind = objs[0].get("kind")
    if kind == "Service":
        return "NAME TYPE CLUSTER-IP EXTERNAL-IP PORT(S) AGE\n" + "".join(
            " ".join(objects.service_row(o)) + " 1m\n" for o in objs)
    if kind == "Pod":
        return "NAME READY STATUS RESTARTS AGE\n" + "".join(
            " ".join(str(c) for c in objects.pod_row(o)) + " 1m\n" for o in objs)
    if kind == "Event":
        return "LAST SEEN TYPE REASON OBJECT MESSAGE\n" + "".join(
            f"1m {o['type']} {o['reason']} {o['involvedObject'].get('kind', '').lower()}/"
            f"{o['involvedObject'].get('name', '')} {o['message']}\n" for o in objs)
    return "NAME AGE\n" + "".join(f"{o['metadata']['name']} 1m\n" for o in objs)


class Kubectl:
    """One kubectl invocation against a cluster; `delete_node` removes a Node for the service."""

    def __init__(self, cluster: Cluster, read_stdin: Callable[[], Awaitable[bytes]],
                 read_file: Callable[[str], bytes], time_scale: float,
                 delete_node: Callable[[Cluster, str], bool], network: PodNetwork | None = None) -> None:
        self.network = network
        """The pod network model `kubectl run` answers from (None: no pod can run a command)."""
        self.cluster = cluster
        self.read_stdin = read_stdin
        self.read_file = read_file
        self.time_scale = time_scale
        self.delete_node = delete_node

    async def run(self, args: list[str]) -> Result:
        """Run `kubectl ARGS...`."""
        if args and args[0] == "run":
            return await self._run(args[1:])
        try:
            words, opts = _split_args(args)
            if not words:
                raise _Usage("error: kubectl needs a command (get, apply, create, delete, ...)")
            verb, rest = words[0], words[1:]
            handler = {"get": self._get, "apply": self._apply, "create": self._create,
                       "delete": self._delete, "cordon": self._cordon, "uncordon": self._cordon,
                       "drain": self._drain, "wait": self._wait}.get(verb)
            if handler is None:
                raise _Usage(f"error: unknown command \"{verb}\" for \"kubectl\"")
            return await handler(verb, rest, opts)
        except _Usage as exc:
            return Result(1, err=str(exc) + "\n")

    def _kind(self, word: str) -> str:
        lower = word.lower()
        if lower in _ALIASES:
            return _ALIASES[lower]
        for kind in {k[0] for k in self.cluster.objects}:
            if lower in (kind.lower(), kind.lower() + "s", kind.lower() + "es"):
                return kind
        raise _Usage(f"error: the server doesn't have a resource type \"{word}\"")

    def _nodes(self) -> list[dict[str, Any]]:
        return objects.objects_of(self.cluster, "Node", None)

    async def _run(self, args: list[str]) -> Result:
        """`kubectl run` of a throwaway pod that runs one command (see `pod_exec.run_pod`)."""
        outcome = await run_pod(self.cluster, self.network, args, self.time_scale)
        return Result(outcome.code, out=outcome.out, err=outcome.err)

    async def _get(self, verb: str, rest: list[str], opts: dict[str, Any]) -> Result:
        if not rest:
            raise _Usage("error: you must specify the type of resource to get")
        what, names = rest[0], rest[1:]
        if "/" in what:
            what, name = what.split("/", 1)
            names = [name]
        output = opts.get("output")
        if what.lower() in ("node", "nodes", "no"):
            objs = self._nodes()
            if names:
                missing = [n for n in names if n not in self.cluster.nodes]
                if missing:
                    return Result(1, err=f"Error from server (NotFound): nodes \"{missing[0]}\" not found\n")
                objs = [o for o in objs if o["metadata"]["name"] in names]
            return Result(0, out=_render(objs, output, len(names) == 1, _node_table(self.cluster)))
        kind = self._kind(what)
        ns = "" if kind in _CLUSTER_SCOPED else str(opts.get("namespace", "default"))
        every = bool(opts.get("all-namespaces"))
        objs = [o for o in objects.objects_of(self.cluster, kind, None if every or not ns else ns)
                if not names or o["metadata"]["name"] in names]
        if names and not objs:
            plural = kind.lower() + "s"
            return Result(1, err=f"Error from server (NotFound): {plural} \"{names[0]}\" not found\n")
        if not objs and output is None:
            return Result(0, err=f"No resources found in {ns or 'the cluster'} namespace.\n")
        return Result(0, out=_render(objs, output, len(names) == 1, _object_table))

    def _store(self, obj: dict[str, Any], default_ns: str) -> str:
        """Validate and record one object; returns kubectl's line for it."""
        if not isinstance(obj, dict) or not obj.get("apiVersion") or not obj.get("kind"):
            raise _Usage("error: error validating data: [apiVersion not set, kind not set]; if you choose "
                         "to ignore these errors, turn validation off with --validate=false")
        meta = obj.get("metadata")
        if not isinstance(meta, dict) or not meta.get("name"):
            raise _Usage("error: error when retrieving current configuration: resource name may not be empty")
        kind = str(obj["kind"])
        ns = "" if kind in _CLUSTER_SCOPED else str(meta.get("namespace") or default_ns)
        if ns and ns not in _namespaces(self.cluster):
            raise _Usage(f"Error from server (NotFound): error when creating: namespaces \"{ns}\" not found")
        if ns:
            meta["namespace"] = ns
        key = (kind, ns, str(meta["name"]))
        if kind == "Secret" and isinstance(obj.get("stringData"), dict):
            # The API server merges stringData into data (base64) and never returns stringData.
            data = dict(obj.get("data") or {})
            data.update({str(k): base64.b64encode(str(v).encode()).decode() for k, v in obj.pop("stringData").items()})
            obj["data"] = data
        before = self.cluster.objects.get(key)
        if before is None:
            objects.stamp(self.cluster, obj, ns)
        else:
            # What the API server set on create stays: the uid (controllers key on it), the
            # creation time, a Service's cluster IP.
            for field in _STAMPED:
                if field in (before.get("metadata") or {}):
                    meta.setdefault(field, before["metadata"][field])
            if kind == "Service" and (before.get("spec") or {}).get("clusterIP"):
                spec = obj.setdefault("spec", {})
                spec.setdefault("clusterIP", before["spec"]["clusterIP"])
                spec.setdefault("clusterIPs", before["spec"].get("clusterIPs", [before["spec"]["clusterIP"]]))
        self.cluster.objects[key] = obj
        self.cluster.applied.append(key)
        if before is None:
            return f"{_resource_name(obj)} created"
        return f"{_resource_name(obj)} {'unchanged' if before == obj else 'configured'}"

    async def _apply(self, verb: str, rest: list[str], opts: dict[str, Any]) -> Result:
        source = opts.get("filename")
        if not source or rest:
            raise _Usage("error: must specify one of -f and -k")
        raw = await self.read_stdin() if source == "-" else self.read_file(str(source))
        try:
            docs = [d for d in yaml.safe_load_all(raw) if d is not None]
        except yaml.YAMLError as exc:
            return Result(1, err=f"error: error parsing {source}: error converting YAML to JSON: {exc}\n")
        if not docs:
            return Result(1, err="error: no objects passed to apply\n")
        items: list[Any] = []
        for d in docs:
            items += d.get("items", []) if isinstance(d, dict) and d.get("kind") == "List" else [d]
        lines = [self._store(d, str(opts.get("namespace", "default"))) for d in items]
        return Result(0, out="".join(line + "\n" for line in lines))

    async def _create(self, verb: str, rest: list[str], opts: dict[str, Any]) -> Result:
        if rest[:2] == ["secret", "generic"] and len(rest) == 3:
            ns = str(opts.get("namespace", "default"))
            data: dict[str, str] = {}
            for literal in str(opts.get("from-literal", "")).split("\0"):
                key, sep, value = literal.partition("=")
                if not sep or not key:
                    raise _Usage("error: from-literal must be KEY=VALUE")
                data[key] = base64.b64encode(value.encode()).decode()
            obj: dict[str, Any] = {"apiVersion": "v1", "kind": "Secret", "type": str(opts.get("type", "Opaque")),
                   "metadata": {"name": rest[2], "namespace": ns}, "data": data}
        elif rest[:1] in (["namespace"], ["ns"]) and len(rest) == 2:
            obj = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": rest[1]}}
        else:
            raise _Usage("error: supported: create secret generic NAME --from-literal=K=V, create namespace NAME")
        if opts.get("dry-run") == "client":
            return Result(0, out=_render([obj], opts.get("output") or "name", True, _object_table))
        made = (str(obj["kind"]), str(obj["metadata"].get("namespace", "")), str(obj["metadata"]["name"]))
        if made in self.cluster.objects:
            plural = "secrets" if obj["kind"] == "Secret" else "namespaces"
            return Result(1, err=f"error: failed to create {made[0].lower()}: {plural} "
                                 f"\"{made[2]}\" already exists\n")
        line = self._store(obj, made[1])
        return Result(0, out=line + "\n")

    async def _delete(self, verb: str, rest: list[str], opts: dict[str, Any]) -> Result:
        if len(rest) == 1 and "/" in rest[0]:
            rest = rest[0].split("/", 1)
        if len(rest) < 2:
            raise _Usage("error: resource(s) were provided, but no name was specified")
        what, names = rest[0], rest[1:]
        out, err = [], []
        for name in names:
            if what.lower() in ("node", "nodes", "no"):
                found = self.delete_node(self.cluster, name)
                label = f"node/{name}"
            else:
                kind = self._kind(what)
                ns = "" if kind in _CLUSTER_SCOPED else str(opts.get("namespace", "default"))
                found = self.cluster.objects.pop((kind, ns, name), None) is not None
                label = f"{kind.lower()}/{name}"
            if found:
                out.append(f"{label} deleted\n")
            elif not opts.get("ignore-not-found"):
                err.append(f"Error from server (NotFound): {what} \"{name}\" not found\n")
        return Result(1 if err else 0, out="".join(out), err="".join(err))

    async def _cordon(self, verb: str, rest: list[str], opts: dict[str, Any]) -> Result:
        if len(rest) != 1:
            raise _Usage(f"error: USAGE: {verb} NODE")
        node = self.cluster.nodes.get(rest[0])
        if node is None:
            return Result(1, err=f"Error from server (NotFound): nodes \"{rest[0]}\" not found\n")
        node.unschedulable = verb != "uncordon"
        return Result(0, out=f"node/{rest[0]} {verb}ed\n")

    async def _drain(self, verb: str, rest: list[str], opts: dict[str, Any]) -> Result:
        result = await self._cordon("cordon", rest, opts)
        if result.code != 0:
            return result
        if not opts.get("ignore-daemonsets"):
            return Result(1, out=result.out, err=f"error: unable to drain node \"{rest[0]}\" due to error: "
                          "cannot delete DaemonSet-managed Pods (use --ignore-daemonsets to ignore)\n")
        return Result(0, out=result.out + f"node/{rest[0]} drained\n")

    async def _wait(self, verb: str, rest: list[str], opts: dict[str, Any]) -> Result:
        condition = str(opts.get("for", ""))
        if condition.lower() != "condition=ready":
            raise _Usage("error: supported: wait --for=condition=Ready node/NAME | nodes --all")
        m = re.fullmatch(r"(\d+(?:\.\d+)?)(s|m)?", str(opts.get("timeout", "30s")))
        if not m:
            raise _Usage("error: invalid --timeout")
        timeout = min(float(m.group(1)) * (60 if m.group(2) == "m" else 1), WAIT_LIMIT)
        targets = [w.split("/", 1)[1] for w in rest if "/" in w]
        if rest and rest[0] in ("nodes", "node", "no") and opts.get("all"):
            targets = sorted(self.cluster.nodes)
        if not targets:
            raise _Usage("error: resource name may not be empty")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout * self.time_scale
        pending = list(targets)
        while True:
            for name in list(pending):
                node = self.cluster.nodes.get(name)
                if node is None:
                    return Result(1, err=f"Error from server (NotFound): nodes \"{name}\" not found\n")
                if self.cluster.is_ready(node):
                    pending.remove(name)
            if not pending or loop.time() >= deadline:
                break
            await asyncio.sleep(max(0.01, min(0.5, 0.5 * self.time_scale)))
        out = "".join(f"node/{n} condition met\n" for n in targets if n not in pending)
        if pending:
            return Result(1, out=out, err=f"error: timed out waiting for the condition on nodes/{pending[0]}\n")
        return Result(0, out=out)
