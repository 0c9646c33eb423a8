"""Clusters built by the real engine on a simulator whose in-cluster controllers (hcloud CCM, CSI
driver, Longhorn, the CNI's pod network) act on what was applied; probed over SSH (`k3s kubectl`
on a control plane) and over the simulator's HTTP API, as any client would.

From `support.clusters`: an isolated HOME (kubeconfigs stay in the test), `ssh_keys`,
`make_plan("c", cp=1, workers=1, **sections)` (one control plane, one worker, no API load balancer
unless told) and `sim` (simulated machines, k3s and its controllers; it also knows a read-only token).
"""

from __future__ import annotations

from ctl_helpers import READ_ONLY_TOKEN
from support.clusters import PlanShape, cluster_fixtures

TIME_SCALE = 0.02

_fixtures = cluster_fixtures(PlanShape(cp=1, workers=1, lb=False), time_scale=TIME_SCALE, read_only_token=READ_ONLY_TOKEN)
isolated_home, ssh_keys, make_plan, sim = _fixtures.isolated_home, _fixtures.ssh_keys, _fixtures.make_plan, _fixtures.sim
