"""The k3s-facing commands of a node (installer, k3s, kubectl, systemctl, uninstall scripts)."""

from __future__ import annotations

from typing import Any

from khz_tui.sim.nodes.shell import Command, Invocation


async def run_installer(inv: Invocation, args: list[str]) -> int:
    """The get.k3s.io installer (not simulated in this revision: fails loudly)."""
    await inv.err("[ERROR]  k3s installer simulation not available yet\n")
    return 1


K3S_COMMANDS: dict[str, tuple[Command, str | None]] = {}
"""name -> (command, file that must exist for the command to be found)."""

_ = Any
