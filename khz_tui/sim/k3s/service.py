"""k3s on the simulated machines: installs, joins, the systemd unit's life, and the clusters formed.

Timings at time scale 1: first server 20 s, a joining server or agent 15 s, Ready 10 s after
start, a restart 5 s, an unreachable `server` URL blocks 120 s before the unit fails. All are
multiplied by the simulator's time scale.
"""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from khz_tui.sim.k3s.apiserver import KubeApis, server_sans
from khz_tui.sim.k3s.cluster import Cluster, ClusterNode
from khz_tui.sim.k3s.controllers.network import PodNetwork
from khz_tui.sim.k3s.controllers.runner import ControllerRunner
from khz_tui.sim.k3s.install import CHANNELS, InstallError, InstallRequest, read_config
from khz_tui.sim.k3s.kubeconfig import admin_kubeconfig, make_certificates
from khz_tui.sim.k3s.objects import service_ip

FIRST_SERVER_SECONDS = 20.0
JOIN_SECONDS = 15.0
READY_SECONDS = 10.0
RESTART_SECONDS = 5.0
UNREACHABLE_SECONDS = 120.0
REJECT_SECONDS = 2.0
"""How long k3s runs before giving up on a wrong token or a busy etcd."""

TOKEN_PATH = "/var/lib/rancher/k3s/server/node-token"
KUBECONFIG_PATH = "/etc/rancher/k3s/k3s.yaml"
CONFIG_PATH = "/etc/rancher/k3s/config.yaml"
log = logging.getLogger(__name__)
UNIT_FAILED = "Job for {unit}.service failed because the control process exited with error code.\n" \
              "See \"systemctl status {unit}.service\" and \"journalctl -xeu {unit}.service\" for details.\n"

Write = Callable[[str], Awaitable[None]]


class K3sFailed(Exception):
    """The k3s unit failed to start; `journal` is the line k3s logged (never containing the token)."""

    def __init__(self, journal: str) -> None:
        super().__init__(journal)
        self.journal = journal


