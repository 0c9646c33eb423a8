"""Reaching a test's simulator: the engine's target for it, and what its own state holds."""

from __future__ import annotations

from typing import Any

from khz_tui.engine.api import Target
from khz_tui.sim.simulator import Simulator


def target_of(sim: Simulator) -> Target:
    return Target(endpoint=sim.endpoint, simulated=True, token=sim.token, time_scale=sim.time_scale)


def labeled(sim: Any, kind: str, cluster: str) -> list[dict[str, Any]]:
    """Resources of `kind` in the simulator's own state carrying `khz-tui.io/cluster=<cluster>`."""
    items = getattr(sim.state, kind)
    values = items.values() if isinstance(items, dict) else items
    return [r for r in values if (r.get("labels") or {}).get("khz-tui.io/cluster") == cluster]
