"""Find-or-create for the resources a cluster needs around its servers.

Each `ensure_*` returns the resource, reporting `ResourceFound` when the inventory already had it and
`ResourceCreated` when it made it. A create that fails with `uniqueness_error` is looked up by name:
when the resource carries this cluster's labels (an earlier attempt whose answer got lost) it is
adopted, otherwise the run stops with the API's message — the engine never adopts a look-alike.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Awaitable, Callable
from typing import Any

from hcloud.firewalls.domain import Firewall, FirewallResource, FirewallResourceLabelSelector, FirewallRule
from hcloud.load_balancer_types.domain import LoadBalancerType
from hcloud.locations.domain import Location
from hcloud.networks.domain import NetworkSubnet

from khz_tui.engine import drift
from khz_tui.engine.bus import EventBus
from khz_tui.engine.cloud.client import CloudClient, CloudError
from khz_tui.engine.cloud.inventory import Inventory
from khz_tui.engine.cloud.names import (
    CLUSTER_LABEL,
    MANAGED_BY,
    MANAGED_BY_LABEL,
    cluster_labels,
    cluster_selector,
    firewall_name,
    network_name,
    ssh_key_name,
)
from khz_tui.engine.events import DriftDetected, ResourceCreated, ResourceFound
from khz_tui.plan.model import ClusterPlan

API_PORT = 6443


def is_ours(resource: Any, cluster: str) -> bool:
    """Whether `resource` carries this cluster's labels (a look-alike without them is never adopted)."""
    labels = getattr(resource, "labels", None) or {}
    return labels.get(CLUSTER_LABEL) == cluster and labels.get(MANAGED_BY_LABEL) == MANAGED_BY


async def create_or_adopt(
    client: CloudClient,
    bus: EventBus,
    *,
    resource_type: str,
    name: str,
    cluster: str,
    create: Callable[[], Awaitable[Any]],
    get_by_name: Callable[[str], Any],
) -> tuple[Any, bool]:
    """Run `create`; on a name clash adopt the resource only if it is labeled ours.
    Returns (resource or create response, created?)."""
    try:
        result = await create()
    except CloudError as exc:
        if exc.code != "uniqueness_error":
            raise
        existing = await client.call(get_by_name, name, what=f"looking up {resource_type} {name}")
        if existing is None or not is_ours(existing, cluster):
            raise CloudError(
                f"creating {resource_type} {name}: a {resource_type} with that name already exists and is not "
                f"labeled for cluster {cluster!r} ({exc.message})",
                code="uniqueness_error",
            ) from None
        bus.emit(ResourceFound(resource_type=resource_type, name=name, id=existing.id))
        return existing, False
    return result, True


async def find_or_create(
    client: CloudClient, bus: EventBus, plan: ClusterPlan, known: dict[str, Any], *, resource_type: str, name: str,
    **how: Any,
) -> Any:
    """The one find-or-create flow: the resource `known` (the inventory) has under `name`, or a new
    one made by `create_new` with `how` (create, get_by_name, unwrap)."""
    if name in known:
        found = known[name]
        bus.emit(ResourceFound(resource_type=resource_type, name=name, id=found.id))
        return found
    return await create_new(client, bus, plan, known, resource_type=resource_type, name=name, **how)


async def create_new(
    client: CloudClient,
    bus: EventBus,
    plan: ClusterPlan,
    known: dict[str, Any],
    *,
    resource_type: str,
    name: str,
    create: Callable[[], Awaitable[Any]],
    get_by_name: Callable[[str], Any],
    unwrap: Callable[[Any], Awaitable[Any]] | None = None,
) -> Any:
    """Create the resource (or adopt ours on a name clash), report it and add it to `known`.
    `unwrap` turns a create response into the resource (waiting for its actions where the
    resource is not usable before); without it the response is the resource."""
    result, created = await create_or_adopt(
        client, bus, resource_type=resource_type, name=name, cluster=plan.name, create=create, get_by_name=get_by_name
    )
    item = result
    if created:
        if unwrap is not None:
            item = await unwrap(result)
        bus.emit(ResourceCreated(resource_type=resource_type, name=name, id=item.id))
    known[name] = item
    return item


async def _field(result: Any, attr: str) -> Any:
    return getattr(result, attr)


def md5_fingerprint(public_key: str) -> str:
    """Hetzner's SSH key fingerprint: MD5 of the key blob, colon-separated hex."""
    blob = base64.b64decode(public_key.split()[1])
    digest = hashlib.md5(blob).hexdigest()
    return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))


