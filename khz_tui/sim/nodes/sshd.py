"""A node's sshd: public-key logins checked against authorized_keys on the node's disk, exec
sessions run through the node's shell with streamed output, and SFTP into the node's filesystem.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

import asyncssh

from khz_tui.sim.nodes.filesystem import FsError, normalize
from khz_tui.sim.nodes.machine import Machine
from khz_tui.sim.nodes.shell import CallbackOutput, Command, Input, Shell

log = logging.getLogger(__name__)

STDIN_LIMIT = 16 * 1024 * 1024
"""Largest stdin a command reads; more is a client bug, not something to buffer."""
STDIN_TIMEOUT = 600.0
"""Seconds a command waits for the client to close stdin."""

T = TypeVar("T")


class NodeSSHServer(asyncssh.SSHServer):
    """Authentication: public keys only, checked against the user's authorized_keys on the node."""

    def __init__(self, machine: Machine) -> None:
        self.machine = machine

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self.machine.connections.add(conn)
        self.conn = conn

    def connection_lost(self, exc: Exception | None) -> None:
        self.machine.connections.discard(self.conn)

    def begin_auth(self, username: str) -> bool:
        return True

    def password_auth_supported(self) -> bool:
        return False

    def kbdint_auth_supported(self) -> bool:
        return False

    def public_key_auth_supported(self) -> bool:
        return True

    def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        return self.machine.authorized(username, key)


def _attrs(fs: Any, path: str) -> asyncssh.SFTPAttrs:
    p = normalize(path)
    if fs.is_dir(p):
        return asyncssh.SFTPAttrs(type=asyncssh.FILEXFER_TYPE_DIRECTORY, size=4096,
                                  permissions=0o040000 | fs.mode(p), uid=0, gid=0)
    if fs.is_file(p):
        f = fs.files[p]
        return asyncssh.SFTPAttrs(type=asyncssh.FILEXFER_TYPE_REGULAR, size=len(f.data),
                                  permissions=0o100000 | f.mode, uid=0, gid=0,
                                  atime=int(f.mtime), mtime=int(f.mtime))
    raise asyncssh.SFTPNoSuchFile(f"{path}: No such file or directory")


class _OpenFile:
    def __init__(self, path: str, append: bool) -> None:
        self.path = path
        self.append = append


class NodeSFTPServer(asyncssh.SFTPServer):
    """SFTP on the node's virtual filesystem: files written here are what commands and k3s read."""

    def __init__(self, chan: asyncssh.SSHServerChannel[bytes], machine: Machine) -> None:
        super().__init__(chan)
        self.fs = machine.fs

    def _path(self, path: bytes) -> str:
        return normalize(path.decode("utf-8", "replace"))

    def _wrap(self, fn: Callable[[], T]) -> T:
        try:
            return fn()
        except FsError as exc:
            if exc.reason == "No such file or directory":
                raise asyncssh.SFTPNoSuchFile(str(exc)) from None
            raise asyncssh.SFTPFailure(str(exc)) from None

    def open(self, path: bytes, pflags: int, attrs: asyncssh.SFTPAttrs) -> object:
        p = self._path(path)
        exists = self.fs.is_file(p)
        if pflags & asyncssh.FXF_EXCL and exists:
            raise asyncssh.SFTPFailure(f"{p}: File exists")
        if pflags & asyncssh.FXF_WRITE:
            if not exists or pflags & asyncssh.FXF_TRUNC:
                if not exists and not pflags & asyncssh.FXF_CREAT:
                    raise asyncssh.SFTPNoSuchFile(f"{p}: No such file or directory")
                mode = attrs.permissions & 0o7777 if attrs.permissions is not None else None
                self._wrap(lambda: self.fs.write(p, b"", mode=mode))
        elif not exists:
            raise asyncssh.SFTPNoSuchFile(f"{p}: No such file or directory")
        return _OpenFile(p, bool(pflags & asyncssh.FXF_APPEND))

    def read(self, file_obj: object, offset: int, size: int) -> bytes:
        data = self._wrap(lambda: self.fs.read(file_obj.path))  # type: ignore[attr-defined]
        return data[offset:offset + size]

    def write(self, file_obj: object, offset: int, data: bytes) -> int:
        path = file_obj.path  # type: ignore[attr-defined]
        current = self._wrap(lambda: self.fs.read(path))
        if file_obj.append:  # type: ignore[attr-defined]
            offset = len(current)
        padded = current.ljust(offset, b"\0")
        self.fs.write(path, padded[:offset] + data + padded[offset + len(data):])
        return len(data)

    def close(self, file_obj: object) -> None:
        return None

    def stat(self, path: bytes) -> asyncssh.SFTPAttrs:
        return _attrs(self.fs, self._path(path))

    lstat = stat

    def fstat(self, file_obj: object) -> asyncssh.SFTPAttrs:
        return _attrs(self.fs, file_obj.path)  # type: ignore[attr-defined]

    def setstat(self, path: bytes, attrs: asyncssh.SFTPAttrs) -> None:
        p = self._path(path)
        permissions = attrs.permissions
        if permissions is not None:
            self._wrap(lambda: self.fs.chmod(p, permissions & 0o7777))
        if attrs.size is not None and self.fs.is_file(p):
            data = self.fs.read(p)
            self.fs.write(p, data[:attrs.size].ljust(attrs.size, b"\0"))

    def fsetstat(self, file_obj: object, attrs: asyncssh.SFTPAttrs) -> None:
        self.setstat(file_obj.path.encode(), attrs)  # type: ignore[attr-defined]

    async def scandir(self, path: bytes) -> AsyncIterator[asyncssh.SFTPName]:
        p = self._path(path)
        names = self._wrap(lambda: self.fs.listdir(p))
        for name in [".", ".."] + names:
            full = p if name == "." else normalize(p + "/" + name)
            yield asyncssh.SFTPName(name.encode(), attrs=_attrs(self.fs, full))

    def remove(self, path: bytes) -> None:
        p = self._path(path)
        self._wrap(lambda: self.fs.remove(p))

    def mkdir(self, path: bytes, attrs: asyncssh.SFTPAttrs) -> None:
        p = self._path(path)
        mode = attrs.permissions & 0o7777 if attrs.permissions is not None else 0o755
        self._wrap(lambda: self.fs.mkdir(p, mode=mode))

    def rmdir(self, path: bytes) -> None:
        p = self._path(path)
        self._wrap(lambda: self.fs.rmdir(p))

    def realpath(self, path: bytes) -> bytes:
        return self._path(path).encode()

    def rename(self, oldpath: bytes, newpath: bytes) -> None:
        old, new = self._path(oldpath), self._path(newpath)
        if self.fs.exists(new):
            raise asyncssh.SFTPFailure(f"{new}: File exists")
        self._wrap(lambda: self.fs.rename(old, new))

    def posix_rename(self, oldpath: bytes, newpath: bytes) -> None:
        old, new = self._path(oldpath), self._path(newpath)
        self._wrap(lambda: self.fs.rename(old, new))


