"""Fixtures for the reliability suites (chaos, crash-resume, drift, security, ...).

- Soak tests (`@pytest.mark.soak`) run only with KHZ_SOAK=1; otherwise they are skipped with a
  visible reason, so CI runs the bounded versions only.
- From `support.clusters`: HOME and the XDG dirs in tmp_path (state, host keys, kubeconfigs and run
  logs never leave the test; no hcloud CLI token or context from the developer's shell), `ssh_keys`,
  and `make_plan("c", cp=3, workers=2, lb=True, **sections)` (three control planes, two workers and
  the API load balancer unless told). Each test starts the simulator it needs (its own seed).
- Helpers that read what the simulator holds live in `reliability_helpers.py`.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from reliability_helpers import SHAPE
from support.clusters import cluster_fixtures
from support.home import HCLOUD_CLIENT_VARS

SOAK = os.environ.get("KHZ_SOAK") == "1"

_fixtures = cluster_fixtures(SHAPE, time_scale=0.02, also_unset=HCLOUD_CLIENT_VARS)
isolated_home, ssh_keys, make_plan = _fixtures.isolated_home, _fixtures.ssh_keys, _fixtures.make_plan


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if SOAK:
        return
    skip = pytest.mark.skip(reason="soak test: set KHZ_SOAK=1 to run the long reliability variant")
    for item in items:
        if "soak" in item.keywords and Path(str(item.fspath)).parent == Path(__file__).parent:
            item.add_marker(skip)
