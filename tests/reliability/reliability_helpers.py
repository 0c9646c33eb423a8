"""Helpers for the reliability suites: read what the simulator holds, run seeded chaos applies.

Everything here asserts on what the simulator holds (servers, networks, k3s nodes; read through
`sim.inspect`), not on the engine's word alone.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from support import plans
from support.clusters import PlanShape
from support.simulator import labeled, target_of

from khz_tui.engine.api import run
from khz_tui.engine.events import EngineEvent, RunFinished
from khz_tui.engine.options import RunOptions
from khz_tui.plan.model import ClusterPlan
from khz_tui.sim.faults import load_profile
from khz_tui.sim.inspection import K3sCluster, Resource
from khz_tui.sim.simulator import Simulator

SHAPE = PlanShape(cp=3, workers=2, lb=True)
"""The reliability suites' cluster unless a test says otherwise: three control planes, two workers and
the API load balancer."""


def plan_data(name: str, ssh_keys: tuple[Path, Path], *, cp: int = SHAPE.cp, workers: int = SHAPE.workers,
              lb: bool = SHAPE.lb, **sections: Any) -> dict[str, Any]:
    """Plan data of the suites' `SHAPE` unless told."""
    return plans.plan_data(name, ssh_keys, cp=cp, workers=workers, lb=lb, **sections)


KINDS = ("servers", "networks", "firewalls", "load_balancers", "volumes", "ssh_keys", "placement_groups")


def all_labeled(sim: Simulator, cluster: str) -> dict[str, list[Resource]]:
    return {kind: labeled(sim, kind, cluster) for kind in KINDS}


def duplicates(sim: Simulator, cluster: str) -> list[str]:
    """Names that occur more than once per kind among the cluster's resources (should be none)."""
    found = []
    for kind, items in all_labeled(sim, cluster).items():
        counts = Counter(r.name for r in items)
        found += [f"{kind}/{n} x{c}" for n, c in counts.items() if c > 1]
    return found


def clusters_holding(sim: Simulator, server_ids: set[int]) -> list[K3sCluster]:
    """Every simulated k3s cluster with at least one of these servers among its nodes."""
    return sim.inspect.k3s_clusters(server_ids)


def cluster_servers(sim: Simulator, cluster: str) -> set[int]:
    """Ids of the servers labeled for `cluster`."""
    return {s.id for s in labeled(sim, "servers", cluster)}


def ready_servers(sim: Simulator, cluster: str) -> tuple[set[str], set[str]]:
    """(names of the cluster's servers, names of k3s nodes that are Ready *and* run on those very servers)."""
    servers = {s.id: s.name for s in labeled(sim, "servers", cluster)}
    ready: set[str] = set()
    for c in clusters_holding(sim, set(servers)):
        for node in c.nodes.values():
            if node.ready and servers.get(node.server_id) == node.name:
                ready.add(node.name)
    return set(servers.values()), ready


def repaired(events: list[EngineEvent], repair: str) -> list[str]:
    """Nodes the run repaired this way (`NodeRepaired`), in order."""
    return [e.node for e in events if e.kind == "NodeRepaired" and e.repair == repair]


def never_reachable(sim: Simulator, cluster: str) -> set[str]:
    """Servers of the cluster whose sshd the fault layer keeps down for good."""
    dark = {m.server_id for m in sim.inspect.machines() if m.never_reachable}  # a server that never booted has none
    return {s.name for s in labeled(sim, "servers", cluster) if s.id in dark}


