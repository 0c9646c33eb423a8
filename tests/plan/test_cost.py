"""Cost estimates against figures worked out by hand from the bundled snapshot's prices."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from khz_tui.plan.cost import estimate_cost
from khz_tui.plan.model import ClusterPlan, ControlPlane, LoadBalancerSection, StorageSection, Volume, WorkerPool


def _lines(est):
    return {ln.item: (ln.quantity, ln.unit_monthly, ln.monthly) for ln in est.lines}


def test_reference_layout():
    # 3 x cpx22 7.99 + 2 x cpx32 13.99 + lb11 5.39 + 5 primary IPv4 x 0.50 (fsn1, net EUR)
    est = estimate_cost(ClusterPlan(name="demo"))
    assert est.currency == "EUR" and est.catalog_date == "2026-05-01"
    assert _lines(est) == {
        "control plane cpx22 (fsn1)": (3, D("7.99"), D("23.97")),
        "worker pool default: cpx32 (fsn1)": (2, D("13.99"), D("27.98")),
        "API load balancer lb11 (fsn1)": (1, D("5.39"), D("5.39")),
        "primary IPv4 (fsn1)": (5, D("0.50"), D("2.50")),
    }
    assert est.monthly == D("59.84")
    # hourly: 3 x 0.0109 + 2 x 0.0192 + 0.0074 + 5 x 0.0008
    assert est.hourly == D("0.0825")


def test_volumes_and_spread_control_planes():
    plan = ClusterPlan(
        name="demo",
        control_plane=ControlPlane(locations=["fsn1", "nbg1", "hel1"]),
        storage=StorageSection(volumes=[Volume(name="data", size_gb=50, pool="default")]),
    )
    est = estimate_cost(plan)
    lines = _lines(est)
    assert lines["control plane cpx22 (nbg1)"] == (1, D("7.99"), D("7.99"))
    # 50 GB x 0.044 = 2.20 per volume, one per node of the 2-node pool
    assert lines["volume data 50 GB (pool default)"] == (2, D("2.20"), D("4.40"))
    assert lines["primary IPv4 (fsn1)"] == (3, D("0.50"), D("1.50"))
    assert est.monthly == D("64.24")
    # volume hourly is its monthly price over 730 hours: 4.40 / 730
    assert est.hourly == D("0.0327") + D("0.0384") + D("0.0074") + D("4.40") / 730 + D("0.0040")


def test_single_node_without_load_balancer():
    plan = ClusterPlan(name="solo", worker_pools=[], control_plane=ControlPlane(count=1, server_type="cpx32"),
                       load_balancer=LoadBalancerSection(enabled=False))
    est = estimate_cost(plan)
    assert [ln.item for ln in est.lines] == ["control plane cpx32 (fsn1)", "primary IPv4 (fsn1)"]
    assert est.monthly == D("14.49") and est.hourly == D("0.0200")


def test_empty_pool_costs_nothing_and_us_prices_differ():
    plan = ClusterPlan(
        name="us",
        hcloud={"location": "ash"},
        network={"zone": "us-east"},
        worker_pools=[WorkerPool(name="idle", count=0)],
        storage=StorageSection(volumes=[Volume(name="d", pool="idle")]),
    )
    lines = _lines(estimate_cost(plan))
    assert not any("idle" in item for item in lines)
    assert lines["API load balancer lb11 (ash)"] == (1, D("6.47"), D("6.47"))


def test_unknown_server_type_is_a_clear_error():
    with pytest.raises(ValueError, match="cpx99"):
        estimate_cost(ClusterPlan(name="x", control_plane=ControlPlane(server_type="cpx99")))
