"""Pod traffic between two nodes: where each CNI puts its tunnel endpoint, and whether packets
between those endpoints get through the Hetzner network and firewall.

Hetzner: a Firewall filters only a server's public interface (spec, Firewalls errors:
`private_net_only_server` "The Server the Firewall should be applied to has no public interface";
tag Networks: servers "talk to each other over a dedicated network interface using private IP
addresses"), "When applying a firewall with no `in` rule all inbound traffic will be dropped" and
with no `out` rule all outbound traffic is accepted (tag Firewalls). Rules match a protocol (tcp,
udp, icmp, esp, gre: IP-in-IP cannot be allowed at all), a port or range, and source (in) or
destination (out) CIDRs. A private address is reachable only from a server in the same network.

Tunnel endpoints:
- flannel (built into k3s): the address of `flannel-iface`; without it, the interface of the
  default route (k3s-io/k3s pkg/agent/flannel/flannel.go `LookupExtInterface`: "No interface defined
  for flannel in the config. Fetching the default gateway interface"), i.e. eth0, the public one.
  VXLAN on UDP 8472, `wireguard-native` on UDP 51820.
- Calico through tigera-operator: `installation.calicoNetwork.nodeAddressAutodetectionV4`; unset,
  the operator defaults it to `firstFound: true` (tigera/operator pkg/controller/installation/
  core_controller.go `updateInstallationWithDefaults`: "Default IPv4 address detection to \"first
  found\" if not specified"), which picks the first interface with an address: eth0. `kubernetes:
  NodeInternalIP` takes the Node's InternalIP (k3s `node-ip`), `interface`/`skipInterface` match
  names, `cidrs` match addresses, `canReach` the interface routing to that address. The pool's
  encapsulation: VXLAN on UDP 4789, IPIP (the operator's default) as IP protocol 4, None with no
  tunnel at all (pod routes must exist in the Hetzner network: the CCM's route controller).
- Cilium: the Node's InternalIP (cilium's node discovery), VXLAN on UDP 8472 (`tunnelProtocol`),
  Geneve on 6081; `routingMode: native` needs the CCM's routes like Calico's None.

A DNS query from a pod on node A to CoreDNS on node B needs A -> B and B -> A (VXLAN answers are
new packets to the peer's port, not replies of the same flow).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Any, Protocol

from khz_tui.sim.k3s.cluster import Cluster, ClusterNode
from khz_tui.sim.k3s.controllers import ccm
from khz_tui.sim.k3s.controllers.charts import chart_values

PUBLIC_IFACE = "eth0"
_CALICO_SKIP = re.compile(r"^(docker|cbr|dummy|virbr|lxcbr|veth|lo|cali|tunl|flannel|kube-ipvs|cni|vxlan|"
                          r"wireguard|wg|nodelocaldns)")


class Fabric(Protocol):
    """What the pod network needs to know about the machines and the cloud."""

    def interfaces(self, server_id: int) -> dict[str, str]:
        """Interface -> IPv4 of a machine, in the order the kernel lists them (public first)."""

    def networks_of(self, server_id: int) -> dict[int, str]:
        """Private network id -> the machine's address in it."""

    def firewall_rules(self, server_id: int) -> list[dict[str, Any]] | None:
        """Rules of the Firewalls applied to the server (None: no Firewall applies)."""

    def flannel_iface(self, server_id: int) -> str | None:
        """The `flannel-iface` k3s runs with on that machine."""


@dataclass(frozen=True)
class Tunnel:
    """Where a node's pod traffic leaves and enters: an address and the packets' protocol/port."""

    address: str | None
    protocol: str
    """udp, ipip, or none (plain routing)."""
    port: int | None
    cni: str


def cni_of(cluster: Cluster) -> str:
    """flannel, calico, cilium or none."""
    if cluster.flannel_backend != "none":
        return "flannel"
    addons = cluster.addons
    return "calico" if "calico" in addons else "cilium" if "cilium" in addons else "none"


def _calico_installation(cluster: Cluster) -> dict[str, Any]:
    applied = next((o for (k, _ns, n), o in cluster.objects.items() if k == "Installation" and n == "default"), None)
    if applied is not None:
        return dict(applied.get("spec") or {})
    values = chart_values(cluster, "tigera-operator") or {}
    return dict(values.get("installation") or {})


def _calico_address(spec: dict[str, Any], node: ClusterNode, ifaces: dict[str, str]) -> str | None:
    method = (spec.get("calicoNetwork") or {}).get("nodeAddressAutodetectionV4") or {"firstFound": True}
    usable = {n: a for n, a in ifaces.items() if not _CALICO_SKIP.match(n)}
    if method.get("kubernetes") == "NodeInternalIP":
        return node.internal_ip
    if method.get("interface"):
        return next((a for n, a in usable.items() if re.fullmatch(str(method["interface"]), n)), None)
    if method.get("skipInterface"):
        return next((a for n, a in usable.items() if not re.fullmatch(str(method["skipInterface"]), n)), None)
    if method.get("cidrs"):
        nets = [ipaddress.ip_network(str(c), strict=False) for c in method["cidrs"]]
        return next((a for a in usable.values() if any(ipaddress.ip_address(a) in n for n in nets)), None)
    if method.get("canReach"):
        target = ipaddress.ip_address(str(method["canReach"]))
        if target.is_private:
            return next((a for n, a in usable.items() if n != PUBLIC_IFACE), usable.get(PUBLIC_IFACE))
        return usable.get(PUBLIC_IFACE)
    return next(iter(usable.values()), None)  # firstFound


