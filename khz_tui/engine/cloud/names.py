"""Resource names and the label scheme: how the engine recognises what belongs to a cluster.

Every resource the engine creates carries `khz-tui.io/cluster=<name>` and
`khz-tui.io/managed-by=khz-tui`; servers also carry a role, a pool and a node index. Discovery lists
resources by label selector only, so a look-alike that was created by hand (same name, no labels) is
never adopted, changed or deleted.
"""

from __future__ import annotations

from dataclasses import dataclass

from khz_tui.engine.events import NodeRole
from khz_tui.plan.model import ClusterPlan

LABEL_PREFIX = "khz-tui.io"
CLUSTER_LABEL = f"{LABEL_PREFIX}/cluster"
MANAGED_BY_LABEL = f"{LABEL_PREFIX}/managed-by"
ROLE_LABEL = f"{LABEL_PREFIX}/role"
POOL_LABEL = f"{LABEL_PREFIX}/pool"
INDEX_LABEL = f"{LABEL_PREFIX}/index"
MANAGED_BY = "khz-tui"
#: On a cluster's run-lock marker instead of CLUSTER_LABEL: discovery by the cluster's selector never
#: lists the marker, so apply does not see an unplanned placement group and destroy does not count it.
RUN_LOCK_OF_LABEL = f"{LABEL_PREFIX}/run-lock-of"

#: Pool label value of control-plane servers. The plan checks reserve only the name part `cp`, so a
#: worker pool may be called `control-plane` too: the role label, not this one, tells the two apart.
CONTROL_PLANE_POOL = "control-plane"
#: Hetzner puts at most this many servers in one spread placement group.
PLACEMENT_GROUP_SIZE = 10


def cluster_labels(cluster: str, **extra: str) -> dict[str, str]:
    """Labels every resource of `cluster` carries, plus `extra` (role, pool, index)."""
    labels = {CLUSTER_LABEL: cluster, MANAGED_BY_LABEL: MANAGED_BY}
    for key, value in extra.items():
        labels[f"{LABEL_PREFIX}/{key}"] = value
    return labels


def cluster_selector(cluster: str) -> str:
    """Label selector matching every resource of `cluster` that khz-tui manages."""
    return f"{CLUSTER_LABEL}={cluster},{MANAGED_BY_LABEL}={MANAGED_BY}"


def control_plane_selector(cluster: str) -> str:
    """Selector the API load balancer uses to find its targets."""
    return f"{cluster_selector(cluster)},{ROLE_LABEL}=control-plane"


def network_name(cluster: str) -> str:
    return cluster


def firewall_name(cluster: str) -> str:
    return cluster


def ssh_key_name(cluster: str) -> str:
    return cluster


def load_balancer_name(cluster: str) -> str:
    return f"{cluster}-api"


def run_lock_name(cluster: str) -> str:
    """The run-lock marker (a placement group). No planned name ends in `-run-lock`: control-plane
    groups end in `-cp`, worker groups in `-pg-<k>`."""
    return f"{cluster}-run-lock"


def control_plane_name(cluster: str, n: int) -> str:
    return f"{cluster}-cp-{n}"


def worker_name(cluster: str, pool: str, n: int) -> str:
    return f"{cluster}-{pool}-{n}"


def volume_name(cluster: str, volume: str, n: int) -> str:
    return f"{cluster}-{volume}-{n}"


def placement_group_name(cluster: str, pool: str | None, k: int) -> str:
    """`<cluster>-cp` for control planes (never more than 5), `<cluster>-<pool>-<k>` for worker pools."""
    if pool is None:
        return f"{cluster}-cp"
    return f"{cluster}-{pool}-pg-{k}"


def placement_group_index(n: int) -> int:
    """Which placement group (1-based) node `n` (1-based) of a pool lives in: ten per group."""
    return (n - 1) // PLACEMENT_GROUP_SIZE + 1


@dataclass(frozen=True)
class NodeSlot:
    """One server the plan asks for: its name and where it goes."""

    name: str
    role: NodeRole
    pool: str
    index: int
    server_type: str
    location: str
    image: str
    placement_group: str

    @property
    def labels_extra(self) -> dict[str, str]:
        return {"role": self.role, "pool": self.pool, "index": str(self.index)}


def planned_nodes(plan: ClusterPlan) -> list[NodeSlot]:
    """Every server of the plan, control planes first, in a stable order."""
    c = plan.name
    slots = [
        NodeSlot(
            name=control_plane_name(c, i + 1),
            role="control-plane",
            pool=CONTROL_PLANE_POOL,
            index=i + 1,
            server_type=plan.control_plane.server_type,
            location=loc,
            image=plan.control_plane.image,
            placement_group=placement_group_name(c, None, 1),
        )
        for i, loc in enumerate(plan.control_plane_locations())
    ]
    for pool in plan.worker_pools:
        for n in range(1, pool.count + 1):
            slots.append(
                NodeSlot(
                    name=worker_name(c, pool.name, n),
                    role="worker",
                    pool=pool.name,
                    index=n,
                    server_type=pool.server_type,
                    location=plan.pool_location(pool),
                    image=plan.pool_image(pool),
                    placement_group=placement_group_name(c, pool.name, placement_group_index(n)),
                )
            )
    return slots


def planned_placement_groups(plan: ClusterPlan) -> list[str]:
    """Names of the spread groups the plan needs, ≤ 10 servers each."""
    names = {s.placement_group: None for s in planned_nodes(plan)}
    return list(names)


def planned_volumes(plan: ClusterPlan) -> list[tuple[str, str, int, str]]:
    """(volume name, node name, size GB, format) for every volume the plan asks for."""
    out: list[tuple[str, str, int, str]] = []
    nodes = planned_nodes(plan)
    for vol in plan.storage.volumes:
        for slot in nodes:
            if slot.role == "worker" and slot.pool == vol.pool:
                out.append((volume_name(plan.name, vol.name, slot.index), slot.name, vol.size_gb, vol.format))
    return out


def planned_names(plan: ClusterPlan) -> dict[str, list[str]]:
    """Every name the plan's resources get, by inventory kind (the SSH key is left out: apply reuses
    the project's key with the plan's fingerprint, whatever its name)."""
    c = plan.name
    return {
        "networks": [network_name(c)],
        "firewalls": [firewall_name(c)],
        "load_balancers": [load_balancer_name(c)] if plan.load_balancer.enabled else [],
        "placement_groups": planned_placement_groups(plan),
        "servers": [s.name for s in planned_nodes(plan)],
        "volumes": [v[0] for v in planned_volumes(plan)],
    }
