"""How verify asks the cluster: `k3s kubectl` over SSH on one control plane whose host key this
machine pinned (`nodes/cluster_api.py`), through a session of its own (`khz-tui verify`) or apply's
session on its seed (the verify at the end of apply).

Several checks run at once on one connection. When it drops, every command in flight fails (a lost
session, or a channel the dying connection refused): the first to notice reconnects, the others
wait for it, and each command is sent again, a bounded number of times.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

from khz_tui.engine.nodes import cluster_api
from khz_tui.engine.nodes.session import CommandFailed, CommandResult, NodeSession, SessionLost

#: Times one command is sent again after its connection dropped.
RESENDS = 5


class ClusterUnanswered(Exception):
    """kubectl failed or printed something other than the JSON asked for."""


@dataclass
class ClusterShell:
    """kubectl on `session`'s node, a control plane."""

    session: NodeSession
    reconnect_deadline: float
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _generation: int = 0

    @property
    def node(self) -> str:
        return self.session.node

    async def kubectl(self, args: str, *, timeout: float = 60.0, stdin: str | None = None) -> CommandResult:
        """The command's result (a non-zero exit is the caller's to judge); raises NodeError when the
        node cannot be reached again, CommandFailed when the command ran past `timeout`."""
        for attempt in range(RESENDS + 1):
            generation = self._generation
            try:
                return await cluster_api.kubectl(self.session, args, timeout=timeout, stdin=stdin)
            except (SessionLost, CommandFailed) as exc:
                if (isinstance(exc, CommandFailed) and exc.result is not None) or attempt == RESENDS:
                    raise  # ran past its timeout, or the connection keeps dropping
                async with self._lock:
                    if self._generation == generation:  # nobody reconnected since this command was sent
                        await self.session.reconnect(deadline=self.reconnect_deadline)
                        self._generation += 1
        raise AssertionError("unreachable")

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