@dataclass
class ChaosResult:
    """One seeded apply (then destroy) under a fault profile, judged on the simulator's state."""

    profile: str
    seed: int
    nodes: int
    ok: bool = False
    """The apply said it succeeded."""
    converged: bool = False
    """Every planned server exists once and runs a Ready k3s node of one cluster."""
    impossible: set[str] = field(default_factory=set)
    """Nodes the fault layer never lets boot: convergence cannot happen."""
    clear_failure: bool = False
    """The apply failed naming one of the impossible nodes."""
    message: str = ""
    wall: float = 0.0
    duplicates: list[str] = field(default_factory=list)
    clusters: int = 0
    left_after_destroy: dict[str, list[str]] = field(default_factory=dict)
    destroy_ok: bool = False
    throttled: int = 0
    recreated: int = 0
    """Servers whose create action failed and that the engine deleted and created again."""

    @property
    def good(self) -> bool:
        """What the suite demands: converged, or a clear failure where convergence is impossible;
        never a duplicate; nothing left after destroy."""
        outcome = (self.converged and self.ok) if not self.impossible else (self.clear_failure and not self.ok)
        return outcome and not self.duplicates and self.destroy_ok and not self.left_after_destroy

    def line(self) -> str:
        verdict = "converged" if self.converged else ("clear failure" if self.clear_failure else "NOT CONVERGED")
        return (f"{self.profile:22} seed={self.seed:<4} nodes={self.nodes:<3} {verdict:14} wall={self.wall:6.1f}s "
                f"recreated={self.recreated} dups={len(self.duplicates)} left={sum(map(len, self.left_after_destroy.values()))} "
                f"{'' if self.good else self.message[:160]}")


async def chaos_run(profile: str, seed: int, plan: ClusterPlan, *, time_scale: float) -> ChaosResult:
    """Apply `plan` under the named fault profile and seed, judge the simulator's state, destroy,
    and check that nothing labeled for the cluster is left."""
    total = len([n for n in _planned(plan)])
    result = ChaosResult(profile=profile, seed=seed, nodes=total)
    async with Simulator(time_scale=time_scale, seed=seed, faults=load_profile(profile)) as sim:
        events: list[EngineEvent] = []
        started = time.monotonic()
        finished: RunFinished = await run("apply", plan, target_of(sim), sink=events.append, options=RunOptions())
        result.wall = time.monotonic() - started
        result.ok, result.message, result.throttled = finished.ok, finished.message, finished.api_throttled
        result.recreated = sum(1 for e in events if e.kind == "NodeRepaired" and e.repair == "server-recreated")
        names, ready = ready_servers(sim, plan.name)
        result.impossible = never_reachable(sim, plan.name)
        wanted = set(_planned(plan))
        result.clusters = len(clusters_holding(sim, cluster_servers(sim, plan.name)))
        result.converged = names == wanted and ready == wanted and result.clusters == 1
        result.clear_failure = (not finished.ok and bool(result.impossible)
                                and any(n in finished.message for n in result.impossible))
        result.duplicates = duplicates(sim, plan.name)
        gone = await run("destroy", plan, target_of(sim), sink=lambda e: None, options=RunOptions(yes=True))
        result.destroy_ok = gone.ok
        if not gone.ok:
            result.message += f" | destroy failed in {gone.failed_step}: {gone.message}"
        left = {k: [r.name for r in v] for k, v in all_labeled(sim, plan.name).items() if v}
        result.left_after_destroy = left
    return result


def _planned(plan: ClusterPlan) -> list[str]:
    from khz_tui.engine.cloud.names import planned_nodes

    return [s.name for s in planned_nodes(plan)]


def convergence_report(results: list[ChaosResult]) -> str:
    """Per profile: runs, converged (where possible), clear failures (where not), wall times, duplicates."""
    rows = ["profile                 nodes runs good converged clear-fail  wall min/median/max   dups left"]
    keys = sorted({(r.profile, r.nodes) for r in results})
    for profile, nodes in keys:
        rs = [r for r in results if r.profile == profile and r.nodes == nodes]
        walls = sorted(r.wall for r in rs)
        possible = [r for r in rs if not r.impossible]
        rows.append(
            f"{profile:22} {nodes:5} {len(rs):4} {sum(r.good for r in rs):4} "
            f"{sum(r.converged for r in possible):4}/{len(possible):<4} "
            f"{sum(r.clear_failure for r in rs if r.impossible):4}/{len(rs) - len(possible):<4} "
            f"{walls[0]:6.1f}/{walls[len(walls) // 2]:6.1f}/{walls[-1]:6.1f}s "
            f"{sum(len(r.duplicates) for r in rs):4} {sum(sum(map(len, r.left_after_destroy.values())) for r in rs):4}"
        )
    return "\n".join(rows)
