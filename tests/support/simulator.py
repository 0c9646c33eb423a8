"""Reaching a test's simulator: the engine's target for it, and what its simulated cloud holds."""

from __future__ import annotations

import asyncio

from khz_tui.engine.api import Target
from khz_tui.sim.inspection import Resource
from khz_tui.sim.simulator import Simulator

CLUSTER_LABEL = "khz-tui.io/cluster"
"""The label the engine puts on every resource of a cluster."""


def target_of(sim: Simulator) -> Target:
    return Target(endpoint=sim.endpoint, simulated=True, token=sim.token, time_scale=sim.time_scale)


def labeled(sim: Simulator, kind: str, cluster: str) -> list[Resource]:
    """Resources of `kind` ("servers", "load_balancers", ...) carrying `khz-tui.io/cluster=<cluster>`, by id."""
    return sim.inspect.resources(kind, f"{CLUSTER_LABEL}={cluster}")


async def sshd_answers(sim: Simulator, server_id: int, *, timeout: float = 10.0) -> None:
    """Wait until the server's sshd accepts TCP connections (bounded: fails after `timeout` seconds)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        target = sim.inspect.ssh_target(server_id)
        if target is not None:
            try:
                _reader, writer = await asyncio.open_connection(*target)
            except OSError:
                pass
            else:
                writer.close()
                await writer.wait_closed()
                return
        assert loop.time() < deadline, f"sshd of server {server_id} did not answer within {timeout}s"
        await asyncio.sleep(0.02)
