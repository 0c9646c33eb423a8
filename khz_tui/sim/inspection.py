"""Reading what a running simulator holds, for tests and benchmarks: `sim.inspect`.

A test asserts on what the simulated cloud and machines hold, not on the engine's word alone. It reads
them here, never through the simulator's internal tables: every query returns a frozen snapshot taken
when it is called (change the simulator through its API, its faults or `SimNodes`, then ask again).
Called from another thread than the simulator's event loop (a `SimulatorThread`, a synchronous test),
a query runs on that loop, so it never sees a half-made change.

Cloud resources (`kind` is the API's collection name: "servers", "networks", "load_balancers",
"volumes", "firewalls", "ssh_keys", "placement_groups"):

- `servers(selector="")`, `networks(...)`, `load_balancers(...)`, `volumes(...)`, `firewalls(...)`,
  `ssh_keys(...)`, `placement_groups(...)` -> records sorted by id; `selector` is a label selector in
  the API's syntax (`"khz-tui.io/cluster=demo"`, `"role in (cp,worker)"`).
- `server(name)`, `network(name)`, `load_balancer(name)`, `volume(name)`, `firewall(name)`,
  `placement_group(name)` -> the one record of that name (`LookupError` when there is none).
- `resources(kind, selector="")` -> the records of any kind; `find(kind, id)` -> one by id or None;
  `ids(kind)` -> every id of that kind.
- `backends(load_balancer)` -> the running servers a load balancer sends traffic to (label selectors
  resolved, `use_private_ip` honoured).
- `actions(kind=None, ident=None)` -> actions, oldest first; with `kind` only those about a resource of
  that kind, with `ident` too only those about that one.

Simulated machines and k3s (with `SimNodes`, the default node host; a simulator whose machines only
record calls has none):

- `k3s_clusters(servers=None)` -> every k3s cluster, or those with one of these server ids among its nodes.
- `machines()`, `machine(server_id)` -> the machines (power state, services, counters, k3s join settings).
- `read_file(server_id, path)`, `read_text(...)`, `file_mode(...)` -> a file on its disk.
- `host_public_key(server_id)` -> the host key its sshd presents; `ssh_target(server_id)` -> where it listens.
- `kube_api_target(address)` -> where the Kubernetes API of a public IPv4 listens (the address itself, or
  127.0.0.1 and a port of its own where loopback aliases cannot be bound).

`MachineInspection` has the machine and k3s queries alone, over a node host without a simulated cloud
(the node host's own tests).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, TypeVar

import asyncssh

from khz_tui.sim.api.firewalls import firewall_ids_of
from khz_tui.sim.api.labels import matches
from khz_tui.sim.api.store import SINGULAR, CloudStore, Kind
from khz_tui.sim.contracts import NodeHost
from khz_tui.sim.k3s.cluster import Cluster
from khz_tui.sim.nodes.host import SimNodes
from khz_tui.sim.nodes.machine import Machine as SimMachine

T = TypeVar("T")


def _labels(record: dict[str, Any]) -> Mapping[str, str]:
    return MappingProxyType(dict(record.get("labels") or {}))


@dataclass(frozen=True)
class PrivateAddress:
    """A resource's address in one private network."""

    network: int
    ip: str


def _private_net(record: dict[str, Any]) -> tuple[PrivateAddress, ...]:
    return tuple(PrivateAddress(p["network"], p["ip"]) for p in record.get("private_net") or [])


@dataclass(frozen=True)
class Server:
    id: int
    name: str
    status: str
    """initializing, starting, running, stopping, off or deleting."""
    labels: Mapping[str, str]
    server_type: str
    location: str
    public_ipv4: str | None
    private_net: tuple[PrivateAddress, ...]
    placement_group: int | None
    firewalls: tuple[int, ...]
    """Ids of the firewalls that apply to it, directly or through a label selector."""

    @property
    def networks(self) -> tuple[int, ...]:
        """Ids of the private networks it is attached to."""
        return tuple(p.network for p in self.private_net)

    def private_ip(self, network: int) -> str | None:
        """Its address in a private network (None when not attached there)."""
        return next((p.ip for p in self.private_net if p.network == network), None)


@dataclass(frozen=True)
class Network:
    id: int
    name: str
    labels: Mapping[str, str]
    ip_range: str
    subnets: tuple[str, ...]
    """The subnets' ip ranges."""


@dataclass(frozen=True)
class FirewallRule:
    direction: str
    protocol: str
    port: str | None
    source_ips: tuple[str, ...]
    description: str | None


