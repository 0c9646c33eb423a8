"""The address khz-tui runs from, looked up once per session for the firewall fields and the review.

An empty `ssh.allowed_cidrs` / `ssh.api_allowed_cidrs` means "the address I run from", found at
each run (`engine/caller_address.py`). The wizard shows that address beside the fields, with where
it came from, so an empty field does not look like "nobody" or "everybody". Against a simulator
(`--sim`, or an endpoint that answers `/x-sim/info`) its announced address is the answer, as it is
for the run; on Hetzner the echo services are asked. Never on the event loop's time: callers run
`look_up` in a Textual worker.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from khz_tui.engine.api import Connect
    from khz_tui.engine.caller_address import CallerAddress
    from khz_tui.engine.options import RunOptions
    from khz_tui.plan.model import ClusterPlan


@dataclass
class CallerLookup:
    """One lookup per app, shared by every screen that shows the address; `found` or `error` once done."""

    found: list[CallerAddress] | None = None
    error: str | None = None
    _lookup_lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @property
    def done(self) -> bool:
        return self.found is not None or self.error is not None

    async def look_up(self, plan: ClusterPlan, options: RunOptions, token: str | None, connect: Connect) -> None:
        async with self._lookup_lock:
            if self.done:
                return
            try:
                self.found = await _caller_addresses(plan, options, token, connect)
            except Exception as exc:  # noqa: BLE001 - shown beside the fields in the engine's words; the run says it too
                self.error = _reason(exc)

    def summary(self) -> str:
        """`127.0.0.1/32 (from the simulator (GET /x-sim/info))`, or why it is unknown."""
        if self.found:
            return ", ".join(f"{a.cidr} (from {a.source})" for a in self.found)
        return f"unknown: {self.error}" if self.error else "looking it up…"


def _reason(exc: Exception) -> str:
    message, hint = getattr(exc, "message", None), getattr(exc, "hint", None)
    if message:
        return f"{message}; {hint}" if hint else str(message)
    return str(exc) or type(exc).__name__


async def _caller_addresses(
    plan: ClusterPlan, options: RunOptions, token: str | None, connect: Connect
) -> list[CallerAddress]:
    from khz_tui.engine.bus import EventBus
    from khz_tui.engine.caller_address import detect_caller_cidrs
    from khz_tui.engine.cloud.client import CloudClient
    from khz_tui.engine.cloud.node_access import probe_node_access
    from khz_tui.engine.credentials import DEFAULT_ENDPOINT, resolve_endpoint

    if not options.sim and resolve_endpoint(plan, options) == DEFAULT_ENDPOINT:
        return await detect_caller_cidrs()  # Hetzner cannot say it: no need for a token to ask elsewhere
    async with connect(plan, options, token=token) as target:
        bus = EventBus(lambda event: None)
        bus.add_secret(target.token)
        client = CloudClient(target.endpoint, target.token, bus.usage)
        try:
            access = await probe_node_access(client, ssh_port=plan.ssh.port)
        finally:
            client.close()
    return await detect_caller_cidrs(simulated_cidr=access.caller_cidr if access.simulated else None)
