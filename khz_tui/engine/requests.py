"""What apply sends to the Hetzner API for the cluster's shared resources, built from the plan alone.

Apply (`cloud/resources.py`) and `render` both use these, so what `render` writes is what an apply
sends. Each returns hcloud-python domain objects (what the client library posts) or, for render,
their wire form (`to_payload()`, the JSON body Hetzner receives).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hcloud.load_balancers.domain import (
    LoadBalancerAlgorithm,
    LoadBalancerHealthCheck,
    LoadBalancerService,
    LoadBalancerTarget,
    LoadBalancerTargetLabelSelector,
)

from khz_tui.engine.cloud.names import (
    cluster_labels,
    cluster_selector,
    control_plane_selector,
    firewall_name,
    load_balancer_name,
)
from khz_tui.engine.cloud.resources import API_PORT, firewall_rules
from khz_tui.plan.model import ClusterPlan


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
