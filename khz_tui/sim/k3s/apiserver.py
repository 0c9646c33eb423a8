"""The Kubernetes API of every simulated cluster, over TLS on port 6443, for real clients (kubectl).

While a control plane's `k3s` unit is active, its public IPv4:6443 answers with the cluster's
serving certificate (signed by the server CA that the kubeconfig trusts) and authenticates client
certificates against the cluster's client CA. A load balancer's public IPv4:6443 forwards each TCP
connection, TLS untouched, to one healthy target (round robin), as Hetzner's TCP services do; with no
6443 service or no healthy target the connection is dropped.

The certificate's names follow k3s (server.go and cluster/https.go of k3s-io/k3s, cited below), so a
kubeconfig naming any other address fails certificate verification exactly as it does for real (k3s
>= 1.28 defaults to `tls-san-security: true`: names are not added from incoming connections).

Served: `/version`, discovery (`/api`, `/apis`, `/api/v1`; the legacy documents, which kubectl falls
back to from aggregated discovery), get/list of nodes, namespaces, pods, services and persistent volume
claims (JSON, or a `meta.k8s.io/v1` Table when asked), and create/delete of pods, services and claims.
"""

from __future__ import annotations

import asyncio
import ipaddress
import itertools
import json
import logging
import os
import socket
import ssl
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from khz_tui.sim.contracts import CloudView
from khz_tui.sim.k3s import objects
from khz_tui.sim.k3s.cluster import Cluster
from khz_tui.sim.k3s.install import InstallRequest
from khz_tui.sim.k3s.kubeconfig import serving_certificate

log = logging.getLogger(__name__)

API_PORT = 6443
LOOPBACK = ipaddress.IPv4Network("127.0.0.0/8")
PIPE_CHUNK = 65536

# name in the URL -> (kind, namespaced, short names, verbs served)
RESOURCES: dict[str, tuple[str, bool, list[str], list[str]]] = {
    "namespaces": ("Namespace", False, ["ns"], ["get", "list"]),
    "nodes": ("Node", False, ["no"], ["get", "list"]),
    "persistentvolumeclaims": ("PersistentVolumeClaim", True, ["pvc"], ["create", "delete", "get", "list"]),
    "pods": ("Pod", True, ["po"], ["create", "delete", "get", "list"]),
    "services": ("Service", True, ["svc"], ["create", "delete", "get", "list"]),
}


def server_sans(request: InstallRequest, node_name: str, default_ip: str | None, service_ip: str) -> list[str]:
    """The names k3s puts on the serving certificate for one server, in k3s' order.

    k3s-io/k3s pkg/cli/server/server.go: the `tls-san` list; the advertise address (`advertise-address`,
    else the first `node-external-ip`, else the first `node-ip`); "127.0.0.1", "::1", "localhost" and
    the node name; the node IPs (`node-ip`, else the address of the default interface); the
    `node-external-ip`s; the first address of the service CIDR (the `kubernetes` Service, 10.43.0.1).
    pkg/cluster/https.go (newListener, dynamiclistener): "kubernetes", "kubernetes.default",
    "kubernetes.default.svc" and "kubernetes.default.svc.<cluster-domain>"."""
    node_ips = request.values("node-ip") or ([default_ip] if default_ip else [])
    external = request.values("node-external-ip")
    advertise = request.value("advertise-address") or next(iter(external or node_ips), None)
    domain = str(request.value("cluster-domain") or "cluster.local")
    sans = [*request.values("tls-san"), *([advertise] if advertise else []),
            "127.0.0.1", "::1", "localhost", node_name, *node_ips, *external, service_ip,
            "kubernetes", "kubernetes.default", "kubernetes.default.svc", f"kubernetes.default.svc.{domain}"]
    return list(dict.fromkeys(str(s) for s in sans if s))


def _status(code: int, reason: str, message: str, details: dict[str, Any] | None = None) -> web.Response:
    body: dict[str, Any] = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                            "message": message, "reason": reason, "code": code}
    if details:
        body["details"] = details
    return web.json_response(body, status=code)


