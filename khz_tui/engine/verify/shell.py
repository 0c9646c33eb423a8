"""How verify asks the cluster: `k3s kubectl` over SSH on one control plane whose host key this
machine pinned (`nodes/cluster_api.py`), through a session of its own (`khz-tui verify`) or apply's
session on its seed (the verify at the end of apply, reconnecting as apply does)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from khz_tui.engine.nodes.session import CommandResult

#: (kubectl arguments, timeout in seconds, stdin or None) -> the command's result, never raised for
#: a non-zero exit.
RunKubectl = Callable[[str, float, "str | None"], Awaitable[CommandResult]]


class ClusterUnanswered(Exception):
    """kubectl failed or printed something other than the JSON asked for."""


@dataclass
class ClusterShell:
    """kubectl on `node`, a control plane."""

    node: str
    run: RunKubectl

    async def kubectl(self, args: str, *, timeout: float = 60.0, stdin: str | None = None) -> CommandResult:
        return await self.run(args, timeout, stdin)

    async def json(self, args: str, *, timeout: float = 60.0) -> dict[str, Any]:
        result = await self.kubectl(f"{args} -o json", timeout=timeout)
        if result.exit_status != 0:
            raise ClusterUnanswered(f"`k3s kubectl {args} -o json` on {self.node} failed: "
                                    f"{(result.stderr or result.stdout).strip()[:300] or 'no output'}")
        try:
            data = json.loads(result.stdout)
        except ValueError:
            raise ClusterUnanswered(f"`k3s kubectl {args} -o json` on {self.node} printed no JSON") from None
        return data if isinstance(data, dict) else {}

    async def items(self, args: str, *, timeout: float = 60.0) -> list[dict[str, Any]]:
        return list((await self.json(args, timeout=timeout)).get("items") or [])
