"""NodeSession against a real asyncssh server over real TCP, with pinned host keys."""

from __future__ import annotations

import asyncio

import pytest

from khz_tui.engine.cluster_files import HostKey
from khz_tui.engine.events import LogLine
from khz_tui.engine.nodes.session import (
    CommandFailed,
    HostKeyMismatch,
    NodeSession,
    NodeUnreachable,
    SessionLost,
    SshEndpoint,
)


def lines(events, node="n1"):
    return [(e.stream, e.text) for e in events if isinstance(e, LogLine) and e.node == node and e.stream != "engine"]


async def connect(node, client_key, bus, **kw):
    return await NodeSession.connect(
        node="n1",
        endpoint=SshEndpoint("127.0.0.1", node.port if hasattr(node, "port") else node),
        host_key=kw.pop("host_key", None) or node.host_key,
        client_key=client_key[0],
        bus=bus,
        **kw,
    )


async def test_pinned_key_connects_waits_for_cloud_init_and_streams(start_node, client_key, bus, events):
    node = await start_node()
    async with await connect(node, client_key, bus, deadline=10) as session:
        assert node.log.commands == ["cloud-init status --wait"]
        result = await session.run("lines")
    assert result.exit_status == 0
    assert result.stdout == "out 0\nout 1\nout 2\n"
    assert result.stderr == "err 0\nerr 1\nerr 2\n"
    streamed = lines(events)
    assert ("stdout", "out 2") in streamed and ("stderr", "err 0") in streamed
    assert node.log.auth_attempts == ["root"]


async def test_wrong_host_key_is_fatal_and_nothing_reaches_the_node(start_node, client_key, bus, events):
    node = await start_node()
    with pytest.raises(HostKeyMismatch) as info:
        await connect(node, client_key, bus, host_key=HostKey.generate(), deadline=30)
    assert node.log.connections == 1, "a host key mismatch must not be retried until the deadline"
    message = str(info.value)
    assert "n1" in message and f"127.0.0.1:{node.port}" in message and "Nothing was sent" in message
    # The key exchange failed before authentication: no user name, no command reached the server.
    assert node.log.auth_attempts == []
    assert node.log.commands == []


async def test_connect_retries_until_a_late_server_comes_up(start_node, client_key, bus, events, free_port):
    port = free_port()
    key = HostKey.generate()

    async def late():
        await asyncio.sleep(1.0)  # the late server under test: refused until then
        return await start_node(host_key=key, port=port)

    starter = asyncio.create_task(late())
    async with await NodeSession.connect(
        node="n1", endpoint=SshEndpoint("127.0.0.1", port), host_key=key, client_key=client_key[0],
        bus=bus, deadline=15, retry_interval=0.2,
    ) as session:
        assert (await session.run("echo up")).stdout == "up\n"
    await starter
    texts = [e.text for e in events if isinstance(e, LogLine)]
    assert any("waiting for SSH on n1" in t for t in texts)
    assert any("is up after" in t for t in texts)


async def test_unreachable_node_fails_naming_node_and_address(client_key, bus, free_port):
    port = free_port()
    attempts = 0

    async def where() -> SshEndpoint:  # asked before every attempt
        nonlocal attempts
        attempts += 1
        return SshEndpoint("127.0.0.1", port)

    with pytest.raises(NodeUnreachable) as info:
        await NodeSession.connect(
            node="web-3", endpoint=SshEndpoint("127.0.0.1", port), host_key=HostKey.generate(),
            client_key=client_key[0], bus=bus, deadline=1.5, retry_interval=0.2, resolve_endpoint=where,
        )
    # Retried while the deadline lasted, then given up: 1.5 s of growing pauses from 0.2 s hold a handful.
    assert 2 <= attempts <= 8, attempts
    assert f"({attempts} attempts;" in str(info.value)
    assert "web-3" in str(info.value) and f"127.0.0.1:{port}" in str(info.value)
    assert info.value.node == "web-3"