def _table(resource: str, objs: list[dict[str, Any]]) -> dict[str, Any]:
    """A meta.k8s.io/v1 Table, what kubectl asks for to print its default columns."""
    def age(o: dict[str, Any]) -> str:
        return "1m"  # the simulator's clock is scaled; kubectl only prints this

    if resource == "nodes":
        names = ["Name", "Status", "Roles", "Age", "Version"]
        rows = [[*objects.node_row(o)[:3], age(o), objects.node_row(o)[3]] for o in objs]
    elif resource == "pods":
        names = ["Name", "Ready", "Status", "Restarts", "Age"]
        rows = [[*objects.pod_row(o), age(o)] for o in objs]
    elif resource == "services":
        names = ["Name", "Type", "Cluster-IP", "External-IP", "Port(s)", "Age"]
        rows = [[*objects.service_row(o), age(o)] for o in objs]
    elif resource == "persistentvolumeclaims":
        names = ["Name", "Status", "Volume", "Capacity", "Access Modes", "StorageClass", "Age"]
        rows = [[o["metadata"]["name"], o["status"]["phase"], o["spec"].get("volumeName", ""),
                 (o["status"].get("capacity") or {}).get("storage", ""), ",".join(o["spec"].get("accessModes", [])),
                 o["spec"].get("storageClassName", ""), age(o)] for o in objs]
    elif resource == "namespaces":
        names = ["Name", "Status", "Age"]
        rows = [[o["metadata"]["name"], o["status"]["phase"], age(o)] for o in objs]
    else:
        names = ["Name", "Age"]
        rows = [[o["metadata"]["name"], age(o)] for o in objs]
    return {
        "kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": {"resourceVersion": "1"},
        "columnDefinitions": [{"name": n, "type": "integer" if n == "Restarts" else "string",
                               "format": "name" if n == "Name" else "", "description": n, "priority": 0} for n in names],
        "rows": [{"cells": cells, "object": o} for cells, o in zip(rows, objs)],
    }


def _openapi_v1() -> dict[str, Any]:
    """The OpenAPI v3 document of the core group, reduced to what kubectl reads from it: whether each
    kind's PATCH takes the `fieldValidation` query parameter (kubectl's QueryParamVerifierV3). With it
    kubectl leaves validation to the server instead of downloading the whole schema (/openapi/v2)."""
    paths: dict[str, Any] = {}
    validation = [{"name": "fieldValidation", "in": "query", "schema": {"type": "string", "uniqueItems": True}}]
    for name, (kind, namespaced, _short, verbs) in sorted(RESOURCES.items()):
        gvk = {"group": "", "version": "v1", "kind": kind}
        prefix = "/api/v1/namespaces/{namespace}/" if namespaced else "/api/v1/"
        operation = {"parameters": validation, "x-kubernetes-group-version-kind": gvk}
        paths[f"{prefix}{name}"] = {"post" if "create" in verbs else "get": operation}
        paths[f"{prefix}{name}/{{name}}"] = {"patch": operation}
    return {"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": "v1"}, "paths": paths,
            "components": {"schemas": {}}}


def _wants_table(request: web.Request) -> bool:
    return "as=Table" in request.headers.get("Accept", "")


@dataclass
class _Listener:
    """A bound listener: where it really listens (the address itself, or 127.0.0.1:port as fallback)."""

    host: str
    port: int
    site: web.SockSite | None = None
    server: asyncio.AbstractServer | None = None


async def _bind_site(runner: web.AppRunner, address: str | None, ctx: ssl.SSLContext) -> _Listener:
    """A TLS site on address:6443, or on 127.0.0.1 with a free port where that address cannot be bound."""
    candidates = [(address, API_PORT)] if address and ipaddress.ip_address(address) in LOOPBACK else []
    for host, port in [*candidates, ("127.0.0.1", 0)]:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            sock.close()
            continue
        site = web.SockSite(runner, sock, ssl_context=ctx)
        await site.start()
        return _Listener(host, sock.getsockname()[1], site=site)
    raise OSError("no loopback address to listen on")


def _load_chain(ctx: ssl.SSLContext, cert: str, key: str) -> None:
    # The ssl module loads chains from files only: a private temporary file, removed at once.
    fd, path = tempfile.mkstemp(prefix="k3s-serving-", suffix=".pem")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(cert + key)
        ctx.load_cert_chain(path)
    finally:
        os.unlink(path)


