"""Which network interface holds a node's private address (enp7s0 on current Hetzner images, eth1 on
some): k3s' flannel and node-ip need it, and a server attached to the network again must show it."""

from __future__ import annotations

import asyncio
import re

from khz_tui.engine.nodes.session import NodeSession

_INET = re.compile(r"^\d+:\s+(?P<iface>\S+)\s+inet\s+(?P<addr>[0-9.]+)/\d+")


async def detect_private_iface(
    session: NodeSession, private_ip: str, *, timeout: float = 60.0, interval: float = 2.0
) -> str:
    """The interface holding `private_ip`, from `ip -o -4 addr show`. Waits up to `timeout` for the
    private network's DHCP to finish."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while True:
        result = await session.run("ip -o -4 addr show", stream=False, timeout=30)
        for line in result.stdout.splitlines():
            match = _INET.match(line.strip())
            if match and match.group("addr") == private_ip:
                return match.group("iface")
        if loop.time() >= end:
            raise session.failure(
                f"{session.node} ({session.endpoint}) has no interface with its private address {private_ip}. "
                "Check that the server is attached to the cluster's network (Hetzner console, Networks tab).",
                command="ip -o -4 addr show", result=result,
            )
        await asyncio.sleep(interval)
