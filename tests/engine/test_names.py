"""Names, labels and placement-group splitting: pure functions, no cloud needed."""

from khz_tui.engine.cloud.names import (
    CLUSTER_LABEL,
    MANAGED_BY_LABEL,
    cluster_labels,
    cluster_selector,
    control_plane_selector,
    placement_group_index,
    planned_nodes,
    planned_placement_groups,
    planned_volumes,
)
from khz_tui.plan.model import ClusterPlan, Volume, WorkerPool


def test_names_of_the_seed_plan() -> None:
    plan = ClusterPlan(name="demo")
    names = [s.name for s in planned_nodes(plan)]
    assert names == ["demo-cp-1", "demo-cp-2", "demo-cp-3", "demo-default-1", "demo-default-2"]
    assert planned_placement_groups(plan) == ["demo-cp", "demo-default-pg-1"]


def test_placement_groups_hold_at_most_ten_servers() -> None:
    plan = ClusterPlan(name="big", worker_pools=[WorkerPool(name="w", count=23), WorkerPool(name="x", count=10)])
    slots = planned_nodes(plan)
    groups: dict[str, int] = {}
    for s in slots:
        groups[s.placement_group] = groups.get(s.placement_group, 0) + 1
    assert max(groups.values()) <= 10
    assert groups == {"big-cp": 3, "big-w-pg-1": 10, "big-w-pg-2": 10, "big-w-pg-3": 3, "big-x-pg-1": 10}
    assert [placement_group_index(n) for n in (1, 10, 11, 20, 21)] == [1, 1, 2, 2, 3]


def test_labels_and_selectors_name_the_cluster() -> None:
    labels = cluster_labels("demo", role="worker", pool="default")
    assert labels[CLUSTER_LABEL] == "demo" and labels[MANAGED_BY_LABEL] == "khz-tui"
    assert labels["khz-tui.io/role"] == "worker"
    assert cluster_selector("demo") == "khz-tui.io/cluster=demo,khz-tui.io/managed-by=khz-tui"
    assert control_plane_selector("demo").endswith(",khz-tui.io/role=control-plane")


def test_volumes_follow_their_pool() -> None:
    plan = ClusterPlan(
        name="v",
        worker_pools=[WorkerPool(name="db", count=2), WorkerPool(name="web", count=1)],
        storage={"volumes": [Volume(name="data", size_gb=20, pool="db")]},
    )
    assert planned_volumes(plan) == [("v-data-1", "v-db-1", 20, "ext4"), ("v-data-2", "v-db-2", 20, "ext4")]
