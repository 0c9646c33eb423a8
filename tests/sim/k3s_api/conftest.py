"""Clusters built by the real engine on a simulator, and the real `kubectl` to talk to their API.

From `support.clusters`: an isolated HOME (kubeconfigs and kubectl's discovery cache stay in the
test), `ssh_keys`, `make_plan("c", cp=1, workers=1)` (one control plane, no workers and the API load
balancer unless told) and `sim` (simulated machines and k3s). `kubectl` comes from the machine
(Debian's `kubernetes-client`, which tests/run.sh installs); tests that need it skip with that reason
when it is absent.
"""

from __future__ import annotations

import pytest
from support.clusters import PlanShape, cluster_fixtures
from support.kubectl import kubectl_path as find_kubectl

TIME_SCALE = 0.02

_fixtures = cluster_fixtures(PlanShape(cp=1, workers=0, lb=True), time_scale=TIME_SCALE)
isolated_home, ssh_keys, make_plan, sim = _fixtures.isolated_home, _fixtures.ssh_keys, _fixtures.make_plan, _fixtures.sim


@pytest.fixture
def kubectl_path() -> str:
    """The real kubectl, or a visible skip."""
    return find_kubectl()
