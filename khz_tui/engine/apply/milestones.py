"""The milestones of one apply: the points its concurrent parts wait for, each reached once.

    milestone              reached by (what it carries)                      waited for by
    ---------------------  ------------------------------------------------  -----------------------------------
    load_balancer          infrastructure.ensure_load_balancer, or flow at   seed.find_seed (the seed's tls-san
                           once without one (ApiAddresses)                   names it); tls-san and join URL
    servers_known          node_server, when every control plane's server    seed.find_seed
                           exists and its create action succeeded
    seed_known             seed.find_seed (SeedChoice: name, token)          join: every control plane
    reachable[node]        flow, when the node answers SSH (ProvisionedNode)  seed.find_seed (probing existing
                                                                             control planes), flow's volumes
    every_node_reachable   flow, once every reachable[node] is               join, when the policy holds
                                                                             installs until every server is up
    api_up                 join, once the seed serves the API (ClusterApi:   join: every other node; readiness;
                           seed, token, k3s release)                         add-ons; scale-down; kubeconfig
    seed_ready             readiness, when the seed's Node is Ready          join: control planes
    control_plane_ready    readiness, when every control plane is Ready      join: workers, when the policy
                                                                             starts them after the control plane

The order they make, with the default policy:

    infrastructure ─┬─ load balancer: load_balancer ────────────┐
                    └─ each server created ─┬─ servers_known ───┴─ seed_known ───┐
                                            └─ SSH: reachable[node] ─────────────┴─ seed install ─ api_up
    api_up ─┬─ workers join (each once its own reachable[node]) ─────────────┐
            ├─ add-ons                                                       ├─ every node Ready
            └─ readiness: seed_ready ─ control planes join, one at a time ───┘

Another policy adds waits on the other two: every install after every_node_reachable, and workers
after control_plane_ready (the benchmark's naive baseline does both).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Generic, TypeVar

from khz_tui.engine.apply.records import ApiAddresses, ClusterApi, ProvisionedNode, SeedChoice

T = TypeVar("T")


class MilestoneNotReached(RuntimeError):
    """A part read what a milestone carries before it was reached: a mistake in the schedule."""


class Milestone(Generic[T]):
    """One milestone: reached once, with what it carries; waiting for it afterwards returns at once."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._reached = asyncio.Event()
        self._value: tuple[T] | None = None

    @property
    def reached(self) -> bool:
        return self._value is not None

    def reach(self, value: T) -> None:
        """Mark it reached with `value`, releasing everything waiting for it. Reaching it again is a
        mistake in the schedule (ValueError): what it carries never changes once known."""
        if self._value is not None:
            raise ValueError(f"the milestone {self.name!r} was reached already")
        self._value = (value,)
        self._reached.set()

    async def wait(self) -> T:
        """What it carries, once reached."""
        await self._reached.wait()
        return self.value()

    def value(self) -> T:
        """What it carries; raises MilestoneNotReached before then."""
        if self._value is None:
            raise MilestoneNotReached(f"the milestone {self.name!r} is not reached yet")
        return self._value[0]


class Milestones:
    """Every milestone of one apply (see the table above)."""

    def __init__(self, node_names: Iterable[str]) -> None:
        self.load_balancer: Milestone[ApiAddresses] = Milestone("load balancer ready")
        self.servers_known: Milestone[None] = Milestone("every control plane's server known")
        self.seed_known: Milestone[SeedChoice] = Milestone("seed known")
        self.reachable: dict[str, Milestone[ProvisionedNode]] = {
            name: Milestone(f"{name} reachable") for name in node_names
        }
        self.every_node_reachable: Milestone[None] = Milestone("every node reachable")
        self.api_up: Milestone[ClusterApi] = Milestone("API up")
        self.seed_ready: Milestone[None] = Milestone("seed Ready")
        self.control_plane_ready: Milestone[None] = Milestone("every control plane Ready")

    def provisioned(self) -> list[ProvisionedNode]:
        """The nodes reachable so far, in plan order."""
        return [m.value() for m in self.reachable.values() if m.reached]
