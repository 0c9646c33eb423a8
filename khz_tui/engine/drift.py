"""The one comparison of a plan with what the project holds; apply acts on it, dry-run shows it.

Pure: no requests, no events. `compare` gives every line for a discovered inventory (dry-run, and
the run lock's "will this run change anything?"); the per-resource functions it is built from are
what apply calls on the resource it is about to act on, so both read the same rules and dry-run
shows every change apply makes.

Kinds of line:
    create  missing; apply creates it
    keep    as planned
    change  differs in a way apply repairs: the firewall not applied to the cluster's servers by its
            label selector, a volume detached from its node, a server off the cluster's network
    report  differs in a way apply reports and leaves: who may reach SSH and the API (firewall rules),
            server and load balancer types, locations, the network's range, a volume on another server
    delete  not in the plan; apply removes it (scale-down)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from hcloud.firewalls.domain import Firewall, FirewallRule
from hcloud.load_balancers.domain import LoadBalancer
from hcloud.networks.domain import Network
from hcloud.servers.domain import Server
from hcloud.volumes.domain import Volume

from khz_tui.engine.cloud.inventory import Inventory
from khz_tui.engine.cloud.names import (
    NodeSlot,
    cluster_selector,
    firewall_name,
    load_balancer_name,
    network_name,
    planned_nodes,
    planned_placement_groups,
    planned_volumes,
    ssh_key_name,
)
from khz_tui.engine.events import ResourceKind
from khz_tui.plan.catalog import Catalog, bundled_catalog
from khz_tui.plan.model import ClusterPlan

DriftKind = Literal["create", "keep", "change", "report", "delete"]

#: The `field` of a firewall's coverage line (apply looks for it to know what to repair).
APPLIED_TO = "applied to"
#: The `field` of a server's network line and of a volume's attachment line.
NETWORK = "network"
ATTACHED_TO = "attached to"


@dataclass(frozen=True)
class Drift:
    """One line of the comparison. `field`, `expected` and `actual` are set for change and report."""

    kind: DriftKind
    resource_type: ResourceKind
    name: str
    field: str = ""
    expected: str = ""
    actual: str = ""
    detail: str = ""
    cost: Decimal = Decimal(0)
    """Change in the monthly estimate (creates add, deletes remove)."""

    def describe(self) -> str:
        if self.field:
            return f"{self.field}: {self.actual} (plan: {self.expected})"
        return self.detail


# -- per resource: what apply calls on the resource in hand -------------------------------------------


def _name(resource: Network | Firewall | LoadBalancer) -> str:
    return resource.name or str(resource.id)


def network_drift(plan: ClusterPlan, network: Network) -> list[Drift]:
    """The network's range is reported, never changed: every node's address depends on it."""
    if network.ip_range == plan.network.ip_range:
        return []
    return [Drift("report", "network", _name(network), "ip_range", plan.network.ip_range, str(network.ip_range))]


def _rule_key(rule: FirewallRule) -> tuple[str, str, str]:
    return (rule.direction or "in", rule.protocol or "", rule.port or "")


def _rule_sources(rule: FirewallRule) -> str:
    return ", ".join(sorted(rule.source_ips or [])) or "nowhere"


def firewall_rule_drift(name: str, expected: Iterable[FirewallRule], actual: Iterable[FirewallRule]) -> list[Drift]:
    """Every rule that differs from the plan's, reported and never re-applied: rules decide who reaches
    SSH and the Kubernetes API, a person may have changed them on purpose, and rules built from the
    address khz-tui runs from would, re-applied from another machine, lock the first one out."""
    want = {_rule_key(r): _rule_sources(r) for r in expected}
    have = {_rule_key(r): _rule_sources(r) for r in actual}
    out = []
    for key in sorted(set(want) | set(have)):
        if want.get(key) == have.get(key):
            continue
        direction, protocol, port = key
        out.append(Drift(
            "report", "firewall", name, f"rule {direction} {protocol}" + (f" port {port}" if port else ""),
            expected=f"from {want[key]}" if key in want else "no such rule",
            actual=f"from {have[key]}" if key in have else "no such rule",
        ))
    return out


def has_cluster_selector(firewall: Firewall, cluster: str) -> bool:
    """Whether the firewall applies to every server labeled for `cluster`, now and later."""
    selector = cluster_selector(cluster)
    return any(
        entry.type == "label_selector" and entry.label_selector is not None and entry.label_selector.selector == selector
        for entry in firewall.applied_to or []
    )


def covered_server_ids(firewall: Firewall) -> set[int]:
    """Servers the firewall applies to, directly or through any of its label selectors."""
    ids: set[int] = set()
    for entry in firewall.applied_to or []:
        if entry.type == "server" and entry.server is not None and entry.server.id is not None:
            ids.add(entry.server.id)
        for res in entry.applied_to_resources or []:
            if res.server is not None and res.server.id is not None:
                ids.add(res.server.id)
    return ids


def uncovered_servers(firewall: Firewall, servers: Mapping[str, Server]) -> list[str]:
    """The names of `servers` the firewall does not apply to, in order."""
    covered = covered_server_ids(firewall)
    return sorted(name for name, server in servers.items() if server.id not in covered)


def firewall_coverage(cluster: str, firewall: Firewall, servers: Mapping[str, Server]) -> list[Drift]:
    """The firewall must apply to the cluster's servers through the cluster's label selector (so a
    server added later is covered from its first boot), and to every server the project holds.

    Without the selector (deleted behind khz-tui's back, or a cluster made before it was used) apply
    adds it: a `change`. With it and a server still left out, nothing apply sends would help, so the
    line is a `report` and apply stops on it."""
    selector = cluster_selector(cluster)
    expected = f"every server labeled {selector}"
    bare = uncovered_servers(firewall, servers)
    left_out = f"not applied to {', '.join(bare)}" if bare else "applied to each server by id, not to servers added later"
    if not has_cluster_selector(firewall, cluster):
        return [Drift("change", "firewall", _name(firewall), APPLIED_TO, expected, left_out)]
    if bare:
        return [Drift("report", "firewall", _name(firewall), APPLIED_TO, expected, left_out)]
    return []


def firewall_drift(
    plan: ClusterPlan, firewall: Firewall, servers: Mapping[str, Server], rules: list[FirewallRule] | None
) -> list[Drift]:
    """Coverage first (apply repairs it), then the rules (`rules` None: the plan's rules cannot be
    computed here, nothing to compare them with)."""
    out = firewall_coverage(plan.name, firewall, servers)
    if rules is not None:
        out += firewall_rule_drift(_name(firewall), rules, firewall.rules or [])
    return out


def load_balancer_drift(plan: ClusterPlan, lb: LoadBalancer) -> list[Drift]:
    """The type is reported, never changed: a person may have sized it up on purpose."""
    actual = lb.load_balancer_type.name if lb.load_balancer_type else None
    if actual and actual != plan.load_balancer.type:
        return [Drift("report", "load balancer", _name(lb), "type", plan.load_balancer.type, actual)]
    return []


def location_of(server: Server) -> str:
    return (server.location.name if server.location is not None else None) or ""


def server_type_of(server: Server) -> str:
    return (server.server_type.name if server.server_type is not None else None) or ""


def on_network(server: Server, network_id: int | None) -> bool:
    """Whether an hcloud server is attached to the network `network_id` (None: not created yet)."""
    return network_id is not None and any(net.network.id == network_id for net in server.private_net or [])


def server_drift(slot: NodeSlot, *, server_type: str, location: str, on_network: bool, network: str) -> list[Drift]:
    """Type and location are reported (changing either means a new machine); a server off the
    cluster's network `network` is attached again by apply (k3s talks over the private addresses)."""
    out = []
    if server_type != slot.server_type:
        out.append(Drift("report", "server", slot.name, "server_type", slot.server_type, server_type))
    if location != slot.location:
        out.append(Drift("report", "server", slot.name, "location", slot.location, location))
    if not on_network:
        out.append(Drift("change", "server", slot.name, NETWORK, f"attached to network {network}", "not attached"))
    return out


def volume_drift(name: str, node: str, volume: Volume, server_id: int | None) -> list[Drift]:
    """A detached volume is attached to its node again by apply (`server_id` None: the node's server
    is created by this run). One attached to another server is reported: detaching it there could
    take data from under a running program."""
    attached = volume.server.id if volume.server is not None else None
    if attached is None:
        return [Drift("change", "volume", name, ATTACHED_TO, node, "detached")]
    if server_id is not None and attached != server_id:
        return [Drift("report", "volume", name, ATTACHED_TO, f"{node} (server {server_id})", f"server {attached}")]
    return []


# -- the whole inventory -------------------------------------------------------------------------


def _server_price(catalog: Catalog, server_type: str, location: str) -> Decimal:
    st = catalog.server_type(server_type)
    price = st.prices.get(location) if st else None
    ipv4 = catalog.ipv4_price_monthly.get(location, Decimal(0))
    return (price.monthly if price else Decimal(0)) + ipv4


def compare(
    plan: ClusterPlan,
    inv: Inventory,
    *,
    ssh_key_known: bool,
    rules: list[FirewallRule] | None = None,
    catalog: Catalog | None = None,
) -> list[Drift]:
    """Every line for the plan against the discovered inventory `inv`. `rules` are the plan's firewall
    rules (None when they cannot be computed: not compared)."""
    catalog = catalog or bundled_catalog()
    out: list[Drift] = []

    def simple(rtype: ResourceKind, wanted: list[str], existing: Mapping[str, object], price: Decimal = Decimal(0)) -> None:
        for name in wanted:
            out.append(Drift("keep", rtype, name) if name in existing else Drift("create", rtype, name, cost=price))
        for name in sorted(set(existing) - set(wanted)):
            out.append(Drift("delete", rtype, name, cost=-price))

    net_name = network_name(plan.name)
    network = inv.networks.get(net_name)
    simple("network", [net_name], inv.networks)
    if network is not None:
        out += network_drift(plan, network)
    fw_name = firewall_name(plan.name)
    simple("firewall", [fw_name], inv.firewalls)
    if fw_name in inv.firewalls:
        out += firewall_drift(plan, inv.firewalls[fw_name], inv.servers, rules)
    if inv.ssh_keys or ssh_key_known:
        out.append(Drift("keep", "ssh key", next(iter(inv.ssh_keys), ssh_key_name(plan.name)), detail="reused by fingerprint"))
    else:
        out.append(Drift("create", "ssh key", ssh_key_name(plan.name)))
    simple("placement group", planned_placement_groups(plan), inv.placement_groups)

    lb_price = Decimal(0)
    lbt = catalog.lb_type(plan.load_balancer.type)
    if lbt and plan.hcloud.location in lbt.prices:
        lb_price = lbt.prices[plan.hcloud.location].monthly
    lb_name = load_balancer_name(plan.name)
    simple("load balancer", [lb_name] if plan.load_balancer.enabled else [], inv.load_balancers, lb_price)
    if plan.load_balancer.enabled and lb_name in inv.load_balancers:
        out += load_balancer_drift(plan, inv.load_balancers[lb_name])

    slots = planned_nodes(plan)
    for slot in slots:
        server = inv.servers.get(slot.name)
        if server is None:
            out.append(Drift("create", "server", slot.name, detail=f"{slot.server_type} in {slot.location}",
                             cost=_server_price(catalog, slot.server_type, slot.location)))
            continue
        drift = server_drift(slot, server_type=server_type_of(server), location=location_of(server),
                             on_network=on_network(server, network.id if network is not None else None), network=net_name)
        out += drift or [Drift("keep", "server", slot.name, detail=f"{server_type_of(server)} in {location_of(server)}")]
    wanted = {s.name for s in slots}
    for name, server in sorted(inv.servers.items()):
        if name not in wanted:
            out.append(Drift("delete", "server", name, detail="scale-down: drained and removed first",
                             cost=-_server_price(catalog, server_type_of(server), location_of(server))))

    per_gb = catalog.volume_price_per_gb_month
    vols = planned_volumes(plan)
    for name, node, size, _fmt in vols:
        volume = inv.volumes.get(name)
        if volume is None:
            out.append(Drift("create", "volume", name, detail=f"{size} GB on {node}", cost=per_gb * size))
            continue
        server = inv.servers.get(node)
        drift = volume_drift(name, node, volume, server.id if server is not None else None)
        out += drift or [Drift("keep", "volume", name, detail=f"{size} GB on {node}")]
    planned = {v[0] for v in vols}
    for name, volume in sorted(inv.volumes.items()):
        if name not in planned:
            out.append(Drift("delete", "volume", name, cost=-per_gb * int(volume.size or 0)))
    return out