async def ensure_network(client: CloudClient, bus: EventBus, plan: ClusterPlan, inv: Inventory) -> Any:
    """The cluster's private network with its one subnet, found or created."""
    name = network_name(plan.name)
    subnet = NetworkSubnet(type="cloud", ip_range=plan.network.subnet, network_zone=plan.network.zone)
    return await find_or_create(
        client, bus, plan, inv.networks, resource_type="network", name=name,
        create=lambda: client.call(
            client.hcloud.networks.create, name=name, ip_range=plan.network.ip_range, subnets=[subnet],
            labels=cluster_labels(plan.name), what=f"creating network {name}",
        ),
        get_by_name=client.hcloud.networks.get_by_name,
    )


def firewall_rules(plan: ClusterPlan, caller_cidr: str | None) -> list[FirewallRule]:
    """SSH from ssh.allowed_cidrs, 6443 from api_allowed_cidrs, everything between nodes on the
    private range. An empty list means "only where khz-tui runs from"; never the whole Internet
    unless the plan says 0.0.0.0/0 itself."""
    ssh_from = plan.ssh.allowed_cidrs or ([caller_cidr] if caller_cidr else [])
    api_from = plan.ssh.api_allowed_cidrs or ([caller_cidr] if caller_cidr else [])
    if not ssh_from or not api_from:
        raise CloudError(
            "the plan leaves ssh.allowed_cidrs or ssh.api_allowed_cidrs empty and the address khz-tui "
            "runs from cannot be found on this endpoint",
            code="invalid_input",
            hint="set ssh.allowed_cidrs and ssh.api_allowed_cidrs to your public address (e.g. 203.0.113.7/32)",
        )
    private = [plan.network.ip_range]

    def rule(protocol: str, port: str | None, sources: list[str], what: str) -> FirewallRule:
        return FirewallRule(
            direction="in", protocol=protocol, port=port, source_ips=sources, destination_ips=[], description=what
        )

    return [
        rule("tcp", str(plan.ssh.port), ssh_from, "SSH"),
        rule("tcp", str(API_PORT), api_from, "Kubernetes API"),
        rule("tcp", "any", private, "node to node (tcp)"),
        rule("udp", "any", private, "node to node (udp)"),
        rule("icmp", None, private, "node to node (icmp)"),
    ]


def report_drift(bus: EventBus, lines: list[drift.Drift]) -> None:
    """Emit DriftDetected for every line apply leaves as it is (kind `report`)."""
    for line in lines:
        if line.kind == "report":
            bus.emit(DriftDetected(resource_type=line.resource_type, name=line.name, field=line.field,
                     expected=line.expected, actual=line.actual))


def _selector_resource(cluster: str) -> FirewallResource:
    return FirewallResource(type="label_selector", label_selector=FirewallResourceLabelSelector(selector=cluster_selector(cluster)))


async def ensure_firewall(
    client: CloudClient, bus: EventBus, plan: ClusterPlan, inv: Inventory, caller_cidr: str | None
) -> Any:
    """The cluster's firewall, applied to every server labeled for the cluster (so servers added later
    are covered from their first boot): found, or created with `firewall_rules` and that selector.

    On every run the comparison (`drift.firewall_drift`) checks it: a firewall without the selector
    (deleted and recreated by hand, or made before khz-tui used one) gets it; a server still left out
    afterwards stops the run; changed rules are reported."""
    name = firewall_name(plan.name)
    try:
        rules: list[Any] | None = firewall_rules(plan, caller_cidr)
    except CloudError:
        rules = None  # the plan's rules cannot be computed here (no caller address)
    if name in inv.firewalls:
        fw = inv.firewalls[name]
        bus.emit(ResourceFound(resource_type="firewall", name=name, id=fw.id))
    else:
        if rules is None:
            rules = firewall_rules(plan, caller_cidr)  # raises: a firewall is never created without its sources

        async def applied(result: Any) -> Any:
            await client.wait_actions([a.id for a in result.actions or []], what=f"creating firewall {name}")
            return result.firewall

        fw = await create_new(
            client, bus, plan, inv.firewalls, resource_type="firewall", name=name,
            create=lambda: client.call(
                client.hcloud.firewalls.create, name=name, rules=rules, labels=cluster_labels(plan.name),
                resources=[_selector_resource(plan.name)], what=f"creating firewall {name}",
            ),
            get_by_name=client.hcloud.firewalls.get_by_name,
            unwrap=applied,
        )
    lines = drift.firewall_drift(plan, fw, inv.servers, rules)
    if any(line.kind == "change" and line.field == drift.APPLIED_TO for line in lines):
        fw = await _apply_by_selector(client, bus, plan, fw, lines)
        inv.firewalls[name] = fw
        lines = drift.firewall_drift(plan, fw, inv.servers, rules)
    _refuse_uncovered(plan, fw, lines)
    report_drift(bus, [line for line in lines if line.field != drift.APPLIED_TO])
    return fw