async def test_refused_client_key_is_explained(start_node, tmp_path, bus):
    import asyncssh

    node = await start_node()
    other = tmp_path / "other_key"
    other.write_bytes(asyncssh.generate_private_key("ssh-ed25519").export_private_key("openssh"))
    with pytest.raises(NodeUnreachable, match="refused the key"):
        await NodeSession.connect(
            node="n1", endpoint=SshEndpoint("127.0.0.1", node.port), host_key=node.host_key,
            client_key=other, bus=bus, deadline=10, retry_interval=0.05,
        )
    assert node.log.commands == []


async def test_secrets_are_scrubbed_from_streamed_lines(start_node, client_key, bus, events):
    node = await start_node()
    secret = "K10abcdef::server:s3cr3t-join-token"
    bus.add_secret(secret)
    async with await connect(node, client_key, bus, deadline=10) as session:
        result = await session.run(f"echo token is {secret}")
    assert secret in result.stdout  # the caller gets the real output
    dumped = "\n".join(e.model_dump_json() for e in events)
    assert secret not in dumped
    assert any(isinstance(e, LogLine) and e.text == "token is ***" for e in events)


async def test_stdin_reaches_the_command_and_is_not_logged(start_node, client_key, bus, events):
    node = await start_node()
    payload = "apiVersion: v1\nkind: Secret\nstringData: {token: hunter2hunter2}\n"
    async with await connect(node, client_key, bus, deadline=10) as session:
        result = await session.run("cat", stdin=payload)
    assert node.log.stdin == [payload]
    assert result.stdout == f"read {len(payload)} bytes\n"
    assert "hunter2hunter2" not in "\n".join(e.model_dump_json() for e in events)


async def test_failure_and_check(start_node, client_key, bus):
    node = await start_node()
    async with await connect(node, client_key, bus, deadline=10) as session:
        with pytest.raises(CommandFailed) as info:
            await session.run("fail")
        assert "status 3" in str(info.value) and "something broke" in str(info.value)
        assert info.value.result.exit_status == 3
        unchecked = await session.run("fail", check=False)
        assert unchecked.exit_status == 3


async def test_timeout_raises_command_failed(start_node, client_key, bus):
    node = await start_node()
    async with await connect(node, client_key, bus, deadline=10) as session:
        # The node's `sleep` lasts 60 s: failing with "did not finish" means the 0.5 s timeout cut it short.
        with pytest.raises(CommandFailed, match="did not finish within"):
            await session.run("sleep", timeout=0.5)
        # The connection is still usable after a timed-out command.
        assert (await session.run("echo still here")).stdout == "still here\n"


async def test_dropped_connection_is_session_lost_and_reconnect_works(start_node, client_key, bus):
    node = await start_node()
    async with await connect(node, client_key, bus, deadline=10) as session:
        with pytest.raises(SessionLost, match="dropped"):
            await session.run("drop", timeout=5)
        assert not session.connected
        await session.reconnect(deadline=5)
        assert (await session.run("echo back")).stdout == "back\n"


async def test_cloud_init_exit_codes(start_node, client_key, bus, events):
    degraded = await start_node()
    degraded.cloud_init_status = 2
    async with await connect(degraded, client_key, bus, deadline=10):
        pass
    assert any(isinstance(e, LogLine) and e.level == "warning" and "degraded" in e.text for e in events)
    failed = await start_node()
    failed.cloud_init_status = 1
    with pytest.raises(CommandFailed, match="cloud-init failed on n1"):
        await connect(failed, client_key, bus, deadline=10)


async def test_files_over_sftp_keep_their_mode(start_node, client_key, bus, events):
    node = await start_node()
    async with await connect(node, client_key, bus, deadline=10) as session:
        await session.write_file("/etc/rancher/k3s/config.yaml", "token: abcdefgh\n", mode=0o600)
        assert await session.read_file("/etc/rancher/k3s/config.yaml") == "token: abcdefgh\n"
        assert await session.read_file("/nope") is None
    written = node.root / "etc/rancher/k3s/config.yaml"
    assert written.stat().st_mode & 0o777 == 0o600
    assert "abcdefgh" not in "\n".join(e.model_dump_json() for e in events)
