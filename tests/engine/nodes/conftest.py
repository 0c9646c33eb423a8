"""A tiny real SSH server on 127.0.0.1 for NodeSession tests: a real asyncssh peer over real TCP.

It answers a handful of commands the way a node would and records what reached it, so tests can
assert that a node with the wrong host key received nothing at all.
"""

from __future__ import annotations

import asyncio
import socket
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import asyncssh
import pytest
from support.keys import write_private_key

from khz_tui.engine.bus import EventBus
from khz_tui.engine.cluster_files import HostKey
from khz_tui.engine.events import EngineEvent
from khz_tui.engine.nodes.cloud_init import render_user_data
from khz_tui.engine.nodes.session import SshEndpoint
from khz_tui.sim.faults import FaultProfile
from khz_tui.sim.simulator import Simulator

TIME_SCALE = 0.01


@dataclass
class ServerLog:
    """What the test server saw."""

    connections: int = 0
    """SSH connections opened to it (each a key exchange, whatever came next)."""
    auth_attempts: list[str] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)
    stdin: list[str] = field(default_factory=list)


@dataclass
class FakeNode:
    """Knobs and records of one test server."""

    host_key: HostKey
    port: int
    log: ServerLog
    root: Path
    cloud_init_status: int = 0
    server: asyncssh.SSHAcceptor | None = None


class _Server(asyncssh.SSHServer):
    def __init__(self, log: ServerLog) -> None:
        self._log = log

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self._log.connections += 1

    def begin_auth(self, username: str) -> bool:
        self._log.auth_attempts.append(username)
        return True


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def free_port():
    """Factory for a loopback port nothing listens on (for late-starting and unreachable nodes)."""
    return _free_port


async def _handle(node: FakeNode, process: asyncssh.SSHServerProcess) -> None:
    command = process.command or ""
    node.log.commands.append(command)
    try:
        if command == "cloud-init status --wait":
            process.stdout.write("status: done\n" if node.cloud_init_status != 1 else "status: error\n")
            process.exit(node.cloud_init_status)
        elif command.startswith("echo "):
            process.stdout.write(command[5:] + "\n")
            process.exit(0)
        elif command == "lines":
            for i in range(3):
                process.stdout.write(f"out {i}\n")
                process.stderr.write(f"err {i}\n")
            process.exit(0)
        elif command == "cat":
            data = await process.stdin.read()
            node.log.stdin.append(data)
            process.stdout.write(f"read {len(data)} bytes\n")
            process.exit(0)
        elif command == "fail":
            process.stderr.write("something broke\n")
            process.exit(3)
        elif command == "sleep":
            await asyncio.sleep(60)  # the slow command under test: outlasts every timeout the tests set
            process.exit(0)
        elif command == "drop":
            process.stdout.write("about to drop\n")
            await process.stdout.drain()  # the line leaves before the connection is cut
            process.channel.get_connection().abort()
        else:
            process.stderr.write(f"sh: {command}: not found\n")
            process.exit(127)
    except (asyncssh.BreakReceived, asyncssh.TerminalSizeChanged, BrokenPipeError, ConnectionError):
        pass


@pytest.fixture
def client_key(tmp_path: Path) -> tuple[Path, str]:
    """An ed25519 client key pair on disk (private 0600) and its public line."""
    path, key = write_private_key(tmp_path)
    return path, key.export_public_key("openssh").decode()


@pytest.fixture
def events() -> list[EngineEvent]:
    return []


@pytest.fixture
def bus(events: list[EngineEvent]) -> EventBus:
    return EventBus(sink=events.append)


@pytest.fixture
async def start_node(tmp_path: Path, client_key: tuple[Path, str]):
    """Factory: start a test SSH server (optionally on a given port) presenting `host_key`."""
    started: list[FakeNode] = []

    async def start(host_key: HostKey | None = None, port: int = 0, node: FakeNode | None = None) -> FakeNode:
        if node is None:
            root = tmp_path / f"node{len(started)}"
            root.mkdir()
            node = FakeNode(host_key=host_key or HostKey.generate(), port=port, log=ServerLog(), root=root)

        class Chroot(asyncssh.SFTPServer):
            def __init__(self, chan: asyncssh.SSHServerChannel) -> None:
                super().__init__(chan, chroot=str(node.root).encode())

        node.server = await asyncssh.listen(
            "127.0.0.1",
            node.port,
            server_host_keys=[asyncssh.import_private_key(node.host_key.private_openssh)],
            authorized_client_keys=asyncssh.import_authorized_keys(client_key[1]),
            server_factory=lambda: _Server(node.log),
            process_factory=lambda p: _handle(node, p),
            sftp_factory=Chroot,
            encoding="utf-8",
        )
        node.port = node.server.get_port()
        started.append(node)
        return node

    yield start
    for node in started:
        if node.server is not None:
            node.server.close()
            await node.server.wait_closed()


class Api:
    """Just enough of the Hetzner API, over HTTP, to create networks and servers."""

    def __init__(self, sim: Simulator, http: aiohttp.ClientSession) -> None:
        self.sim, self.http = sim, http

    async def post(self, path: str, body: dict) -> dict:
        async with self.http.post(
            f"{self.sim.endpoint}{path}", json=body, headers={"Authorization": f"Bearer {self.sim.token}"}
        ) as response:
            data = await response.json()
            assert response.status < 300, data
            return data

    async def network(self, name: str = "demo") -> int:
        body = {"name": name, "ip_range": "10.0.0.0/16",
                "subnets": [{"type": "cloud", "ip_range": "10.0.1.0/24", "network_zone": "eu-central"}]}
        return (await self.post("/networks", body))["network"]["id"]

    async def server(self, name: str, user_data: str, ssh_key: str, network: int | None) -> dict:
        body = {"name": name, "server_type": "cpx22", "image": "ubuntu-24.04", "location": "fsn1",
                "ssh_keys": [ssh_key], "user_data": user_data}
        if network is not None:
            body["networks"] = [network]
        return (await self.post("/servers", body))["server"]


@pytest.fixture
async def sim_world(tmp_path, client_key):
    """Factory: a running Simulator (time scale 0.01) and an HTTP helper, with our SSH key uploaded."""
    async def make(faults: FaultProfile | None = None):
        sim = Simulator(time_scale=TIME_SCALE, seed=3, faults=faults or FaultProfile())
        await sim.start()
        http = aiohttp.ClientSession()
        made.append((sim, http))
        api = Api(sim, http)
        await api.post("/ssh_keys", {"name": "me", "public_key": client_key[1].strip()})
        return sim, api

    made: list = []
    yield make
    for sim, http in made:
        await http.close()
        await sim.stop()


async def _boot(sim, api, state, plan, name, network=None):
    """Create a server with the engine's user data; return it, its host key and its SSH endpoint."""
    key = state.host_key(name)
    server = await api.server(name, render_user_data(plan, name, key), "me", network)
    target = None
    for _ in range(200):
        target = sim.inspect.ssh_target(server["id"])
        if target:
            break
        await asyncio.sleep(0.01)
    assert target is not None
    return server, key, SshEndpoint(*target)


@pytest.fixture
def boot():
    """`await boot(sim, api, state, plan, name, network)` -> (server, host key, SshEndpoint)."""
    return _boot