class KubeApis:
    """Every TLS listener on 6443: one per active control plane, one per load balancer."""

    def __init__(self, cloud: CloudView, *, cluster_of: Callable[[int], Cluster | None],
                 listening: Callable[[int, int], bool]) -> None:
        self.cloud = cloud
        self.cluster_of = cluster_of
        self.listening = listening
        self._runner: web.AppRunner | None = None
        self._servers: dict[int, _Listener] = {}
        self._public: dict[int, str | None] = {}
        self._owners: dict[tuple[str, int], int] = {}
        self._contexts: dict[int, tuple[tuple[str, ...], ssl.SSLContext]] = {}
        self._lbs: dict[str, _Listener] = {}
        self._lock = asyncio.Lock()
        self._round_robin = itertools.count()
        self._pipes: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[Any]] = set()

    # --- lifecycle ------------------------------------------------------------------------

    async def _app_runner(self) -> web.AppRunner:
        if self._runner is None:
            app = web.Application(middlewares=[self._authenticate])
            app.router.add_route("*", "/{path:.*}", self._dispatch)
            self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
            await self._runner.setup()
        return self._runner

    def _context(self, cluster: Cluster) -> ssl.SSLContext:
        """The cluster's TLS context, its certificate reissued when the names grew (connections
        accepted afterwards get the new one, as dynamiclistener's reload does)."""
        sans = tuple(cluster.serving_sans)
        known = self._contexts.get(cluster.id)
        if known is not None and known[0] == sans:
            return known[1]
        ctx = known[1] if known else None
        if ctx is None:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.minimum_version = ssl.TLSVersion.TLSv1_2
            ctx.verify_mode = ssl.CERT_OPTIONAL
            certs = cluster.certificates
            ctx.load_verify_locations(cadata=certs.client_ca_cert or certs.ca_cert)
            ctx.set_alpn_protocols(["http/1.1"])
        _load_chain(ctx, *serving_certificate(cluster.certificates, list(sans)))
        self._contexts[cluster.id] = (sans, ctx)
        return ctx

    async def server_up(self, server_id: int, public_ipv4: str | None, cluster: Cluster, sans: list[str]) -> None:
        """A control plane's k3s unit became active: add its names, listen on its public IPv4:6443."""
        for san in sans:
            if san not in cluster.serving_sans:
                cluster.serving_sans.append(san)
        async with self._lock:
            ctx = self._context(cluster)
            if server_id in self._servers:
                return
            listener = await _bind_site(await self._app_runner(), public_ipv4, ctx)
            self._servers[server_id] = listener
            self._public[server_id] = public_ipv4
            self._owners[(listener.host, listener.port)] = server_id

    def server_down(self, server_id: int) -> None:
        """The unit stopped (or the machine went down): new connections are refused."""
        self._spawn(self._stop_server(server_id))

    async def _stop_server(self, server_id: int) -> None:
        async with self._lock:
            listener = self._servers.pop(server_id, None)
            self._public.pop(server_id, None)
            if listener is not None:
                self._owners.pop((listener.host, listener.port), None)
                if listener.site is not None:
                    await listener.site.stop()

    def load_balancers_changed(self) -> None:
        """Open listeners for new load balancers' public IPv4s, close those of deleted ones."""
        self._spawn(self._sync_lbs())

    async def _sync_lbs(self) -> None:
        async with self._lock:
            wanted = set(self.cloud.load_balancer_addresses())
            for address in [a for a in self._lbs if a not in wanted]:
                listener = self._lbs.pop(address)
                if listener.server is not None:
                    listener.server.close()
            for address in sorted(wanted - set(self._lbs)):
                self._lbs[address] = await self._bind_proxy(address)

    async def _bind_proxy(self, address: str) -> _Listener:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await self._forward(address, reader, writer)

        candidates = [(address, API_PORT)] if ipaddress.ip_address(address) in LOOPBACK else []
        for host, port in [*candidates, ("127.0.0.1", 0)]:
            try:
                server = await asyncio.start_server(handle, host, port)
            except OSError:
                continue
            return _Listener(host, server.sockets[0].getsockname()[1], server=server)
        raise OSError("no loopback address to listen on")

    async def _forward(self, address: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        backends = self.cloud.load_balancer_backends(address, API_PORT) or []
        healthy = [sid for sid in backends if sid in self._servers and self.listening(sid, API_PORT)]
        if not healthy:
            writer.transport.abort()
            return
        target = self._servers[healthy[next(self._round_robin) % len(healthy)]]
        try:
            up_reader, up_writer = await asyncio.open_connection(target.host, target.port)
        except OSError:
            writer.transport.abort()
            return
        self._pipes.update((writer, up_writer))
        try:
            await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))
        finally:
            self._pipes.difference_update((writer, up_writer))

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while chunk := await reader.read(PIPE_CHUNK):
                writer.write(chunk)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()

    def target(self, address: str) -> tuple[str, int] | None:
        """Where the API for a public IPv4 listens right now (see `Inspection.kube_api_target`)."""
        listener = self._lbs.get(address)
        if listener is None:
            sid = next((s for s, a in self._public.items() if a == address), None)
            listener = self._servers.get(sid) if sid is not None else None
        return (listener.host, listener.port) if listener else None

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        """Stop every listener and forwarded connection."""
        for task in list(self._tasks):
            task.cancel()
        for listener in self._lbs.values():
            if listener.server is not None:
                listener.server.close()
        self._lbs.clear()
        for writer in list(self._pipes):
            writer.transport.abort()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        self._servers.clear()
        self._owners.clear()

    # --- HTTP -----------------------------------------------------------------------------

    def _cluster(self, request: web.Request) -> Cluster | None:
        sockname = request.transport.get_extra_info("sockname") if request.transport else None
        sid = self._owners.get(tuple(sockname[:2])) if sockname else None
        return self.cluster_of(sid) if sid is not None else None

    @web.middleware
    async def _authenticate(self, request: web.Request,
                            handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
        # The handshake already verified a presented certificate against the client CA; no
        # certificate (or a bearer token, which the simulated cluster issues none of) is anonymous,
        # and k3s runs the apiserver with --anonymous-auth=false.
        ssl_object = request.transport.get_extra_info("ssl_object") if request.transport else None
        if ssl_object is None or not ssl_object.getpeercert():
            return _status(401, "Unauthorized", "Unauthorized")
        return await handler(request)

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        cluster = self._cluster(request)
        if cluster is None:
            return _status(503, "ServiceUnavailable", "the server is currently unable to handle the request")
        parts = [p for p in request.match_info["path"].split("/") if p]
        if request.method == "GET" and parts == ["version"]:
            return web.json_response(self._version(cluster))
        if request.method == "GET" and parts == ["api"]:
            return web.json_response({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [
                {"clientCIDR": "0.0.0.0/0", "serverAddress": f"{request.host}"}]})
        if request.method == "GET" and parts == ["apis"]:
            return web.json_response({"kind": "APIGroupList", "apiVersion": "v1", "groups": []})
        if request.method == "GET" and parts == ["api", "v1"]:
            return web.json_response(self._resource_list())
        if request.method == "GET" and parts == ["openapi", "v3"]:
            return web.json_response({"paths": {"api/v1": {"serverRelativeURL": "/openapi/v3/api/v1?hash=0"}}})
        if request.method == "GET" and parts == ["openapi", "v3", "api", "v1"]:
            return web.json_response(_openapi_v1())
        if parts[:2] == ["api", "v1"]:
            return await self._core(request, cluster, parts[2:])
        return _status(404, "NotFound", "the server could not find the requested resource")

    @staticmethod
    def _version(cluster: Cluster) -> dict[str, str]:
        core = cluster.version.lstrip("v").split("+")[0].split("-")[0].split(".")
        return {"major": core[0], "minor": core[1] if len(core) > 1 else "0", "gitVersion": cluster.version,
                "gitCommit": "0" * 40, "gitTreeState": "clean", "buildDate": "2025-01-01T00:00:00Z",
                "goVersion": "go1.24.4", "compiler": "gc", "platform": "linux/amd64"}

    @staticmethod
    def _resource_list() -> dict[str, Any]:
        return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "v1", "resources": [
            {"name": name, "singularName": name.rstrip("s") if name != "persistentvolumeclaims" else "persistentvolumeclaim",
             "namespaced": namespaced, "kind": kind, "verbs": verbs, "shortNames": short,
             **({"categories": ["all"]} if name in ("pods", "services") else {})}
            for name, (kind, namespaced, short, verbs) in sorted(RESOURCES.items())]}

    async def _core(self, request: web.Request, cluster: Cluster, rest: list[str]) -> web.StreamResponse:
        namespace: str | None = None
        if len(rest) >= 3 and rest[0] == "namespaces":
            namespace, rest = rest[1], rest[2:]
            if namespace not in objects.namespaces(cluster):
                return _status(404, "NotFound", f"namespaces \"{namespace}\" not found",
                               {"name": namespace, "kind": "namespaces"})
        if not rest or rest[0] not in RESOURCES or len(rest) > 2:
            return _status(404, "NotFound", "the server could not find the requested resource")
        resource, name = rest[0], (rest[1] if len(rest) == 2 else None)
        kind, namespaced, _short, verbs = RESOURCES[resource]
        if namespace is not None and not namespaced:
            return _status(404, "NotFound", "the server could not find the requested resource")
        verb = {"GET": "get" if name else "list", "POST": "create", "DELETE": "delete"}.get(request.method)
        if verb is None or verb not in verbs or (verb == "create" and (name or namespace is None)) \
                or (verb == "delete" and not name):
            return _status(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")
        if verb == "list":
            objs = objects.objects_of(cluster, kind, namespace if namespaced else None)
            if _wants_table(request):
                return web.json_response(_table(resource, objs))
            return web.json_response({"kind": f"{kind}List", "apiVersion": "v1",
                                      "metadata": {"resourceVersion": "1"}, "items": objs})
        assert name is not None or verb == "create"
        if verb == "get":
            obj = objects.object_named(cluster, kind, namespace or "", str(name))
            if obj is None:
                return _status(404, "NotFound", f"{resource} \"{name}\" not found", {"name": name, "kind": resource})
            return web.json_response(_table(resource, [obj]) if _wants_table(request) else obj)
        if verb == "create":
            return await self._create(request, cluster, resource, kind, str(namespace))
        return self._delete(request, cluster, resource, kind, str(namespace), str(name))

    async def _create(self, request: web.Request, cluster: Cluster, resource: str, kind: str,
                      namespace: str) -> web.Response:
        try:
            obj = json.loads(await request.read())
        except ValueError as exc:
            return _status(400, "BadRequest", f"the object provided is unrecognized: {exc}")
        if not isinstance(obj, dict) or obj.get("kind") != kind or obj.get("apiVersion") != "v1":
            version = obj.get("apiVersion") if isinstance(obj, dict) else ""
            return _status(400, "BadRequest", f"the API version in the data ({version}) "
                                              f"does not match the expected API version (v1) and kind ({kind})")
        meta: dict[str, Any] = obj["metadata"] if isinstance(obj.get("metadata"), dict) else {}
        name = meta.get("name")
        if not name:
            return _status(422, "Invalid", f"{kind} \"\" is invalid: metadata.name: Required value: name or "
                                           "generateName is required")
        if meta.get("namespace") not in (None, namespace):
            return _status(400, "BadRequest", "the namespace of the provided object does not match the "
                                              "namespace sent on the request")
        if objects.object_named(cluster, kind, namespace, str(name)) is not None:
            return _status(409, "AlreadyExists", f"{resource} \"{name}\" already exists",
                           {"name": name, "kind": resource})
        objects.stamp(cluster, obj, namespace)
        if "All" not in request.query.getall("dryRun", []):
            cluster.objects[(kind, namespace, str(name))] = obj
            cluster.applied.append((kind, namespace, str(name)))
        return web.json_response(objects.object_named(cluster, kind, namespace, str(name)) or obj, status=201)

    @staticmethod
    def _delete(request: web.Request, cluster: Cluster, resource: str, kind: str, namespace: str,
                name: str) -> web.Response:
        obj = cluster.objects.get((kind, namespace, name))
        if obj is None:
            return _status(404, "NotFound", f"{resource} \"{name}\" not found", {"name": name, "kind": resource})
        view = objects.object_named(cluster, kind, namespace, name) or obj
        if "All" not in request.query.getall("dryRun", []):
            del cluster.objects[(kind, namespace, name)]
        return web.json_response(view)