@dataclass(frozen=True)
class Firewall:
    id: int
    name: str
    labels: Mapping[str, str]
    rules: tuple[FirewallRule, ...]
    applied_to_servers: tuple[int, ...]
    """Servers it is applied to by id."""
    applied_to_selectors: tuple[str, ...]
    """Label selectors it is applied to."""
    servers: tuple[int, ...]
    """Every existing server it applies to, by id or by selector."""


@dataclass(frozen=True)
class LoadBalancerService:
    protocol: str
    listen_port: int
    destination_port: int


@dataclass(frozen=True)
class LoadBalancerTarget:
    """A server target (`server` set) or a label selector target (`label_selector` set)."""

    server: int | None
    label_selector: str | None
    use_private_ip: bool


@dataclass(frozen=True)
class LoadBalancer:
    id: int
    name: str
    labels: Mapping[str, str]
    type: str
    location: str
    public_ipv4: str | None
    private_net: tuple[PrivateAddress, ...]
    services: tuple[LoadBalancerService, ...]
    targets: tuple[LoadBalancerTarget, ...]


@dataclass(frozen=True)
class Volume:
    id: int
    name: str
    labels: Mapping[str, str]
    size: int
    location: str
    server: int | None
    """The server it is attached to."""
    automount: bool


@dataclass(frozen=True)
class PlacementGroup:
    id: int
    name: str
    labels: Mapping[str, str]
    type: str
    servers: tuple[int, ...]


@dataclass(frozen=True)
class SshKey:
    id: int
    name: str
    labels: Mapping[str, str]
    fingerprint: str
    public_key: str


Resource = Server | Network | LoadBalancer | Volume | Firewall | SshKey | PlacementGroup


@dataclass(frozen=True)
class Action:
    id: int
    command: str
    status: str
    """running, success or error."""
    resources: tuple[tuple[str, int], ...]
    """(type, id) of every resource it is about, type in the API's singular ("server", "volume")."""
    error: str | None
    """The error code of a failed action."""


@dataclass(frozen=True)
class K3sNode:
    """A Kubernetes Node: one k3s server or agent on one machine."""

    name: str
    server_id: int
    role: str
    """server or agent."""
    ready: bool
    """Its Ready condition when the snapshot was taken."""
    running: bool
    """Its k3s process runs."""
    version: str
    created: float
    """When the Node object was made (a node that kept its object keeps this)."""


@dataclass(frozen=True)
class K3sCluster:
    """One simulated k3s cluster. `id` tells two snapshots of the same cluster apart from another cluster."""

    id: int
    token: str
    """The full join token (`K10<ca hash>::server:<secret>`)."""
    secret: str
    flannel_backend: str
    addons: frozenset[str]
    """Add-ons found among the applied objects: hcloud-ccm, hcloud-csi, cilium, calico, longhorn,
    ingress-nginx, cert-manager, system-upgrade-controller, and traefik unless disabled."""
    learner: int | None
    """Server id of the server joining etcd as a learner right now."""
    cloud_controller_running: bool
    nodes: Mapping[str, K3sNode]
    """Node name -> node."""
    secrets: Mapping[tuple[str, str], Mapping[str, str]] = field(repr=False)
    """(namespace, name) -> the decoded values of every Secret."""

    @property
    def ready_nodes(self) -> set[str]:
        """Names of the nodes that are Ready."""
        return {n.name for n in self.nodes.values() if n.ready}

    @property
    def server_ids(self) -> set[int]:
        """Servers under its nodes."""
        return {n.server_id for n in self.nodes.values()}

    def secret_value(self, namespace: str, name: str, key: str) -> str | None:
        """A decoded value of a Secret."""
        return self.secrets.get((namespace, name), {}).get(key)


@dataclass(frozen=True)
class K3sJoin:
    """What the k3s installer ran with on a machine: the server it joined through and its token."""

    role: str
    server_url: str | None
    token: str | None


@dataclass(frozen=True)
class Machine:
    """A simulated server's machine."""

    server_id: int
    name: str
    state: str
    """off, booting or running."""
    services: Mapping[str, str]
    """systemd unit -> active, activating, inactive or failed."""
    commands_run: int
    """Commands that reached it over SSH."""
    installs_started: int
    """k3s installer runs."""
    sshd_port: int
    first_boot_done: bool
    """cloud-init's first boot ran to its end."""
    never_reachable: bool
    """The fault layer keeps its sshd down for good."""
    k3s: K3sJoin | None
    """None while k3s is not installed."""