async def _apply_by_selector(client: CloudClient, bus: EventBus, plan: ClusterPlan, fw: Any, lines: list[drift.Drift]) -> Any:
    """Apply the firewall to every server labeled for the cluster; returns it read again."""
    line = next(line for line in lines if line.field == drift.APPLIED_TO)
    what = f"applying firewall {fw.name} to every server of cluster {plan.name}"
    bus.log(f"firewall {fw.name} is {line.actual} (changed outside khz-tui); applying it to {line.expected}",
            level="warning")
    actions = await client.call(client.hcloud.firewalls.apply_to_resources, Firewall(id=fw.id),
                                [_selector_resource(plan.name)], what=what)
    await client.wait_actions([a.id for a in actions or []], what=what)
    return await client.call(client.hcloud.firewalls.get_by_id, fw.id, what=f"reading firewall {fw.name}")


def _refuse_uncovered(plan: ClusterPlan, fw: Any, lines: list[drift.Drift]) -> None:
    """Stop when a server of the cluster is still not behind the firewall: SSH and the API would be
    open to anyone on it."""
    left = next((line for line in lines if line.field == drift.APPLIED_TO), None)
    if left is None:
        return
    raise CloudError(
        f"firewall {fw.name} is {left.actual}, though it applies to {left.expected}: those servers are not "
        "protected, so khz-tui stops here",
        code="firewall_not_applied",
        hint=f"check with `hcloud firewall describe {fw.name}` and `hcloud server describe <server>` that the "
             f"servers carry the labels {cluster_selector(plan.name)}, then run apply again",
    )


async def ensure_placement_group(client: CloudClient, bus: EventBus, plan: ClusterPlan, inv: Inventory, name: str) -> Any:
    """The spread placement group `name`, found or created."""
    return await find_or_create(
        client, bus, plan, inv.placement_groups, resource_type="placement group", name=name,
        create=lambda: client.call(
            client.hcloud.placement_groups.create, name=name, type="spread", labels=cluster_labels(plan.name),
            what=f"creating placement group {name}",
        ),
        get_by_name=client.hcloud.placement_groups.get_by_name,
        unwrap=lambda r: _field(r, "placement_group"),
    )


async def ensure_ssh_key(client: CloudClient, bus: EventBus, plan: ClusterPlan, inv: Inventory, public_key: str) -> Any:
    """Reuse the project's key with the same fingerprint (ours or not); create it labeled otherwise."""
    name = ssh_key_name(plan.name)
    fingerprint = md5_fingerprint(public_key)
    for key in inv.ssh_keys.values():
        if key.fingerprint == fingerprint:
            bus.emit(ResourceFound(resource_type="ssh key", name=key.name, id=key.id))
            return key
    existing = await client.call(
        client.hcloud.ssh_keys.get_by_fingerprint, fingerprint, what="looking up the SSH key by fingerprint"
    )
    if existing is not None:
        bus.emit(ResourceFound(resource_type="ssh key", name=existing.name, id=existing.id))
        return existing
    # Not found by name: a key named like ours with another fingerprint is not the plan's key.
    return await create_new(
        client, bus, plan, inv.ssh_keys, resource_type="ssh key", name=name,
        create=lambda: client.call(
            client.hcloud.ssh_keys.create, name=name, public_key=public_key.strip(), labels=cluster_labels(plan.name),
            what=f"uploading SSH key {name}",
        ),
        get_by_name=client.hcloud.ssh_keys.get_by_name,
    )


async def ensure_load_balancer(
    client: CloudClient, bus: EventBus, plan: ClusterPlan, inv: Inventory, network: Any
) -> Any:
    """The API load balancer: TCP 6443 to the control planes (label selector, private IPs).
    Returns the load balancer with its public and private addresses filled in."""
    from khz_tui.engine.requests import api_load_balancer  # it builds on this module: imported here

    spec = api_load_balancer(plan)
    name = spec.name

    async def ready(result: Any) -> Any:
        lb = result.load_balancer
        if result.action is not None:
            await client.wait_action(result.action.id, what=f"creating load balancer {name}")
        if not lb.private_net or not lb.public_net:
            lb = await client.call(client.hcloud.load_balancers.get_by_id, lb.id, what=f"reading load balancer {name}")
        return lb

    return await find_or_create(
        client, bus, plan, inv.load_balancers, resource_type="load balancer", name=name,
        create=lambda: client.call(
            client.hcloud.load_balancers.create, name=name,
            load_balancer_type=LoadBalancerType(name=spec.load_balancer_type),
            location=Location(name=spec.location), network=network, services=[spec.service], targets=[spec.target],
            algorithm=spec.algorithm, labels=spec.labels,
            what=f"creating load balancer {name}",
        ),
        get_by_name=client.hcloud.load_balancers.get_by_name,
        unwrap=ready,
    )


def lb_addresses(lb: Any) -> tuple[str | None, str | None]:
    """(public IPv4, private IP) of a load balancer."""
    public = lb.public_net.ipv4.ip if lb.public_net and lb.public_net.ipv4 else None
    private = lb.private_net[0].ip if lb.private_net else None
    return public, private
