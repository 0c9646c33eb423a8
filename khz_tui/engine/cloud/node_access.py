"""Node access, how SSH reaches a node: the one place where the simulator and Hetzner differ beyond endpoint and token.

On Hetzner a node is reached at its public IPv4 on the plan's SSH port. The simulator runs every node's
sshd on loopback, one port per node, and says where through `GET /x-sim/ssh-targets?id=..`. Which
of the two applies is decided once per run: when the endpoint is not Hetzner's default the engine asks
`GET /x-sim/info`; a 404 means a real (or Hetzner-compatible) cloud.

The same probe gives the address the engine calls from (`caller_cidr`), used for the firewall when the
plan leaves `ssh.allowed_cidrs` / `api_allowed_cidrs` empty. Hetzner cannot tell us that address: on a
real cloud `engine/caller_address.py` asks echo services for it instead.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from khz_tui.engine.cloud.client import CloudClient, CloudError
from khz_tui.engine.credentials import DEFAULT_ENDPOINT

#: The simulator hands out ssh ports as nodes boot; ask again this often while one is missing.
TARGET_RETRY = 0.2


@dataclass
class Endpoint:
    """Where to open an SSH connection to one node."""

    host: str
    port: int


@dataclass
class NodeAccess:
    simulated: bool
    caller_cidr: str | None = None
    time_scale: float = 1.0
    ssh_port: int = 22
    _known: dict[int, Endpoint] = field(default_factory=dict)
    _pending: dict[int, list[asyncio.Future[Endpoint]]] = field(default_factory=dict)
    _task: asyncio.Task[None] | None = None

    async def endpoint(self, client: CloudClient, server_id: int, public_ip: str | None) -> Endpoint:
        """The SSH endpoint of a server; on the simulator, many callers share one request."""
        if not self.simulated:
            if not public_ip:
                raise CloudError(f"server {server_id} has no public IPv4 address to reach it over SSH")
            return Endpoint(public_ip, self.ssh_port)
        if server_id in self._known:
            return self._known[server_id]
        fut: asyncio.Future[Endpoint] = asyncio.get_running_loop().create_future()
        self._pending.setdefault(server_id, []).append(fut)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._fetch(client), name="ssh-targets")
        return await fut

    async def _fetch(self, client: CloudClient) -> None:
        await asyncio.sleep(0)  # let callers of this same moment join the batch
        while self._pending:
            ids = sorted(self._pending)
            try:
                body = await client.request(
                    "GET", "/x-sim/ssh-targets", params={"id": ids}, what="asking the simulator for SSH ports"
                )
            except CloudError as exc:
                for futs in self._pending.values():
                    for fut in futs:
                        if not fut.done():
                            fut.set_exception(exc)
                self._pending.clear()
                return
            for target in body.get("targets", []):
                sid = int(target["server_id"])
                if target.get("port"):
                    self._known[sid] = Endpoint(target["host"], int(target["port"]))
                    for fut in self._pending.pop(sid, []):
                        if not fut.done():
                            fut.set_result(self._known[sid])
            if self._pending:
                await asyncio.sleep(max(0.02, TARGET_RETRY * self.time_scale))


async def probe_node_access(client: CloudClient, ssh_port: int = 22) -> NodeAccess:
    """Tell the simulator from a real cloud with one probe (none at all for Hetzner's own endpoint)."""
    if client.endpoint.rstrip("/") == DEFAULT_ENDPOINT:
        return NodeAccess(simulated=False, ssh_port=ssh_port)
    info = await client.probe("/x-sim/info")
    if not info or not info.get("simulator"):
        return NodeAccess(simulated=False, ssh_port=ssh_port)
    return NodeAccess(
        simulated=True,
        caller_cidr=info.get("caller_cidr"),
        time_scale=float(info.get("time_scale") or 1.0),
        ssh_port=ssh_port,
    )
