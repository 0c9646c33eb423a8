"""How a run was asked for: what the command line (or the wizard) decided beyond the plan itself."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal


@dataclass(frozen=True)
class RunOptions:
    """Options shared by the wizard, replay and headless runs. None means "take it from the plan"."""

    sim: bool = False
    """Run against an in-process simulator instead of a real endpoint."""
    endpoint: str | None = None
    """API base URL (--endpoint, else HCLOUD_ENDPOINT, else the plan, else Hetzner)."""
    token_env: str | None = None
    """Environment variable holding the token (--token-env), overriding the plan's `token_env`."""
    yes: bool = False
    """Confirm destructive steps (scale-down, destroy) without asking."""
    output: Literal["text", "json"] = "text"
    kubeconfig: Path | None = None
    """Where to write the kubeconfig; None: the cluster's state directory."""
    merge_kubeconfig: bool = False
    """Also merge the cluster's context into ~/.kube/config (or $KUBECONFIG)."""
    force_unlock: bool = False
    """Take over another run's lock on the cluster at once (after confirming) instead of waiting
    for it to expire; for a lock left by a run that was killed."""
    skip_verify: bool = False
    """Apply without its closing verify (--no-verify)."""
    deep: bool = False
    """verify --deep: also the checks that create and remove billed resources (a load balancer, a volume)."""
