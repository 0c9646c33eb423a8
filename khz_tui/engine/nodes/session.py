"""SSH to one node: a verified connection, commands streamed as events, files over SFTP.

The node's host key was generated here and handed to the server through cloud-init, so the client
pins exactly that key (`known_hosts=([key], [], [])`) and the first connection is already verified.
A different key means someone else answered (interception, a reused address, a rebuilt server): that
is fatal, explained, and nothing is sent to that machine.

The client is hermetic: no ~/.ssh/config, only the plan's key (unlocked by KHZ_TUI_SSH_PASSPHRASE,
or signed with by the SSH agent that holds it; see `preflight`), bounded timeouts. A booting
server refuses connections for a while, so `connect` retries with backoff until a deadline, reporting
progress as LogLine events.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import asyncssh

from khz_tui.engine.bus import EventBus
from khz_tui.engine.client_key import KeyProblem, SigningKey, signing_key
from khz_tui.engine.cluster_files import HostKey
from khz_tui.engine.events import LogStream

#: How often a "still waiting for SSH" line is emitted while a node boots.
PROGRESS_EVERY = 15.0
#: Asked before every connection attempt for where the node listens now (the simulator's loopback
#: port can change while a server boots; on Hetzner the address is fixed and this stays None).
EndpointResolver = Callable[[], Awaitable["SshEndpoint | None"]]

#: A refused login is retried this many times (authorized_keys may land a moment after sshd starts).
AUTH_ATTEMPTS = 3
_TAIL_LINES = 8


@dataclass(frozen=True)
class SshEndpoint:
    """Where a node's sshd listens (its public IPv4 on Hetzner; a loopback port in the simulator)."""

    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True)
class CommandResult:
    """What a finished command returned. Output is kept whole here; only events are scrubbed."""

    exit_status: int
    stdout: str
    stderr: str


class NodeError(Exception):
    """Base of the errors about one node; `node` and `address` say which."""

    def __init__(self, message: str, *, node: str, address: str) -> None:
        super().__init__(message)
        self.node = node
        self.address = address


class NodeUnreachable(NodeError):
    """SSH did not come up before the deadline, or refused our key."""


class ClientKeyUnusable(NodeUnreachable):
    """Our own SSH key cannot be used (locked, unreadable, or the agent lost it); `hint` says what to do."""

    def __init__(self, message: str, *, node: str, address: str, hint: str) -> None:
        super().__init__(message, node=node, address=address)
        self.hint = hint


class HostKeyMismatch(NodeError):
    """The node presented a host key other than the pinned one. Never retried."""


class CommandFailed(NodeError):
    """A command exited non-zero, was killed by a signal, or ran past its timeout."""

    def __init__(self, message: str, *, node: str, address: str, command: str, result: CommandResult | None) -> None:
        super().__init__(message, node=node, address=address)
        self.command = command
        self.result = result


class SessionLost(NodeError):
    """The connection dropped (reboot, network). `NodeSession.reconnect()` and rerun the step."""


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, TimeoutError):
        return "timed out"
    return text or type(exc).__name__


