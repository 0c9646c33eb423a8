"""The loop that runs the in-cluster controllers of every simulated cluster.

One task per k3s service, started with the first cluster: each tick (TICK_SECONDS simulated) it
lets every cluster's CCM and CSI controller reconcile what changed, and rewrites the Services'
load balancer statuses. The controllers call the Hetzner API only when something they own
differs from what they last made, and back off after a failure, so an idle cluster costs nothing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from khz_tui.sim.k3s.cluster import Cluster
from khz_tui.sim.k3s.controllers.ccm import CloudControllerManager, write_statuses
from khz_tui.sim.k3s.controllers.csi import CsiController

log = logging.getLogger(__name__)

TICK_SECONDS = 1.0


class ControllerRunner:
    """The controllers of every cluster of one simulated project."""

    def __init__(self, clusters: Callable[[], list[Cluster]], endpoint: Callable[[], str], time_scale: float) -> None:
        self._clusters = clusters
        self._endpoint = endpoint
        self.time_scale = time_scale
        self._ccm: dict[int, CloudControllerManager] = {}
        self._csi: dict[int, CsiController] = {}
        self._task: asyncio.Task[None] | None = None

    def ensure_running(self) -> None:
        """Start the loop (once) on the running event loop."""
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._loop())

    async def close(self) -> None:
        """Stop the loop."""
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):  # noqa: BLE001 - ending anyway
                pass
            self._task = None

    async def reconcile_all(self) -> None:
        """One pass over every cluster (also what each tick does)."""
        endpoint = self._endpoint()
        for cluster in list(self._clusters()):
            if not cluster.live_servers():
                # The controllers are pods of the cluster: with no k3s server running (all deleted or
                # off) nothing reconciles, and nothing calls the API in the cluster's name.
                continue
            ccm = self._ccm.setdefault(cluster.id, CloudControllerManager(cluster, endpoint, self.time_scale))
            csi = self._csi.setdefault(cluster.id, CsiController(cluster, endpoint, self.time_scale))
            ccm.cluster = csi.cluster = cluster  # a restored project rebuilds its Cluster objects
            ccm.endpoint = csi.endpoint = endpoint
            try:
                await ccm.reconcile()
                await csi.reconcile()
            except Exception:
                log.exception("simulated controllers of cluster %s failed", cluster.id)
            write_statuses(cluster, ccm, self.time_scale)

    async def _loop(self) -> None:
        while True:
            await self.reconcile_all()
            await asyncio.sleep(max(0.01, TICK_SECONDS * self.time_scale))