class MachineInspection:
    """Read-only queries over simulated machines and their k3s (a node host on its own, as in the node
    host's tests); `Inspection` adds the simulated cloud."""

    def __init__(self, nodes: NodeHost, loop: Callable[[], asyncio.AbstractEventLoop | None]) -> None:
        self._nodes = nodes
        self._loop = loop

    def _read(self, query: Callable[[], T]) -> T:
        """Run `query` on the simulator's loop (directly when already there, or when it is not running)."""
        loop = self._loop()
        if loop is None or not loop.is_running():
            return query()
        try:
            here = asyncio.get_running_loop()
        except RuntimeError:
            here = None
        if here is loop:
            return query()
        done: concurrent.futures.Future[T] = concurrent.futures.Future()

        def call() -> None:
            try:
                done.set_result(query())
            except BaseException as exc:  # noqa: BLE001 - handed to the calling thread
                done.set_exception(exc)

        loop.call_soon_threadsafe(call)
        return done.result(timeout=30)

    def k3s_clusters(self, servers: Iterable[int] | None = None) -> list[K3sCluster]:
        """Every simulated k3s cluster, or (given server ids) those with one of them among its nodes."""
        wanted = None if servers is None else set(servers)

        def query() -> list[K3sCluster]:
            clusters = self._sim_nodes().k3s.clusters
            now = self._now()
            return [_cluster(c, now) for c in clusters
                    if wanted is None or {n.server_id for n in c.nodes.values()} & wanted]

        return self._read(query)

    def machines(self) -> list[Machine]:
        """Every machine (a server gets one when it first boots), by server id."""
        return self._read(lambda: [self._machine_view(m) for _, m in sorted(self._sim_nodes().machines.items())])

    def machine(self, server_id: int) -> Machine:
        """The machine of a server (`LookupError` before it first booted or after it was deleted)."""

        return self._read(lambda: self._machine_view(self._machine(server_id)))

    def read_file(self, server_id: int, path: str) -> bytes:
        """A file on the machine's disk (`FileNotFoundError` when absent)."""
        return self._read(lambda: self._machine(server_id).fs.read(path))

    def read_text(self, server_id: int, path: str) -> str:
        return self.read_file(server_id, path).decode()

    def file_mode(self, server_id: int, path: str) -> int:
        """Permission bits of a file or directory on the machine's disk."""
        return self._read(lambda: self._machine(server_id).fs.mode(path))

    def host_public_key(self, server_id: int) -> asyncssh.SSHKey | None:
        """The ed25519 host key the machine's sshd presents (None before cloud-init's init stage)."""
        return self._read(lambda: self._sim_nodes().host_public_key(server_id))

    def ssh_target(self, server_id: int) -> tuple[str, int] | None:
        """Loopback host and port of the server's sshd (refusing until it has booted)."""
        return self._read(lambda: self._nodes.ssh_target(server_id))

    def kube_api_target(self, address: str) -> tuple[str, int] | None:
        """Where the Kubernetes API of a public IPv4 (a control plane's or a load balancer's) is reachable
        from this machine right now: `(address, 6443)` itself where loopback aliases work, `("127.0.0.1",
        port)` in the fallback; None while nothing listens there."""
        return self._read(lambda: self._sim_nodes().k3s.apis.target(address))

    def _now(self) -> float:
        """The simulator loop's clock, which k3s readiness is timed on (also once the loop has stopped)."""
        loop = self._loop()
        return loop.time() if loop is not None else time.monotonic()

    def _sim_nodes(self) -> SimNodes:
        if not isinstance(self._nodes, SimNodes):
            raise LookupError("this simulator's machines only record calls: it has no machines or k3s to inspect")
        return self._nodes

    def _machine_view(self, m: SimMachine) -> Machine:
        request = m.k3s_request
        join = None if request is None else K3sJoin(role=request.role, server_url=request.server_url, token=request.token)
        return Machine(server_id=m.server_id, name=m.name, state=m.state, services=MappingProxyType(dict(m.services)),
                       commands_run=m.commands_run, installs_started=m.installs_started, sshd_port=m.sshd_port_setting,
                       first_boot_done=m.first_boot_done, never_reachable=self._sim_nodes().never_reachable(m), k3s=join)

    def _machine(self, server_id: int) -> SimMachine:
        found = self._sim_nodes().machines.get(server_id)
        if found is None:
            raise LookupError(f"server {server_id} has no simulated machine (never booted, or deleted)")
        return found