def _tail(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    return "\n".join(lines[-_TAIL_LINES:])


class NodeSession:
    """An open, host-key-verified SSH connection to one node.

    Use `async with await NodeSession.connect(...) as session:`."""

    def __init__(
        self,
        *,
        node: str,
        endpoint: SshEndpoint,
        host_key: HostKey,
        client_key: Path,
        bus: EventBus,
        username: str = "root",
        retry_interval: float = 1.0,
        max_interval: float = 10.0,
        resolve_endpoint: EndpointResolver | None = None,
    ) -> None:
        self.node = node
        self.endpoint = endpoint
        self.bus = bus
        self.username = username
        self._host_key = asyncssh.import_public_key(host_key.public_openssh)
        self._client_key_path = Path(client_key).expanduser()
        self._client_key: SigningKey | None = None
        self._retry_interval = retry_interval
        self._max_interval = max_interval
        self._resolve_endpoint = resolve_endpoint
        self._conn: asyncssh.SSHClientConnection | None = None

    # -- connecting ---------------------------------------------------------------------------------

    @classmethod
    async def connect(
        cls,
        *,
        node: str,
        endpoint: SshEndpoint,
        host_key: HostKey,
        client_key: Path,
        bus: EventBus,
        deadline: float = 600.0,
        username: str = "root",
        wait_cloud_init: bool = True,
        retry_interval: float = 1.0,
        max_interval: float = 10.0,
        resolve_endpoint: EndpointResolver | None = None,
    ) -> NodeSession:
        """Connect as soon as the node's sshd answers with the pinned key, retrying with backoff for
        up to `deadline` seconds; then wait for cloud-init to finish (unless `wait_cloud_init` is off).

        Raises HostKeyMismatch at once on a wrong key, NodeUnreachable when the deadline passes,
        CommandFailed when cloud-init reports a failure. `resolve_endpoint`, when given, is asked for
        the current endpoint before each attempt."""
        session = cls(
            node=node,
            endpoint=endpoint,
            host_key=host_key,
            client_key=client_key,
            bus=bus,
            username=username,
            retry_interval=retry_interval,
            max_interval=max_interval,
            resolve_endpoint=resolve_endpoint,
        )
        loop = asyncio.get_running_loop()
        end = loop.time() + deadline
        await session._open(deadline)
        if wait_cloud_init:
            try:
                await session.wait_cloud_init(timeout=max(30.0, end - loop.time()))
            except BaseException:
                await session.close()
                raise
        return session

    async def reconnect(self, deadline: float = 300.0) -> None:
        """Open a fresh connection after SessionLost (e.g. the node rebooted); same pin, same retries."""
        await self.close()
        await self._open(deadline)

    async def _load_client_key(self) -> SigningKey:
        if self._client_key is None:
            try:
                self._client_key = await signing_key(self._client_key_path)
            except KeyProblem as exc:
                raise ClientKeyUnusable(f"cannot use the SSH private key to reach {self.node}: {exc.message}",
                                        node=self.node, address=str(self.endpoint), hint=exc.hint) from None
        return self._client_key

    async def _open(self, deadline: float) -> None:
        key = await self._load_client_key()
        loop = asyncio.get_running_loop()
        end = loop.time() + deadline
        delay = self._retry_interval
        attempts = auth_refusals = 0
        last_error = "no attempt made"
        next_report = loop.time()
        while True:
            attempts += 1
            remaining = end - loop.time()
            if self._resolve_endpoint is not None:
                current = await self._resolve_endpoint()
                if current is not None:
                    self.endpoint = current
            address = str(self.endpoint)
            try:
                async with key.client_keys() as client_keys:
                    self._conn = await asyncssh.connect(
                        self.endpoint.host,
                        self.endpoint.port,
                        username=self.username,
                        known_hosts=([self._host_key], [], []),
                        client_keys=client_keys,
                        config=[],
                        agent_path=None,  # an agent's keys, if used, are in client_keys already
                        agent_forwarding=False,
                        password=None,
                        kbdint_auth=False,
                        connect_timeout=max(1.0, min(15.0, remaining)),
                        keepalive_interval=15,
                        keepalive_count_max=4,
                    )
                if attempts > 1:
                    self.bus.log(f"SSH to {self.node} ({address}) is up after {attempts} attempts", node=self.node)
                return
            except KeyProblem as exc:  # the agent lost the key or went away since the run began
                raise ClientKeyUnusable(f"cannot sign in to {self.node} ({address}): {exc.message}",
                                        node=self.node, address=address, hint=exc.hint) from None
            except asyncssh.HostKeyNotVerifiable as exc:
                # Nothing more is sent: the key exchange failed before authentication, so not even
                # our user name reached the other side.
                raise HostKeyMismatch(
                    f"{self.node} ({address}) presented an SSH host key that is not the one khz-tui gave it "
                    f"through cloud-init ({exc}). Someone else may be answering at that address (a reused IP, "
                    "a rebuilt server, or interception). Nothing was sent to it. Check the server in the "
                    "Hetzner console; if it was rebuilt on purpose, delete it and apply again.",
                    node=self.node,
                    address=address,
                ) from None
            except asyncssh.PermissionDenied as exc:
                auth_refusals += 1
                last_error = f"login refused: {exc}"
                if auth_refusals >= AUTH_ATTEMPTS:
                    raise NodeUnreachable(
                        f"{self.node} ({address}) refused the key {self._client_key_path} for {self.username} "
                        f"{auth_refusals} times. Check that ssh.public_key in the plan is the public half of "
                        "ssh.private_key and that the server was created with it.",
                        node=self.node,
                        address=address,
                    ) from None
            except (OSError, asyncssh.Error) as exc:
                last_error = _describe(exc)
            now = loop.time()
            if now >= end:
                raise NodeUnreachable(
                    f"{self.node} ({address}) did not accept SSH within {deadline:.0f}s "
                    f"({attempts} attempts; last: {last_error}). Check that the server is running, that the "
                    "firewall lets this machine reach the SSH port, and the server's console for boot errors.",
                    node=self.node,
                    address=address,
                )
            if now >= next_report:
                self.bus.log(
                    f"waiting for SSH on {self.node} ({address}): {last_error}; retrying", node=self.node
                )
                next_report = now + PROGRESS_EVERY
            await asyncio.sleep(min(delay * random.uniform(0.8, 1.2), max(0.0, end - now)))
            delay = min(delay * 1.6, self._max_interval)

    async def wait_cloud_init(self, timeout: float = 600.0) -> None:
        """Block until cloud-init has finished on the node. Exit 2 (degraded, since cloud-init 23.4)
        counts as done with a warning; exit 1 is a failure."""
        result = await self.run("cloud-init status --wait", timeout=timeout, check=False, stream=False)
        if result.exit_status == 0:
            return
        if result.exit_status == 2:
            self.bus.log(
                f"cloud-init finished degraded on {self.node}: {_tail(result.stdout + result.stderr)}",
                node=self.node,
                level="warning",
            )
            return
        raise self.failure(
            f"cloud-init failed on {self.node} ({self.endpoint}) with exit status {result.exit_status}: "
            f"{self.bus.scrub(_tail(result.stdout + result.stderr))}. See /var/log/cloud-init-output.log "
            "on the node; deleting the server and applying again gives it a fresh start.",
            command="cloud-init status --wait", result=result,
        )

    # -- commands -----------------------------------------------------------------------------------

    def _connection(self) -> asyncssh.SSHClientConnection:
        if self._conn is None:
            raise SessionLost(
                f"no open SSH connection to {self.node} ({self.endpoint}); reconnect first",
                node=self.node,
                address=str(self.endpoint),
            )
        return self._conn

    def failure(self, message: str, *, command: str, result: CommandResult | None = None) -> CommandFailed:
        """A CommandFailed naming this node and its address (the caller raises it)."""
        return CommandFailed(message, node=self.node, address=str(self.endpoint), command=command, result=result)

    def _lost(self, what: str, exc: BaseException | None) -> SessionLost:
        self._conn = None
        detail = f": {_describe(exc)}" if exc is not None else ""
        return SessionLost(
            f"the SSH connection to {self.node} ({self.endpoint}) dropped during {what}{detail}. "
            "The node may be rebooting; the step is retried after reconnecting.",
            node=self.node,
            address=str(self.endpoint),
        )

    async def _pump(self, reader: asyncssh.SSHReader[str], stream: LogStream, sink: list[str], echo: bool) -> None:
        async for line in reader:
            sink.append(line)
            if echo:
                self.bus.log(line.rstrip("\r\n"), node=self.node, stream=stream)

    async def run(
        self,
        command: str,
        *,
        stdin: str | None = None,
        timeout: float = 600.0,
        check: bool = True,
        stream: bool = True,
    ) -> CommandResult:
        """Run `command` on the node, feeding it `stdin` (never logged), streaming each output line as a
        scrubbed LogLine unless `stream` is off (for output that is a secret or too large to show).

        Raises CommandFailed on a non-zero exit (when `check`) or after `timeout` seconds, and
        SessionLost when the connection drops."""
        conn = self._connection()
        shown = self.bus.scrub(command)
        self.bus.log(f"$ {shown}", node=self.node, level="debug")
        out: list[str] = []
        err: list[str] = []
        limit = asyncio.timeout(timeout)
        process: asyncssh.SSHClientProcess[str] | None = None
        try:
            async with limit:
                process = await conn.create_process(command, encoding="utf-8", errors="replace")
                if stdin is not None:
                    process.stdin.write(stdin)
                process.stdin.write_eof()
                await asyncio.gather(
                    self._pump(process.stdout, "stdout", out, stream),
                    self._pump(process.stderr, "stderr", err, stream),
                )
                await process.wait()
        except TimeoutError:
            if process is not None:
                process.close()
            if not limit.expired():
                raise self._lost(f"`{shown}`", None) from None
            result = CommandResult(-1, "".join(out), "".join(err))
            raise self.failure(
                f"`{shown}` on {self.node} ({self.endpoint}) did not finish within {timeout:.0f}s. "
                "The node may be overloaded or waiting on the network; look at its output above.",
                command=shown, result=result,
            ) from None
        except asyncssh.ChannelOpenError as exc:
            if conn.is_closed():
                raise self._lost(f"`{shown}`", exc) from None
            raise self.failure(
                f"{self.node} ({self.endpoint}) refused to run `{shown}`: {exc}",
                command=shown,
            ) from None
        except (asyncssh.ConnectionLost, asyncssh.DisconnectError, ConnectionError, BrokenPipeError) as exc:
            raise self._lost(f"`{shown}`", exc) from None
        status = process.exit_status
        if status is None:
            # The channel closed without an exit status: the connection went away under it.
            raise self._lost(f"`{shown}`", None)
        result = CommandResult(status, "".join(out), "".join(err))
        if check and status != 0:
            signal = process.exit_signal
            why = f"was killed by signal {signal[0]}" if signal else f"exited with status {status}"
            raise self.failure(
                f"`{shown}` on {self.node} ({self.endpoint}) {why}: "
                f"{self.bus.scrub(_tail(result.stderr) or _tail(result.stdout)) or 'no output'}",
                command=shown, result=result,
            )
        return result

    # -- files --------------------------------------------------------------------------------------

    async def write_file(self, path: str, content: str, *, mode: int = 0o600) -> None:
        """Write `content` to `path` over SFTP with `mode` from creation on, creating parent directories.
        The content is never logged (config files carry the join token)."""
        conn = self._connection()
        parent = path.rsplit("/", 1)[0] or "/"
        self.bus.log(f"writing {path} ({oct(mode)[2:]})", node=self.node, level="debug")
        with self._sftp_errors("write", "writing", path, command=f"sftp put {path}"):
            async with conn.start_sftp_client() as sftp:
                await sftp.makedirs(parent, exist_ok=True)
                if await sftp.exists(path):
                    await sftp.chmod(path, mode)  # tighten before new content lands
                async with sftp.open(path, "w", attrs=asyncssh.SFTPAttrs(permissions=mode)) as handle:
                    await handle.write(content)
                await sftp.chmod(path, mode)

    async def read_file(self, path: str) -> str | None:
        """The text of `path` on the node over SFTP, or None when it does not exist. Never logged."""
        conn = self._connection()
        with self._sftp_errors("read", "reading", path, command=f"sftp get {path}"):
            async with conn.start_sftp_client() as sftp:
                try:
                    async with sftp.open(path, "r") as handle:
                        data = await handle.read()
                except asyncssh.SFTPNoSuchFile:
                    return None
        return data if isinstance(data, str) else data.decode("utf-8", "replace")

    @contextlib.contextmanager
    def _sftp_errors(self, verb: str, doing: str, path: str, *, command: str) -> Iterator[None]:
        """What an SFTP transfer's errors mean: the node refused (CommandFailed), or the connection
        dropped (SessionLost, so the step is retried after reconnecting)."""
        try:
            yield
        except asyncssh.SFTPError as exc:
            raise self.failure(f"could not {verb} {path} on {self.node} ({self.endpoint}): {exc}", command=command) from None
        except (asyncssh.ConnectionLost, asyncssh.DisconnectError, ConnectionError) as exc:
            raise self._lost(f"{doing} {path}", exc) from None

    # -- lifetime -----------------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._conn is not None and not self._conn.is_closed()

    def abort(self) -> None:
        """Drop the connection at once, without the graceful close (idempotent).

        For a run being cancelled: a task stopped in the middle of an SFTP transfer can otherwise wait
        forever for a close handshake. A later `reconnect()` opens a new connection."""
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.abort()

    async def close(self) -> None:
        """Close the connection (idempotent)."""
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()
            try:
                await asyncio.wait_for(conn.wait_closed(), 5)
            except (TimeoutError, OSError, asyncssh.Error):
                pass

    async def __aenter__(self) -> NodeSession:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()
