"""Simulated nodes over real SSH: boot, host keys, authorized keys, cloud-init, exec, SFTP."""

from __future__ import annotations

import asyncio
import shutil
import subprocess

import asyncssh
import pytest


async def test_pinned_host_key_from_user_data_verifies(world):
    spec = await world.create("cp-1")
    async with await world.connect(spec.server_id) as conn:
        result = await conn.run("hostname", check=True)
    assert result.stdout == "cp-1\n"
    presented = world.inspect.host_public_key(spec.server_id)
    assert presented.public_data == world.host_keys[spec.server_id].public_data


async def test_wrong_pinned_host_key_is_rejected(world, keys):
    spec = await world.create("cp-1")
    conn = await world.connect(spec.server_id)
    conn.close()
    with pytest.raises(asyncssh.HostKeyNotVerifiable):
        await world.connect(spec.server_id, host_key=keys.other)


async def test_without_host_key_in_user_data_node_has_its_own(world, make_config):
    spec = await world.create("w-1", user_data=make_config(None))
    with pytest.raises(asyncssh.HostKeyNotVerifiable):
        await world.connect(spec.server_id)
    own = world.inspect.host_public_key(spec.server_id)
    async with await world.connect(spec.server_id, host_key=own) as conn:
        assert (await conn.run("true")).exit_status == 0


async def test_connection_refused_until_boot_time_passed(world):
    spec = await world.create("slow", boot_seconds=1.0)
    host, port = world.inspect.ssh_target(spec.server_id)
    with pytest.raises(OSError):
        await asyncssh.connect(host, port, known_hosts=([world.host_keys[spec.server_id]], [], []),
                               client_keys=[world.keys.client], config=[], agent_path=None,
                               username="root", connect_timeout=2)
    async with await world.connect(spec.server_id, attempts=200) as conn:
        assert (await conn.run("true")).exit_status == 0


async def test_only_authorized_keys_log_in(world, keys):
    spec = await world.create("cp-1")
    with pytest.raises(asyncssh.PermissionDenied):
        await world.connect(spec.server_id, client_key=keys.other)
    async with await world.connect(spec.server_id) as conn:
        assert (await conn.run("true")).exit_status == 0


async def test_cloud_config_authorized_keys_write_files_and_runcmd(world, keys, make_config):
    other_pub = keys.other.export_public_key("openssh").decode().strip()
    host_key = asyncssh.generate_private_key("ssh-ed25519")
    user_data = make_config(
        host_key,
        ssh_authorized_keys=[other_pub],
        write_files=[{"path": "/etc/khz/hello.txt", "content": "aGVsbG8K", "encoding": "b64",
                      "permissions": "0600"},
                     {"path": "/etc/ssh/sshd_config.d/50-port.conf", "content": "Port 2222\n"}],
        runcmd=["echo ran > /root/runcmd.out", ["sh", "-c", "echo 'list form' >> /root/runcmd.out"]],
    )
    spec = await world.create("cp-1", user_data=user_data)
    async with await world.connect(spec.server_id, host_key=host_key, client_key=keys.other) as conn:
        status = await conn.run("cloud-init status --wait")
        assert status.exit_status == 0
        assert status.stdout.strip().endswith("status: done")
        assert (await conn.run("cat /etc/khz/hello.txt")).stdout == "hello\n"
        assert (await conn.run("cat /root/runcmd.out")).stdout == "ran\nlist form\n"
        assert (await conn.run("test -f /var/lib/cloud/instance/boot-finished")).exit_status == 0
    assert world.inspect.file_mode(spec.server_id, "/etc/khz/hello.txt") == 0o600
    assert world.inspect.machine(spec.server_id).sshd_port == 2222