class K3sService:
    """Every simulated k3s cluster, and the k3s unit of every machine."""

    def __init__(self, cloud: Any, machines: dict[int, Any], *, time_scale: float, seed: int) -> None:
        self.cloud = cloud
        self.machines = machines
        self.time_scale = time_scale
        self.seed = seed
        self.clusters: list[Cluster] = []
        self.channels = dict(CHANNELS)
        """Where each update channel points in this simulated world (`SimNodes.publish_release` moves one)."""
        self._next_id = 1
        self._start_locks: dict[int, asyncio.Lock] = {}
        self.apis = KubeApis(cloud, cluster_of=self.cluster_of, listening=self._api_listening)
        """The TLS Kubernetes API of every cluster on 6443."""
        self.controllers = ControllerRunner(lambda: self.clusters, self._api_endpoint, time_scale)
        """The in-cluster controllers (hcloud CCM, CSI driver) of every cluster."""

    def _api_endpoint(self) -> str:
        endpoint = getattr(self.cloud, "api_endpoint", None)
        return endpoint() if callable(endpoint) else ""

    # --- what controllers may ask about machines ---------------------------------------------

    def services(self, server_id: int) -> dict[str, str]:
        """systemd units of a machine and their state (empty when it is off or gone)."""
        machine = self.machines.get(server_id)
        return dict(machine.services) if machine is not None and machine.state == "running" else {}

    def has_file(self, server_id: int, path: str) -> bool:
        """Whether a file exists on a machine."""
        machine = self.machines.get(server_id)
        return machine is not None and machine.fs.is_file(path)

    def interfaces(self, server_id: int) -> dict[str, str]:
        """A machine's interfaces (public first), for the pod network model."""
        machine = self.machines.get(server_id)
        return machine.interfaces() if machine is not None else {}

    def networks_of(self, server_id: int) -> dict[int, str]:
        """Private network id -> the machine's address in it."""
        machine = self.machines.get(server_id)
        return dict(machine.spec.private_ips) if machine is not None else {}

    def firewall_rules(self, server_id: int) -> list[dict[str, Any]] | None:
        """Rules of the Firewalls applied to the server, as the API holds them."""
        rules = getattr(self.cloud, "firewall_rules_for", None)
        return rules(server_id) if callable(rules) else None

    def flannel_iface(self, server_id: int) -> str | None:
        """`flannel-iface` of the k3s on that machine."""
        machine = self.machines.get(server_id)
        return getattr(machine, "k3s_flannel_iface", None) if machine is not None else None

    def pod_network(self, cluster: Cluster) -> PodNetwork:
        """The pod network of a cluster, over these machines and the cloud's firewalls."""
        return PodNetwork(cluster, self)

    def _adopt(self, cluster: Cluster) -> Cluster:
        cluster.facts = self
        self.controllers.ensure_running()
        return cluster

    async def close(self) -> None:
        """Stop the controllers and the Kubernetes APIs."""
        await self.controllers.close()
        await self.apis.close()

    def _api_listening(self, server_id: int, port: int) -> bool:
        machine = self.machines.get(server_id)
        return port == 6443 and machine is not None and machine.state == "running" \
            and machine.services.get("k3s") == "active"

    # --- lookups ----------------------------------------------------------------------------

    def cluster_of(self, server_id: int) -> Cluster | None:
        """The cluster a machine belongs to, if any."""
        return next((c for c in self.clusters if c.node_for(server_id) is not None), None)

    def reachable_cluster(self, machine: Any, url: str) -> Cluster | None:
        """The cluster behind a `server` URL as seen from `machine`, or None when nothing answers."""
        m = re.fullmatch(r"https://([0-9.]+):(\d+)/?", url.strip())
        if not m:
            return None
        address, port = m.group(1), int(m.group(2))
        candidates: list[int] = []
        # Asked as this machine: a private address (a server's or a load balancer's) resolves only
        # inside the networks it is attached to; another network's 10.0.0.2 is not this one's.
        backends = self.cloud.load_balancer_backends(address, port, machine.server_id)
        if backends is not None:
            candidates = list(backends)
        elif port == 6443:
            owner = self.cloud.server_at(address, machine.server_id)
            if owner is not None:
                candidates = [owner]
        for sid in candidates:
            cluster = self.cluster_of(sid)
            node = cluster.node_for(sid) if cluster else None
            target = self.machines.get(sid)
            if node is not None and node.role == "server" and node.running and target is not None \
                    and target.state == "running" and target.services.get("k3s") == "active":
                return cluster
        return None

    # --- install ----------------------------------------------------------------------------

    def _sleep(self, seconds: float) -> Awaitable[None]:
        return asyncio.sleep(seconds * self.time_scale)

    async def install(self, machine: Any, request: InstallRequest, out: Write, err: Write, *,
                      reboot_midway: bool) -> int:
        """Run the installer's steps on `machine`; returns the installer's exit code."""
        unit = "k3s" if request.role == "server" else "k3s-agent"
        fs = machine.fs
        await out(f"[INFO]  Using {request.version} as release\n")
        await out(f"[INFO]  Downloading binary https://github.com/k3s-io/k3s/releases/download/"
                  f"{request.version}/k3s\n")
        await self._sleep(1.0)
        await out("[INFO]  Verifying binary download\n[INFO]  Installing k3s to /usr/local/bin/k3s\n")
        fs.mkdir("/usr/local/bin", parents=True)
        fs.write("/usr/local/bin/k3s", f"k3s {request.version}\n".encode(), mode=0o755)
        fs.write("/usr/local/bin/kubectl", b"-> k3s\n", mode=0o755)
        fs.write("/usr/local/bin/k3s-killall.sh", b"#!/bin/sh\n", mode=0o755)
        uninstall = "k3s-uninstall.sh" if request.role == "server" else "k3s-agent-uninstall.sh"
        fs.write(f"/usr/local/bin/{uninstall}", b"#!/bin/sh\n", mode=0o755)
        await out(f"[INFO]  Creating killall script /usr/local/bin/k3s-killall.sh\n"
                  f"[INFO]  Creating uninstall script /usr/local/bin/{uninstall}\n")
        # The env file holds K3S_* variables as the real installer writes them: root-only.
        fs.write(f"/etc/systemd/system/{unit}.service.env", b"", mode=0o600)
        fs.write(f"/etc/systemd/system/{unit}.service",
                 f"[Service]\nExecStart=/usr/local/bin/k3s {request.role}\n".encode())
        await out(f"[INFO]  systemd: Creating service file /etc/systemd/system/{unit}.service\n")
        if reboot_midway:
            # The fault: the machine goes down before the unit is enabled, so after the reboot
            # k3s is installed but not running and the installer must be run again.
            machine.host.reboot_from_inside(machine)
            await asyncio.sleep(3600)
        machine.enabled.add(unit)
        machine.k3s_request = request
        await out(f"[INFO]  systemd: Enabling {unit} unit\n[INFO]  systemd: Starting {unit}\n")
        try:
            await self.start_unit(machine, request)
        except K3sFailed as failure:
            machine.services[unit] = "failed"
            # The real installer only says the unit failed; k3s' own log line is added so the
            # reason (wrong token, busy etcd, ...) reaches the caller without a journalctl command.
            await err(f"{unit}: level=fatal msg=\"{failure.journal}\"\n" + UNIT_FAILED.format(unit=unit))
            return 1
        return 0

    async def start_unit(self, machine: Any, request: InstallRequest) -> None:
        """What `systemctl start k3s` does: start or join a cluster (raises K3sFailed).

        Like systemd, one start job per machine at a time: a second start while one is running (an
        installer run again after the first one's SSH session was lost) waits for the first to end,
        then runs (finding the machine already a member, it restarts with the new settings)."""
        lock = self._start_locks.setdefault(machine.server_id, asyncio.Lock())
        async with lock:
            await self._start_unit(machine, request)
            await self._serve_api(machine, request)

    async def _serve_api(self, machine: Any, request: InstallRequest) -> None:
        """A server unit that came up serves the Kubernetes API on its public IPv4:6443."""
        cluster = self.cluster_of(machine.server_id)
        node = cluster.node_for(machine.server_id) if cluster else None
        if cluster is None or node is None or request.role != "server" or machine.services.get("k3s") != "active":
            return
        sans = server_sans(request, node.name, next(iter(machine.interfaces().values()), None),
                           service_ip(cluster, 1))
        try:
            await self.apis.server_up(machine.server_id, machine.spec.public_ipv4, cluster, sans)
        except OSError as exc:  # k3s itself would keep running; only the listener is missing
            log.warning("%s: the Kubernetes API cannot listen: %s", machine.name, exc)

    async def _start_unit(self, machine: Any, request: InstallRequest) -> None:
        unit = "k3s" if request.role == "server" else "k3s-agent"
        machine.services[unit] = "activating"
        existing = self.cluster_of(machine.server_id)
        node = existing.node_for(machine.server_id) if existing else None
        resumable = machine.fs.is_dir("/var/lib/rancher/k3s/agent")
        if existing is not None and node is not None and node.role == request.role and resumable:
            # Already a member (reinstall or restart): k3s resumes with its data directory.
            await self._sleep(RESTART_SECONDS)
            self._join(existing, machine, request)
            self._finish(existing, machine, unit, request)
            return
        if request.role == "server" and not request.server_url:
            await self._sleep(FIRST_SERVER_SECONDS)
            founded = self._new_cluster(request)
            self._join(founded, machine, request)
            self._finish(founded, machine, unit, request)
            return
        url = request.server_url or ""
        cluster = self.reachable_cluster(machine, url)
        if cluster is None:
            await self._sleep(UNREACHABLE_SECONDS)
            raise K3sFailed(f"failed to get CA certs: Get \"{url}/cacerts\": dial tcp: i/o timeout")
        if not cluster.accepts_token(request.token):
            await self._sleep(REJECT_SECONDS)
            raise K3sFailed(f"starting kubernetes: preparing server: failed to validate token: "
                            f"{url}/v1-k3s/server-bootstrap: 401 Unauthorized")
        name = str(request.value("node-name") or machine.name)
        holder = cluster.nodes.get(name)
        if holder is not None and holder.server_id != machine.server_id:
            # k3s keeps a node password per node name; another machine under the same name is
            # refused until the old Node object (and with it the password secret) is deleted.
            await self._sleep(REJECT_SECONDS)
            raise K3sFailed(f"Node password rejected, duplicate hostname or contents of "
                            f"'/etc/rancher/node/password' may not match server node-passwd entry, "
                            f"try enabling a unique node name with the --with-node-id flag (node {name})")
        if request.role == "server":
            if cluster.learner is not None and cluster.learner != machine.server_id:
                await self._sleep(REJECT_SECONDS)
                raise K3sFailed("starting kubernetes: preparing server: start managed database: "
                                "joining etcd cluster: etcdserver: too many learner members in cluster")
            cluster.learner = machine.server_id
            try:
                await self._sleep(JOIN_SECONDS)
            finally:
                if cluster.learner == machine.server_id:
                    cluster.learner = None
        else:
            await self._sleep(JOIN_SECONDS)
        self._join(cluster, machine, request)
        self._finish(cluster, machine, unit, request)

    def _new_cluster(self, request: InstallRequest) -> Cluster:
        token = request.token
        secret = token.split("::server:", 1)[1] if token and "::server:" in token else token
        cluster = Cluster(id=self._next_id, secret=secret or secrets.token_hex(16),
                          certificates=make_certificates(), version=request.version,
                          service_cidr=str(request.value("service-cidr") or "10.43.0.0/16").split(",")[0],
                          flannel_backend=str(request.value("flannel-backend") or "vxlan"),
                          disabled=request.values("disable"))
        self._next_id += 1
        self.clusters.append(self._adopt(cluster))
        return cluster

    def _join(self, cluster: Cluster, machine: Any, request: InstallRequest) -> None:
        name = str(request.value("node-name") or machine.name)
        labels = dict(p.partition("=")[::2] for p in request.values("node-label"))
        taints = []
        for t in request.values("node-taint"):
            key, _, rest = t.partition("=")
            value, _, effect = rest.rpartition(":")
            if not effect:
                key, _, effect = key.partition(":")
            taints.append({"key": key, "value": value, "effect": effect} if value
                          else {"key": key, "effect": effect})
        node_ips = request.values("node-ip")
        external = request.values("node-external-ip")
        ifaces = machine.interfaces()
        flannel_iface = request.value("flannel-iface")
        network_ok = all(ip in ifaces.values() for ip in node_ips) and (
            flannel_iface is None or flannel_iface in ifaces)
        default_ip = ifaces.get("eth0") or next(iter(ifaces.values()), "127.0.0.1")
        node = cluster.nodes.get(name)
        created = node.created if node else None
        node = ClusterNode(
            name=name, server_id=machine.server_id, role=request.role,
            internal_ip=node_ips[0] if node_ips else default_ip,
            external_ip=external[0] if external else None, labels=labels, taints=taints,
            network_ok=network_ok,
            external_cloud_provider="cloud-provider=external" in request.values("kubelet-arg"),
            running=True, ready_at=asyncio.get_running_loop().time() + READY_SECONDS * self.time_scale,
            version=request.version, architecture="arm64" if machine.spec.architecture == "arm" else "amd64",
            location=machine.spec.location, server_type=machine.spec.server_type,
            unschedulable=node.unschedulable if node else False,
        )
        if created is not None:
            node.created = created
        cluster.nodes[name] = node
        machine.k3s_flannel_iface = flannel_iface
        machine.k3s_node_ips = node_ips

    def _finish(self, cluster: Cluster, machine: Any, unit: str, request: InstallRequest) -> None:
        machine.services[unit] = "active"
        machine.k3s_request = request
        fs = machine.fs
        fs.mkdir("/var/lib/rancher/k3s/agent", parents=True)  # k3s' data dir: a restart resumes from it
        if request.role == "server":
            fs.mkdir("/var/lib/rancher/k3s/server/manifests", parents=True)
            fs.write(TOKEN_PATH, (cluster.token + "\n").encode(), mode=0o600)
            fs.write("/var/lib/rancher/k3s/server/token", (cluster.token + "\n").encode(), mode=0o600)
            fs.mkdir("/etc/rancher/k3s", parents=True)
            mode = int(str(request.value("write-kubeconfig-mode") or "600"), 8)
            fs.write(KUBECONFIG_PATH, admin_kubeconfig(cluster.certificates).encode(), mode=mode)

    # --- unit lifecycle ---------------------------------------------------------------------

    def stop_unit(self, machine: Any) -> None:
        """k3s-killall.sh / systemctl stop: the processes end, the node turns NotReady."""
        for unit in ("k3s", "k3s-agent"):
            if unit in machine.services:
                machine.services[unit] = "inactive"
        self.apis.server_down(machine.server_id)
        cluster = self.cluster_of(machine.server_id)
        node = cluster.node_for(machine.server_id) if cluster else None
        if node is not None:
            node.running = False

    def uninstall(self, machine: Any) -> None:
        """k3s-uninstall.sh: processes stop and files go; the Node object stays until deleted."""
        self.stop_unit(machine)
        for unit in ("k3s", "k3s-agent"):
            machine.services.pop(unit, None)
            machine.enabled.discard(unit)
        fs = machine.fs
        for path in ("/var/lib/rancher/k3s", "/etc/rancher/k3s"):
            fs.remove_tree(path)
        for name in ("k3s", "kubectl", "k3s-killall.sh", "k3s-uninstall.sh", "k3s-agent-uninstall.sh"):
            if fs.is_file(f"/usr/local/bin/{name}"):
                fs.remove(f"/usr/local/bin/{name}")
        for unit in ("k3s", "k3s-agent"):
            for suffix in ("", ".env"):
                if fs.is_file(f"/etc/systemd/system/{unit}.service{suffix}"):
                    fs.remove(f"/etc/systemd/system/{unit}.service{suffix}")
        machine.k3s_request = None

    def machine_stopped(self, machine: Any) -> None:
        """Power off or reboot: k3s stops with the machine."""
        self.stop_unit(machine)
        cluster = self.cluster_of(machine.server_id)
        if cluster is not None and cluster.learner == machine.server_id:
            cluster.learner = None

    def _reread(self, machine: Any) -> InstallRequest | None:
        """k3s reads config.yaml every time it starts, not only when installed (k3s docs, "Configuration
        File"), so a changed file takes effect at the next start. The simulator does not keep the
        installer's flags apart from the file: a key the file now sets wins."""
        request: InstallRequest | None = getattr(machine, "k3s_request", None)
        if request is None or not machine.fs.is_file(CONFIG_PATH):
            return request
        try:
            config = read_config(machine.fs.read_text(CONFIG_PATH))
        except InstallError:
            return request
        reread = InstallRequest(role=request.role, version=request.version, settings={**request.settings, **config})
        machine.k3s_request = reread
        return reread

    def machine_started(self, machine: Any) -> None:
        """Boot: systemd starts an enabled k3s unit, which rejoins its cluster."""
        request = self._reread(machine)
        for unit in ("k3s", "k3s-agent"):
            if unit in machine.enabled and request is not None:
                machine.spawn(self._restart(machine, unit, request))

    async def _restart(self, machine: Any, unit: str, request: InstallRequest) -> None:
        try:
            await self.start_unit(machine, request)
        except K3sFailed:
            machine.services[unit] = "failed"

    def restart(self, machine: Any, unit: str) -> Awaitable[None] | None:
        """`systemctl restart|start UNIT`, when the unit was installed."""
        request = self._reread(machine)
        if request is None or unit not in ("k3s", "k3s-agent"):
            return None
        self.stop_unit(machine)
        return self.start_unit(machine, request)

    def addresses_changed(self, machine: Any) -> None:
        """Networks changed: node-ip / flannel-iface may no longer (or now) exist."""
        cluster = self.cluster_of(machine.server_id)
        node = cluster.node_for(machine.server_id) if cluster else None
        if node is None:
            return
        ifaces = machine.interfaces()
        iface = getattr(machine, "k3s_flannel_iface", None)
        ips = getattr(machine, "k3s_node_ips", [])
        node.network_ok = all(ip in ifaces.values() for ip in ips) and (iface is None or iface in ifaces)

    def machine_removed(self, machine: Any) -> None:
        """The server was deleted: its k3s stops; the Node object stays NotReady until deleted."""
        self.stop_unit(machine)

    def delete_node(self, cluster: Cluster, name: str) -> bool:
        """`kubectl delete node`: the Node object goes (and for servers, its etcd member)."""
        return cluster.nodes.pop(name, None) is not None

    # --- persistence ------------------------------------------------------------------------

    def export_state(self) -> dict[str, Any]:
        """Clusters and each machine's installed k3s request."""
        return {
            "next_id": self._next_id,
            "clusters": [c.export() for c in self.clusters],
            "requests": {str(sid): {"role": m.k3s_request.role, "version": m.k3s_request.version,
                                    "settings": m.k3s_request.settings}
                         for sid, m in self.machines.items() if getattr(m, "k3s_request", None)},
            "services": {str(sid): m.services for sid, m in self.machines.items() if m.services},
        }

    def import_state(self, state: dict[str, Any]) -> None:
        """Restore what `export_state` wrote (machines must already be restored)."""
        self._next_id = int(state.get("next_id", 1))
        self.clusters = [Cluster.restore(c) for c in state.get("clusters", [])]
        for cluster in self.clusters:
            cluster.facts = self
        if self.clusters:
            self.controllers.ensure_running()
        for sid, req in state.get("requests", {}).items():
            machine = self.machines.get(int(sid))
            if machine is not None:
                machine.k3s_request = InstallRequest(**req)
        for sid, services in state.get("services", {}).items():
            machine = self.machines.get(int(sid))
            if machine is not None:
                machine.services = {u: ("inactive" if s == "active" else s) for u, s in services.items()}


__all__ = ["K3sFailed", "K3sService"]
