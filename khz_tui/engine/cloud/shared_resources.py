"""The cluster's shared resources, found or created (`CloudBase`): network, firewall, SSH key,
placement groups and the API load balancer. Each `ensure_*` also compares what it found with the plan
(`drift`): what apply repairs is repaired here (a firewall no longer applied by the cluster's label
selector), the rest is reported (`DriftDetected`)."""

from __future__ import annotations

import base64
import hashlib

from hcloud.firewalls.client import BoundFirewall
from hcloud.firewalls.domain import (
    CreateFirewallResponse,
    Firewall,
    FirewallResource,
    FirewallResourceLabelSelector,
    FirewallRule,
)
from hcloud.load_balancer_types.domain import LoadBalancerType
from hcloud.load_balancers.client import BoundLoadBalancer
from hcloud.load_balancers.domain import CreateLoadBalancerResponse
from hcloud.locations.domain import Location
from hcloud.networks.client import BoundNetwork
from hcloud.networks.domain import NetworkSubnet
from hcloud.placement_groups.client import BoundPlacementGroup
from hcloud.placement_groups.domain import CreatePlacementGroupResponse
from hcloud.ssh_keys.client import BoundSSHKey

from khz_tui.engine import drift
from khz_tui.engine.cloud.client import CloudError
from khz_tui.engine.cloud.cloud_base import CloudBase, ident, itself, report_drift
from khz_tui.engine.cloud.names import cluster_labels, cluster_selector, firewall_name, network_name, ssh_key_name
from khz_tui.engine.events import NodeRepaired, ResourceFound
from khz_tui.engine.requests import api_load_balancer, firewall_rules
from khz_tui.plan.model import ClusterPlan


def md5_fingerprint(public_key: str) -> str:
    """Hetzner's SSH key fingerprint: MD5 of the key blob, colon-separated hex."""
    blob = base64.b64decode(public_key.split()[1])
    digest = hashlib.md5(blob).hexdigest()
    return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))


def lb_addresses(lb: BoundLoadBalancer) -> tuple[str | None, str | None]:
    """(public IPv4, private IP) of a load balancer."""
    public = lb.public_net.ipv4.ip if lb.public_net and lb.public_net.ipv4 else None
    private = lb.private_net[0].ip if lb.private_net else None
    return public, private


def _refuse_uncovered(plan: ClusterPlan, fw: Firewall, lines: list[drift.Drift]) -> None:
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


def _selector_resource(cluster: str) -> FirewallResource:
    return FirewallResource(type="label_selector",
                            label_selector=FirewallResourceLabelSelector(selector=cluster_selector(cluster)))