@pytest.mark.parametrize("user_data, status, code", [
    ("#cloud-config\nwrite_files: [unclosed\n", "error", 1),
    ("#cloud-config\n- just\n- a list\n", "error", 1),
    ("#cloud-config\nruncmd: 42\n", "error", 1),
    ("#cloud-config\nnot_a_cloud_init_key: true\n", "degraded", 2),
    ("#cloud-config\nruncmd:\n  - definitely-not-a-command\n", "error", 1),
])
async def test_invalid_cloud_config_is_reported(world, user_data, status, code):
    spec = await world.create("bad", user_data=user_data)
    own = None
    for _ in range(100):
        own = world.inspect.host_public_key(spec.server_id)
        if own is not None and world.inspect.machine(spec.server_id).state == "running":
            break
        await asyncio.sleep(0.02)
    async with await world.connect(spec.server_id, host_key=own) as conn:
        result = await conn.run("cloud-init status --wait --long")
    assert result.exit_status == code
    assert f"status: {status}" in result.stdout
    if code == 1:
        assert "errors: []" not in result.stdout


async def test_sftp_upload_is_visible_to_cat(world):
    spec = await world.create("cp-1")
    async with await world.connect(spec.server_id) as conn:
        assert (await conn.run("mkdir -p /etc/rancher/k3s")).exit_status == 0
        async with conn.start_sftp_client() as sftp:
            async with sftp.open("/etc/rancher/k3s/config.yaml", "w") as f:
                await f.write("cluster-init: true\n")
            assert await sftp.exists("/etc/rancher/k3s/config.yaml")
            assert "config.yaml" in await sftp.listdir("/etc/rancher/k3s")
        result = await conn.run("cat /etc/rancher/k3s/config.yaml")
    assert result.stdout == "cluster-init: true\n"


async def test_streaming_stdout_and_stdin(world):
    spec = await world.create("cp-1")
    async with await world.connect(spec.server_id) as conn:
        result = await conn.run("base64 -d | tee /tmp/x", input="aGkgdGhlcmU=")
        assert result.stdout == "hi there"
        async with conn.create_process("echo one; sleep 1; echo two") as proc:
            first = await asyncio.wait_for(proc.stdout.readline(), 5)
            assert first == "one\n"
            assert await proc.stdout.readline() == "two\n"
    assert world.inspect.read_file(spec.server_id, "/tmp/x") == b"hi there"


async def test_ip_addresses_and_uname(world):
    spec = await world.create("cp-1", private_ip="10.0.0.5", public_ip="198.51.100.9")
    async with await world.connect(spec.server_id) as conn:
        out = (await conn.run("ip -o -4 addr show")).stdout
        arch = (await conn.run("uname -m")).stdout
    assert "eth0    inet 198.51.100.9/32" in out
    assert "enp7s0    inet 10.0.0.5/32" in out
    assert arch == "x86_64\n"


@pytest.mark.skipif(shutil.which("cloud-init") is None, reason="cloud-init not installed: schema judge skipped")
def test_cloud_init_schema_accepts_what_the_parser_accepts(tmp_path, make_config):
    from khz_tui.sim.nodes.cloud_init import parse_user_data

    host_key = asyncssh.generate_private_key("ssh-ed25519")
    good = make_config(host_key, ssh_authorized_keys=["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFake x"],
                       write_files=[{"path": "/etc/x", "content": "eA==", "encoding": "b64",
                                     "permissions": "0600"}],
                       runcmd=["echo hi", ["sh", "-c", "true"]], ssh_deletekeys=True)
    path = tmp_path / "good.yaml"
    path.write_text(good)
    judged = subprocess.run(["cloud-init", "schema", "--config-file", str(path)],
                            capture_output=True, text=True, timeout=60)
    assert judged.returncode == 0, judged.stdout + judged.stderr
    assert not parse_user_data(good).errors and not parse_user_data(good).warnings

    bad = "#cloud-config\nruncmd: 42\n"
    path.write_text(bad)
    judged = subprocess.run(["cloud-init", "schema", "--config-file", str(path)],
                            capture_output=True, text=True, timeout=60)
    assert judged.returncode != 0
    assert parse_user_data(bad).errors
