"""What apply sends to the Hetzner API for the cluster's shared resources, built from the plan alone.

Apply (`cloud/shared_resources.py`) and `render` both use these, so what `render` writes is what an apply
sends. Each returns hcloud-python domain objects (what the client library posts) or, for render,
their wire form (`to_payload()`, the JSON body Hetzner receives).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hcloud.firewalls.domain import FirewallRule
from hcloud.load_balancers.domain import (
    LoadBalancerAlgorithm,
    LoadBalancerHealthCheck,
    LoadBalancerService,
    LoadBalancerTarget,
    LoadBalancerTargetLabelSelector,
)

from khz_tui.engine.cloud.client import CloudError
from khz_tui.engine.cloud.names import (
    cluster_labels,
    cluster_selector,
    control_plane_selector,
    firewall_name,
    load_balancer_name,
)
from khz_tui.plan.model import ClusterPlan

API_PORT = 6443


def firewall_rules(plan: ClusterPlan, caller_cidr: str | None) -> list[FirewallRule]:
    """SSH from ssh.allowed_cidrs, 6443 from api_allowed_cidrs, everything between nodes on the
    private range. An empty list means "only where khz-tui runs from"; never the whole Internet
    unless the plan says 0.0.0.0/0 itself. Raises CloudError when that address is needed and unknown."""
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


@dataclass(frozen=True)
class ApiLoadBalancer:
    """The API load balancer as apply creates it: TCP 6443 to the control planes' private IPs,
    found by label selector, in the first control plane's location."""

    name: str
    load_balancer_type: str
    location: str
    service: LoadBalancerService
    target: LoadBalancerTarget
    algorithm: LoadBalancerAlgorithm
    labels: dict[str, str]

    def body(self, network: int | str) -> dict[str, Any]:
        """The `POST /load_balancers` body, as the API receives it."""
        return {
            "name": self.name,
            "load_balancer_type": self.load_balancer_type,
            "location": self.location,
            "network": network,
            "algorithm": {"type": self.algorithm.type},
            "services": [self.service.to_payload()],
            "targets": [self.target.to_payload()],
            "labels": self.labels,
        }


def api_load_balancer(plan: ClusterPlan) -> ApiLoadBalancer:
    """The API load balancer the plan asks for."""
    return ApiLoadBalancer(
        name=load_balancer_name(plan.name),
        load_balancer_type=plan.load_balancer.type,
        location=plan.control_plane_locations()[0],
        service=LoadBalancerService(
            protocol="tcp", listen_port=API_PORT, destination_port=API_PORT, proxyprotocol=False,
            health_check=LoadBalancerHealthCheck(protocol="tcp", port=API_PORT, interval=15, timeout=10, retries=3),
        ),
        target=LoadBalancerTarget(
            type="label_selector",
            label_selector=LoadBalancerTargetLabelSelector(selector=control_plane_selector(plan.name)),
            use_private_ip=True,
        ),
        algorithm=LoadBalancerAlgorithm(type="round_robin"),
        labels=cluster_labels(plan.name, role="api"),
    )


def firewall_body(plan: ClusterPlan, caller_cidr: str | None) -> dict[str, Any]:
    """The `POST /firewalls` body: `firewall_rules`, the cluster's labels, applied to every server
    labeled for the cluster."""
    return {
        "name": firewall_name(plan.name),
        "labels": cluster_labels(plan.name),
        "rules": [rule.to_payload() for rule in firewall_rules(plan, caller_cidr)],
        "apply_to": [{"type": "label_selector", "label_selector": {"selector": cluster_selector(plan.name)}}],
    }