class Inspection(MachineInspection):
    """Read-only queries over one simulator (see the module docstring)."""

    def __init__(self, cloud: CloudStore, nodes: NodeHost, loop: Callable[[], asyncio.AbstractEventLoop | None]) -> None:
        super().__init__(nodes, loop)
        self._cloud = cloud

    def resources(self, kind: Kind, selector: str = "") -> list[Resource]:
        """Records of one kind whose labels satisfy `selector` (every one when empty), by id."""
        return self._read(lambda: [self._record(kind, r) for r in self._selected(kind, selector)])

    def find(self, kind: Kind, ident: int) -> Resource | None:
        """The record of one kind with this id, or None."""
        return self._read(lambda: self._find(kind, ident))

    def ids(self, kind: Kind) -> set[int]:
        """The ids of every resource of one kind."""
        return self._read(lambda: set(self._cloud.tables[kind]))

    def servers(self, selector: str = "") -> list[Server]:
        return self._read(lambda: [self._server(r) for r in self._selected("servers", selector)])

    def networks(self, selector: str = "") -> list[Network]:
        return self._read(lambda: [_network(r) for r in self._selected("networks", selector)])

    def load_balancers(self, selector: str = "") -> list[LoadBalancer]:
        return self._read(lambda: [_load_balancer(r) for r in self._selected("load_balancers", selector)])

    def volumes(self, selector: str = "") -> list[Volume]:
        return self._read(lambda: [_volume(r) for r in self._selected("volumes", selector)])

    def firewalls(self, selector: str = "") -> list[Firewall]:
        return self._read(lambda: [self._firewall(r) for r in self._selected("firewalls", selector)])

    def ssh_keys(self, selector: str = "") -> list[SshKey]:
        return self._read(lambda: [_ssh_key(r) for r in self._selected("ssh_keys", selector)])

    def placement_groups(self, selector: str = "") -> list[PlacementGroup]:
        return self._read(lambda: [self._placement_group(r) for r in self._selected("placement_groups", selector)])

    def server(self, name: str) -> Server:
        return self._read(lambda: self._server(self._named("servers", name)))

    def network(self, name: str) -> Network:
        return self._read(lambda: _network(self._named("networks", name)))

    def load_balancer(self, name: str) -> LoadBalancer:
        return self._read(lambda: _load_balancer(self._named("load_balancers", name)))

    def volume(self, name: str) -> Volume:
        return self._read(lambda: _volume(self._named("volumes", name)))

    def firewall(self, name: str) -> Firewall:
        return self._read(lambda: self._firewall(self._named("firewalls", name)))

    def placement_group(self, name: str) -> PlacementGroup:
        return self._read(lambda: self._placement_group(self._named("placement_groups", name)))

    def backends(self, load_balancer: str) -> list[Server]:
        """The running servers a load balancer sends traffic to, by id."""

        def query() -> list[Server]:
            lb = self._named("load_balancers", load_balancer)
            return [self._server(s) for s in self._cloud.lb_target_servers(lb)]

        return self._read(query)

    def actions(self, kind: Kind | None = None, ident: int | None = None) -> list[Action]:
        """Every action, oldest first; with `kind`, only those about a resource of that kind; with `ident`
        too, only those about that one."""

        def query() -> list[Action]:
            found = [_action(r) for _, r in sorted(self._cloud.actions.records.items())]
            if kind is None:
                return found
            singular = SINGULAR[kind]
            return [a for a in found if any(t == singular and (ident is None or i == ident) for t, i in a.resources)]

        return self._read(query)

    def _selected(self, kind: Kind, selector: str) -> list[dict[str, Any]]:
        records = sorted(self._cloud.tables[kind].values(), key=lambda r: r["id"])
        return [r for r in records if not selector or matches(selector, r.get("labels") or {})]

    def _named(self, kind: Kind, name: str) -> dict[str, Any]:
        found = [r for r in self._cloud.tables[kind].values() if r["name"] == name]
        if not found:
            raise LookupError(f"the simulated cloud has no {SINGULAR[kind].replace('_', ' ')} named {name!r}")
        return found[0]  # names are unique per kind

    def _find(self, kind: Kind, ident: int) -> Resource | None:
        record = self._cloud.tables[kind].get(ident)
        return None if record is None else self._record(kind, record)

    def _record(self, kind: Kind, record: dict[str, Any]) -> Resource:
        if kind == "servers":
            return self._server(record)
        if kind == "firewalls":
            return self._firewall(record)
        if kind == "placement_groups":
            return self._placement_group(record)
        plain: dict[str, Callable[[dict[str, Any]], Resource]] = {
            "networks": _network, "load_balancers": _load_balancer, "volumes": _volume, "ssh_keys": _ssh_key}
        return plain[kind](record)

    def _server(self, r: dict[str, Any]) -> Server:
        return Server(
            id=r["id"], name=r["name"], status=r["status"], labels=_labels(r), server_type=r["server_type"],
            location=r["location"], public_ipv4=r.get("public_ipv4"), private_net=_private_net(r),
            placement_group=r.get("placement_group"), firewalls=tuple(firewall_ids_of(self._cloud, r)))

    def _firewall(self, r: dict[str, Any]) -> Firewall:
        direct = tuple(e["server"]["id"] for e in r["applied_to"] if e["type"] == "server")
        selectors = tuple(e["label_selector"]["selector"] for e in r["applied_to"] if e["type"] == "label_selector")
        covered = sorted(s["id"] for s in self._cloud.servers.values() if r["id"] in firewall_ids_of(self._cloud, s))
        rules = tuple(FirewallRule(direction=x["direction"], protocol=x["protocol"], port=x.get("port"),
                                   source_ips=tuple(x.get("source_ips") or ()), description=x.get("description"))
                      for x in r["rules"])
        return Firewall(id=r["id"], name=r["name"], labels=_labels(r), rules=rules, applied_to_servers=direct,
                        applied_to_selectors=selectors, servers=tuple(covered))

    def _placement_group(self, r: dict[str, Any]) -> PlacementGroup:
        members = tuple(sorted(s["id"] for s in self._cloud.servers.values() if s.get("placement_group") == r["id"]))
        return PlacementGroup(id=r["id"], name=r["name"], labels=_labels(r), type=r["type"], servers=members)

