"""What one check found, and what verify needs to run its checks."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from hcloud.servers.client import BoundServer

from khz_tui.engine.context import RunContext
from khz_tui.engine.events import VerifyStatus
from khz_tui.engine.verify.shell import ClusterShell


@dataclass(frozen=True)
class CheckResult:
    check: str
    title: str
    status: VerifyStatus
    detail: str
    hint: str = ""
    nodes: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.status != "fail"


@dataclass
class Verification:
    """One verify: the run's context, the cluster's servers at Hetzner by name, how to ask the
    cluster (None when no control plane could be reached, `unreachable` says why) and where the
    kubeconfig is."""

    ctx: RunContext
    servers: dict[str, BoundServer]
    shell: ClusterShell | None
    kubeconfig: Path
    unreachable: str = ""
    ready_nodes: list[str] = field(default_factory=list)
    """Filled by the nodes check: the planned nodes that are Ready (where pods can run)."""
