"""Pool labels the kubelet refuses are refused by the plan, and autoscaling says it does nothing yet.

The kubelet refuses to start with a --node-labels key in the kubernetes.io or k8s.io namespaces
unless it is one of its own labels or lies under kubelet.kubernetes.io or node.kubernetes.io
(k8s.io/kubelet/pkg/apis/well_known_labels.go, IsKubeletLabel): such a node would never join.
"""

from __future__ import annotations

import pytest

from khz_tui.plan.checks import kubelet_refuses_label, validate_data


@pytest.mark.parametrize("key", ["node-role.kubernetes.io/worker", "kubernetes.io/role", "k8s.io/x",
                                 "example.k8s.io/x", "node-restriction.kubernetes.io/zone"])
def test_labels_the_kubelet_refuses(key):
    assert kubelet_refuses_label(key)
    plan, problems = validate_data({"schema_version": 1, "name": "demo",
                                    "worker_pools": [{"name": "w", "labels": {key: "yes"}}]})
    assert plan is None
    (problem,) = [p for p in problems if p.path == "worker_pools[0].labels"]
    assert key in problem.message and "kubelet" in problem.message


@pytest.mark.parametrize("key", ["node.kubernetes.io/pool", "team.node.kubernetes.io/x", "kubelet.kubernetes.io/y",
                                 "topology.kubernetes.io/zone", "kubernetes.io/arch", "example.com/tier", "tier"])
def test_labels_the_kubelet_accepts(key):
    assert not kubelet_refuses_label(key)
    plan, problems = validate_data({"schema_version": 1, "name": "demo",
                                    "worker_pools": [{"name": "w", "labels": {key: "yes"}}]})
    assert plan is not None, problems


def test_autoscaling_is_accepted_with_a_warning_that_nothing_acts_on_it():
    plan, problems = validate_data({"schema_version": 1, "name": "demo",
                                    "worker_pools": [{"name": "w", "count": 2, "autoscaling": {"min": 1, "max": 4}}]})
    assert plan is not None
    (warning,) = [p for p in problems if p.path == "worker_pools[0].autoscaling"]
    assert warning.severity == "warning" and "installs no autoscaler" in warning.message
    _, none = validate_data({"schema_version": 1, "name": "demo"})
    assert not [p for p in none if "autoscal" in p.message]
