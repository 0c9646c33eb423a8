"""What the parts of an apply hand each other, typed: the shared cloud resources every server is created
with, the API's addresses, the seed choice, the running API, and a node whose server is up."""

from __future__ import annotations

from dataclasses import dataclass

from hcloud.firewalls.client import BoundFirewall
from hcloud.networks.client import BoundNetwork
from hcloud.placement_groups.client import BoundPlacementGroup
from hcloud.ssh_keys.client import BoundSSHKey

from khz_tui.engine.cloud.names import NodeSlot
from khz_tui.engine.cloud.servers import ServerFacts
from khz_tui.engine.nodes.k3s_config import NodeFacts
from khz_tui.engine.nodes.session import NodeSession


@dataclass(frozen=True)
class Infrastructure:
    """The cluster's shared resources, found or created before any server."""

    network: BoundNetwork
    firewall: BoundFirewall
    ssh_key: BoundSSHKey
    placement_groups: dict[str, BoundPlacementGroup]
    """By name (`NodeSlot.placement_group`)."""


@dataclass(frozen=True)
class ApiAddresses:
    """The API load balancer's addresses; both None when the plan has no load balancer (the
    kubeconfig and the joins then use the seed's own addresses)."""

    public: str | None = None
    private: str | None = None

    def all(self) -> list[str]:
        return [a for a in (self.public, self.private) if a]


@dataclass(frozen=True)
class SeedChoice:
    """The control plane the cluster grows from, and the cluster's token (see `seed.find_seed`)."""

    name: str
    token: str
    running: bool
    """k3s already runs there: nothing to install."""


@dataclass(frozen=True)
class ProvisionedNode:
    """A node whose server exists, runs, is on the cluster's network and answers SSH with its pinned
    key: everything the k3s steps need is known."""

    slot: NodeSlot
    facts: ServerFacts
    session: NodeSession
    private_ip: str
    existed: bool
    """The server was there before this run."""

    @property
    def name(self) -> str:
        return self.slot.name

    def k3s_facts(self) -> NodeFacts:
        """The node as its k3s config names it."""
        return NodeFacts(
            name=self.slot.name, role=self.slot.role, pool=self.slot.pool, server_id=self.facts.id,
            public_ipv4=self.facts.public_ipv4 or "", private_ip=self.private_ip,
            location=self.facts.location, server_type=self.facts.server_type,
        )


@dataclass(frozen=True)
class ClusterApi:
    """The running cluster, once its seed serves the API: what every join and add-on needs."""

    seed: ProvisionedNode
    token: str
    """The token joins use: k3s' own full form once the seed has started."""
    k3s_version: str
    """The exact release the seed runs: every join installs this one."""