async def _read_stdin(process: asyncssh.SSHServerProcess[bytes]) -> bytes:
    chunks: list[bytes] = []
    size = 0
    deadline = time.monotonic() + STDIN_TIMEOUT
    while size <= STDIN_LIMIT:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        try:
            chunk = await asyncio.wait_for(process.stdin.read(65536), timeout=remaining)
        except (TimeoutError, asyncssh.BreakReceived, asyncssh.TerminalSizeChanged):
            break
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


async def run_session(process: asyncssh.SSHServerProcess[bytes], machine: Machine,
                      lookup: Callable[[str, Any], Command | None]) -> None:
    """One exec request: run the command line, stream output, send the exit status (or, when the
    seeded drop fault hits this command, cut the connection before it completes)."""
    command = process.command
    if command is None:
        process.stderr.write(b"interactive shells are not available on simulated nodes\n")
        process.exit(1)
        return
    machine.commands_run += 1
    # Only the program name is logged: arguments can carry tokens.
    log.debug("%s: exec %s", machine.name, command.split(" ", 1)[0])
    drop_after = machine.host.drop_delay(machine) if machine.host else None

    async def write_out(data: bytes) -> None:
        process.stdout.write(data)
        await process.stdout.drain()

    async def write_err(data: bytes) -> None:
        process.stderr.write(data)
        await process.stderr.drain()

    shell = Shell(machine, lookup)
    job = machine.spawn(shell.run(command, Input(reader=lambda: _read_stdin(process)),
                                  CallbackOutput(write_out), CallbackOutput(write_err)))
    try:
        if drop_after is not None:
            done, _ = await asyncio.wait({job}, timeout=drop_after)
            if not done:
                job.cancel()
            process.channel.get_connection().abort()
            return
        status = await job
    except (asyncio.CancelledError, ConnectionError, asyncssh.Error):
        # The machine stopped (reboot, power off) or the client went away mid-command.
        job.cancel()
        return
    process.exit(status & 0xFF)


async def start_sshd(machine: Machine, sock: socket.socket,
                     lookup: Callable[[str, Any], Command | None]) -> asyncssh.SSHAcceptor:
    """Start listening on the machine's reserved socket with its current host keys."""
    keys = machine.host_keys()
    return await asyncssh.listen(
        sock=sock,
        server_factory=lambda: NodeSSHServer(machine),
        server_host_keys=keys,
        process_factory=lambda p: run_session(p, machine, lookup),
        sftp_factory=lambda chan: NodeSFTPServer(chan, machine),
        encoding=None,
        allow_scp=False,
        agent_forwarding=False,
        x11_forwarding=False,
        login_timeout=30,
    )
