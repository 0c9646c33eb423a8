"""Everything one run needs, passed to apply, destroy and dry-run as one object."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from khz_tui.engine.apply.policy import DEFAULT_POLICY, ApplyPolicy
from khz_tui.engine.bus import EventBus
from khz_tui.engine.cloud.client import CloudClient
from khz_tui.engine.cloud.node_access import NodeAccess
from khz_tui.engine.cluster_files import ClusterFiles
from khz_tui.engine.options import RunOptions
from khz_tui.plan.model import ClusterPlan

Confirm = Callable[[str], Awaitable[bool]]


class NotConfirmed(Exception):
    """A destructive step was not confirmed; nothing destructive happened."""


@dataclass
class RunContext:
    plan: ClusterPlan
    client: CloudClient
    bus: EventBus
    access: NodeAccess
    files: ClusterFiles
    """This cluster's files on this machine: host keys, kubeconfig, run logs, the local run lock."""
    options: RunOptions
    hcloud_token: str
    confirm: Confirm | None = None
    time_scale: float = 1.0
    """1.0 against Hetzner; the simulator's scale, so waits and polls shrink with its clock."""
    apply_policy: ApplyPolicy = DEFAULT_POLICY
    """The schedule an apply follows (concurrency, join order, deadlines; see apply/policy.py)."""

    def scaled(self, seconds: float, floor: float = 0.01) -> float:
        return max(floor, seconds * self.time_scale)

    async def confirmed(self, question: str) -> bool:
        """`--yes` / options.yes confirms; otherwise ask; no way to ask means no."""
        if self.options.yes:
            return True
        if self.confirm is None:
            return False
        return await self.confirm(question)
