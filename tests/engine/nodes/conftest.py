"""A tiny real SSH server on 127.0.0.1 for NodeSession tests: a real asyncssh peer over real TCP.

It answers a handful of commands the way a node would and records what reached it, so tests can
assert that a node with the wrong host key received nothing at all.
"""

from __future__ import annotations

import asyncio
import socket
from dataclasses import dataclass, field
from pathlib import Path

import asyncssh
import pytest

from khz_tui.engine.bus import EventBus
from khz_tui.engine.events import EngineEvent
from khz_tui.engine.state import HostKey


@dataclass
class ServerLog:
    """What the test server saw."""

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
            await asyncio.sleep(60)
            process.exit(0)
        elif command == "drop":
            process.stdout.write("about to drop\n")
            await asyncio.sleep(0.05)
            process.channel.get_connection().abort()
        else:
            process.stderr.write(f"sh: {command}: not found\n")
            process.exit(127)
    except (asyncssh.BreakReceived, asyncssh.TerminalSizeChanged, BrokenPipeError, ConnectionError):
        pass


@pytest.fixture
def client_key(tmp_path: Path) -> tuple[Path, str]:
    """An ed25519 client key pair on disk (private 0600) and its public line."""
    key = asyncssh.generate_private_key("ssh-ed25519")
    path = tmp_path / "id_ed25519"
    path.write_bytes(key.export_private_key("openssh"))
    path.chmod(0o600)
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