class SharedResources(CloudBase):
    """Network, firewall, SSH key, placement groups and the API load balancer."""

    async def ensure_network(self) -> BoundNetwork:
        """The cluster's private network with its one subnet, found or created; a range that differs from
        the plan's is reported."""
        plan, h = self.plan, self.client.hcloud
        name = network_name(plan.name)
        subnet = NetworkSubnet(type="cloud", ip_range=plan.network.subnet, network_zone=plan.network.zone)
        network = await self._find_or_create(
            "network", name, self.inventory.networks,
            post=lambda: self.client.call(
                lambda: h.networks.create(name=name, ip_range=plan.network.ip_range, subnets=[subnet],
                                          labels=cluster_labels(plan.name)),
                what=f"creating network {name}",
            ),
            get_by_name=h.networks.get_by_name,
            ready=itself,
        )
        report_drift(self.bus, drift.network_drift(plan, network))
        return network

    async def ensure_firewall(self, caller_cidr: str | None) -> BoundFirewall:
        """The cluster's firewall, applied to every server labeled for the cluster (so servers added later
        are covered from their first boot): found, or created with `firewall_rules` and that selector.

        On every run the comparison (`drift.firewall_drift`) checks it: a firewall without the selector
        (deleted and recreated by hand, or made before khz-tui used one) gets it; a server still left out
        afterwards stops the run; changed rules are reported."""
        plan, h, inv = self.plan, self.client.hcloud, self.inventory
        name = firewall_name(plan.name)
        try:
            rules: list[FirewallRule] | None = firewall_rules(plan, caller_cidr)
        except CloudError:
            rules = None  # the plan's rules cannot be computed here (no caller address)
        fw = self._found("firewall", inv.firewalls, name)
        if fw is None:
            # Raises without a caller address: a firewall is never created without its sources.
            create_rules = rules if rules is not None else firewall_rules(plan, caller_cidr)

            async def applied(result: CreateFirewallResponse) -> BoundFirewall:
                await self._wait(list(result.actions or []), f"creating firewall {name}")
                return result.firewall

            fw = await self._create(
                "firewall", name, inv.firewalls,
                post=lambda: self.client.call(
                    lambda: h.firewalls.create(
                        name=name, rules=create_rules, resources=[_selector_resource(plan.name)],
                        # hcloud-python 2.27 annotates `labels` as str; the API (and its code) take the dict.
                        labels=cluster_labels(plan.name),  # type: ignore[arg-type]
                    ),
                    what=f"creating firewall {name}",
                ),
                get_by_name=h.firewalls.get_by_name,
                ready=applied,
            )
        lines = drift.firewall_drift(plan, fw, inv.servers, rules)
        if any(line.kind == "change" and line.field == drift.APPLIED_TO for line in lines):
            fw = await self._apply_by_selector(fw, lines)
            inv.firewalls[name] = fw
            lines = drift.firewall_drift(plan, fw, inv.servers, rules)
        _refuse_uncovered(plan, fw, lines)
        report_drift(self.bus, [line for line in lines if line.field != drift.APPLIED_TO])
        return fw

    async def _apply_by_selector(self, fw: BoundFirewall, lines: list[drift.Drift]) -> BoundFirewall:
        """Apply the firewall to every server labeled for the cluster; returns it read again."""
        h = self.client.hcloud
        line = next(line for line in lines if line.field == drift.APPLIED_TO)
        what = f"applying firewall {fw.name} to every server of cluster {self.plan.name}"
        bare = drift.uncovered_servers(fw, self.inventory.servers)
        for node in bare:  # a node the firewall left out is a repair of that node
            self.bus.emit(NodeRepaired(
                node=node, repair="firewall-reapplied",
                reason=f"firewall {fw.name} was not applied to {node} (changed outside khz-tui); "
                       f"applying it to {line.expected}"))
        if not bare:  # every server is covered, by id only: servers added later would not be
            self.bus.log(f"firewall {fw.name} is {line.actual} (changed outside khz-tui); applying it to {line.expected}",
                         level="warning")
        fw_id = ident(fw)
        actions = await self.client.call(
            lambda: h.firewalls.apply_to_resources(Firewall(id=fw_id), [_selector_resource(self.plan.name)]), what=what)
        await self._wait(list(actions or []), what)
        return await self.client.call(lambda: h.firewalls.get_by_id(fw_id), what=f"reading firewall {fw.name}")

    async def ensure_placement_group(self, name: str) -> BoundPlacementGroup:
        """The spread placement group `name`, found or created."""
        h = self.client.hcloud

        async def made(result: CreatePlacementGroupResponse) -> BoundPlacementGroup:
            return result.placement_group

        return await self._find_or_create(
            "placement group", name, self.inventory.placement_groups,
            post=lambda: self.client.call(
                lambda: h.placement_groups.create(name=name, type="spread", labels=cluster_labels(self.plan.name)),
                what=f"creating placement group {name}",
            ),
            get_by_name=h.placement_groups.get_by_name,
            ready=made,
        )

    async def find_ssh_key(self, public_key: str) -> BoundSSHKey | None:
        """The project's SSH key with `public_key`'s fingerprint, whatever its name and labels."""
        fingerprint = md5_fingerprint(public_key)
        return await self.client.call(lambda: self.client.hcloud.ssh_keys.get_by_fingerprint(fingerprint),
                                      what="looking up the SSH key by fingerprint")

    async def ensure_ssh_key(self, public_key: str) -> BoundSSHKey:
        """Reuse the project's key with the same fingerprint (ours or not); create it labeled otherwise."""
        h = self.client.hcloud
        name = ssh_key_name(self.plan.name)
        fingerprint = md5_fingerprint(public_key)
        for key in self.inventory.ssh_keys.values():
            if key.fingerprint == fingerprint:
                self.bus.emit(ResourceFound(resource_type="ssh key", name=key.name or name, id=key.id))
                return key
        existing = await self.find_ssh_key(public_key)
        if existing is not None:
            self.bus.emit(ResourceFound(resource_type="ssh key", name=existing.name or name, id=existing.id))
            return existing
        # Not found by name: a key named like ours with another fingerprint is not the plan's key.
        return await self._create(
            "ssh key", name, self.inventory.ssh_keys,
            post=lambda: self.client.call(
                lambda: h.ssh_keys.create(name=name, public_key=public_key.strip(), labels=cluster_labels(self.plan.name)),
                what=f"uploading SSH key {name}",
            ),
            get_by_name=h.ssh_keys.get_by_name,
            ready=itself,
        )

    async def ensure_load_balancer(self, network: BoundNetwork) -> BoundLoadBalancer:
        """The API load balancer: TCP 6443 to the control planes (label selector, private IPs), with its
        public and private addresses filled in; a type that differs from the plan's is reported."""
        h = self.client.hcloud
        spec = api_load_balancer(self.plan)
        name = spec.name

        async def ready(result: CreateLoadBalancerResponse) -> BoundLoadBalancer:
            lb = result.load_balancer
            if result.action is not None:
                await self._wait([result.action], f"creating load balancer {name}")
            if not lb.private_net or not lb.public_net:
                lb_id = ident(lb)
                lb = await self.client.call(lambda: h.load_balancers.get_by_id(lb_id), what=f"reading load balancer {name}")
            return lb

        lb = await self._find_or_create(
            "load balancer", name, self.inventory.load_balancers,
            post=lambda: self.client.call(
                lambda: h.load_balancers.create(
                    name=name, load_balancer_type=LoadBalancerType(name=spec.load_balancer_type),
                    location=Location(name=spec.location), network=network, services=[spec.service],
                    targets=[spec.target], algorithm=spec.algorithm, labels=spec.labels,
                ),
                what=f"creating load balancer {name}",
            ),
            get_by_name=h.load_balancers.get_by_name,
            ready=ready,
        )
        report_drift(self.bus, drift.load_balancer_drift(self.plan, lb))
        return lb