def _network(r: dict[str, Any]) -> Network:
    return Network(id=r["id"], name=r["name"], labels=_labels(r), ip_range=r["ip_range"],
                   subnets=tuple(s["ip_range"] for s in r["subnets"]))


def _load_balancer(r: dict[str, Any]) -> LoadBalancer:
    services = tuple(LoadBalancerService(s["protocol"], s["listen_port"], s["destination_port"]) for s in r["services"])
    targets = tuple(LoadBalancerTarget(server=t["server"]["id"] if t["type"] == "server" else None,
                                       label_selector=t["label_selector"]["selector"] if t["type"] == "label_selector" else None,
                                       use_private_ip=bool(t.get("use_private_ip")))
                    for t in r["targets"])
    return LoadBalancer(id=r["id"], name=r["name"], labels=_labels(r), type=r["type"], location=r["location"],
                        public_ipv4=r.get("public_ipv4"), private_net=_private_net(r), services=services, targets=targets)


def _volume(r: dict[str, Any]) -> Volume:
    return Volume(id=r["id"], name=r["name"], labels=_labels(r), size=r["size"], location=r["location"],
                  server=r.get("server"), automount=bool(r.get("automount")))


def _ssh_key(r: dict[str, Any]) -> SshKey:
    return SshKey(id=r["id"], name=r["name"], labels=_labels(r), fingerprint=r["fingerprint"], public_key=r["public_key"])


def _action(r: dict[str, Any]) -> Action:
    error = r.get("error")
    return Action(id=r["id"], command=r["command"], status=r["status"],
                  resources=tuple((x["type"], x["id"]) for x in r["resources"]),
                  error=error.get("code") if isinstance(error, dict) else None)


def _cluster(c: Cluster, now: float) -> K3sCluster:
    nodes = {name: K3sNode(name=n.name, server_id=n.server_id, role=n.role, ready=c.is_ready(n, now), running=n.running,
                           version=n.version, created=n.created)
             for name, n in c.nodes.items()}
    secrets: dict[tuple[str, str], Mapping[str, str]] = {}
    for (kind, namespace, name), obj in c.objects.items():
        if kind == "Secret":
            keys = [*(obj.get("data") or {}), *(obj.get("stringData") or {})]
            secrets[(namespace, name)] = MappingProxyType(
                {k: v for k in keys if (v := c.secret_value(namespace, name, k)) is not None})
    return K3sCluster(id=c.id, token=c.token, secret=c.secret, flannel_backend=c.flannel_backend,
                      addons=frozenset(c.addons), learner=c.learner, cloud_controller_running=c.cloud_controller_running(),
                      nodes=MappingProxyType(nodes), secrets=MappingProxyType(secrets))