def tunnel(cluster: Cluster, node: ClusterNode, fabric: Fabric) -> Tunnel:
    """The node's tunnel endpoint under the cluster's CNI."""
    cni = cni_of(cluster)
    ifaces = fabric.interfaces(node.server_id)
    if cni == "flannel":
        iface = fabric.flannel_iface(node.server_id) or PUBLIC_IFACE
        return Tunnel(ifaces.get(iface), "udp", 51820 if cluster.flannel_backend == "wireguard-native" else 8472, cni)
    if cni == "calico":
        spec = _calico_installation(cluster)
        pools = (spec.get("calicoNetwork") or {}).get("ipPools") or [{}]
        encapsulation = str(pools[0].get("encapsulation") or "IPIP")
        address = _calico_address(spec, node, ifaces)
        if encapsulation.startswith("VXLAN"):
            return Tunnel(address, "udp", 4789, cni)
        return Tunnel(address, "ipip" if encapsulation.startswith("IPIP") else "none", None, cni)
    if cni == "cilium":
        values = chart_values(cluster, "cilium") or {}
        if values.get("routingMode") == "native":
            return Tunnel(node.internal_ip, "none", None, cni)
        geneve = values.get("tunnelProtocol") == "geneve"
        return Tunnel(node.internal_ip, "udp", 6081 if geneve else 8472, cni)
    return Tunnel(None, "none", None, cni)


def _port_matches(rule_port: Any, port: int | None) -> bool:
    if rule_port in (None, "", "any"):
        return True
    if port is None:
        return False
    text = str(rule_port)
    if "-" in text:
        low, high = text.split("-", 1)
        return int(low) <= port <= int(high)
    return int(text) == port


def _in_any(address: str, cidrs: list[str]) -> bool:
    ip = ipaddress.ip_address(address)
    for cidr in cidrs:
        try:
            if ip in ipaddress.ip_network(cidr, strict=False):
                return True
        except ValueError:
            continue
    return False


def firewall_allows(rules: list[dict[str, Any]] | None, direction: str, protocol: str, port: int | None,
                    peer: str) -> bool:
    """Whether the Firewalls of a server let this packet through its public interface."""
    if rules is None:
        return True
    mine = [r for r in rules if r.get("direction") == direction]
    if direction == "out" and not mine:
        return True  # no `out` rule: all outbound traffic is accepted
    peers = "source_ips" if direction == "in" else "destination_ips"
    return any(r.get("protocol") == protocol and _port_matches(r.get("port"), port)
               and _in_any(peer, list(r.get(peers) or [])) for r in mine)


class PodNetwork:
    """Pod-to-pod reachability in one cluster, computed from its CNI values and the cloud."""

    def __init__(self, cluster: Cluster, fabric: Fabric) -> None:
        self.cluster = cluster
        self.fabric = fabric

    def _routes(self) -> bool:
        cfg = ccm.config(self.cluster)
        return bool(cfg and cfg.routes_enabled and not cfg.errors and self.cluster.ccm_failure is None)

    def one_way(self, src: ClusterNode, dst: ClusterNode) -> str | None:
        """Why a packet from a pod on `src` does not reach a pod on `dst` (None: it does)."""
        if src.name == dst.name:
            return None
        for node in (src, dst):
            if not self.cluster.is_ready(node):
                return f"node {node.name} is not Ready"
        a, b = tunnel(self.cluster, src, self.fabric), tunnel(self.cluster, dst, self.fabric)
        if a.address is None or b.address is None:
            return f"{a.cni} found no tunnel address on {src.name if a.address is None else dst.name}"
        private_a = {ip: net for net, ip in self.fabric.networks_of(src.server_id).items()}
        private_b = {ip: net for net, ip in self.fabric.networks_of(dst.server_id).items()}
        if b.protocol == "none":
            if b.address in private_b and a.address in private_a and private_a[a.address] == private_b[b.address] \
                    and self._routes():
                return None
            return (f"{b.cni} routes pod traffic without a tunnel: {dst.name}'s pod range needs a route in the "
                    "Hetzner network (the cloud controller's route controller)")
        if b.address in private_b:
            net = private_b[b.address]
            if private_a.get(a.address) == net:
                return None  # inside one private network: Hetzner Firewalls do not filter it
            return (f"{a.cni} on {src.name} sends from {a.address}, which cannot reach {dst.name}'s tunnel address "
                    f"{b.address} in a private network it is not using")
        if a.address in private_a:
            return (f"{b.cni} on {dst.name} listens on its public address {b.address}, but {src.name} sends from "
                    f"its private address {a.address}")
        proto = b.protocol
        if not firewall_allows(self.fabric.firewall_rules(src.server_id), "out", proto, b.port, b.address):
            return f"{src.name}'s Hetzner Firewall drops {proto} out to {b.address}"
        if not firewall_allows(self.fabric.firewall_rules(dst.server_id), "in", proto, b.port, a.address):
            what = f"{proto}/{b.port}" if b.port else ("IP-in-IP (protocol 4)" if proto == "ipip" else proto)
            return (f"{dst.name}'s Hetzner Firewall drops {what} from {a.address}: {a.cni} tunnels over the public "
                    f"interface ({b.address}), which the Firewall filters")
        return None

    def both_ways(self, a: ClusterNode, b: ClusterNode) -> str | None:
        """Why a request from a pod on `a` to a pod on `b` gets no answer (None: it does)."""
        return self.one_way(a, b) or self.one_way(b, a)

