"""Machine faults are real (connections drop, nodes reboot or never answer) and fixed by the seed."""

from __future__ import annotations

import asyncio

import asyncssh
import pytest

from khz_tui.sim.contracts import NodeFaults


async def outcomes_of_drops(make_world, seed: int) -> list[str]:
    world = make_world(NodeFaults(ssh_drop_probability=0.5), seed=seed)
    try:
        spec = await world.create("cp-1")
        outcomes = []
        for i in range(8):
            try:
                async with await world.connect(spec.server_id) as conn:
                    result = await conn.run(f"echo {i} >> /tmp/log; sleep 1; echo done")
                # A cut connection ends the command without an exit status.
                outcomes.append("dropped" if result.exit_status is None else f"ok:{result.exit_status}")
            except (asyncssh.Error, ConnectionError, OSError):
                outcomes.append("dropped")
        return outcomes
    finally:
        await world.nodes.close()


async def test_ssh_drops_are_deterministic_under_the_seed(make_world):
    first = await outcomes_of_drops(make_world, seed=11)
    again = await outcomes_of_drops(make_world, seed=11)
    assert first == again
    assert "dropped" in first and "ok:0" in first


async def test_never_reachable_node_refuses_forever(make_world):
    world = make_world(NodeFaults(never_reachable=["cp-*"]))
    try:
        spec = await world.create("cp-1")
        ok = await world.create("worker-1")
        for _ in range(500):  # bounded: both boot within 0.05 s, so a refusal is not just a boot in progress
            if all(world.inspect.machine(s.server_id).state == "running" for s in (spec, ok)):
                break
            await asyncio.sleep(0.02)
        else:
            raise AssertionError("the machines never booted")
        with pytest.raises(AssertionError, match="never answered"):
            await world.connect(spec.server_id, attempts=5)
        async with await world.connect(ok.server_id) as conn:
            assert (await conn.run("true")).exit_status == 0
    finally:
        await world.nodes.close()


async def install_with_reboots(make_world, seed: int) -> list[str]:
    world = make_world(NodeFaults(reboot_during_install_probability=0.5), seed=seed)
    outcomes = []
    try:
        spec = await world.create("cp-1")
        for _ in range(6):
            try:
                async with await world.connect(spec.server_id, attempts=300) as conn:
                    result = await conn.run("curl -sfL https://get.k3s.io | K3S_TOKEN=t INSTALL_K3S_EXEC=server "
                                            "sh -s - --cluster-init")
                outcomes.append("rebooted" if result.exit_status is None else f"exit:{result.exit_status}")
                if result.exit_status == 0:
                    break
            except (asyncssh.Error, ConnectionError, OSError):
                outcomes.append("rebooted")  # the next connect waits for the machine to be back
        async with await world.connect(spec.server_id, attempts=300) as conn:
            # Files survive the reboot; the unit is there but k3s runs only after a full install.
            assert (await conn.run("test -f /usr/local/bin/k3s")).exit_status == 0
            active = (await conn.run("systemctl is-active k3s")).stdout.strip()
        outcomes.append(f"k3s:{active}")
        return outcomes
    finally:
        await world.nodes.close()


async def test_reboot_during_install_is_deterministic_and_recoverable(make_world):
    first = await install_with_reboots(make_world, seed=3)
    assert first == await install_with_reboots(make_world, seed=3)
    assert "rebooted" in first, first
    assert first[-2:] == ["exit:0", "k3s:active"], first


async def test_reboot_restarts_installed_k3s_and_keeps_files(world):
    spec = await world.create("cp-1")
    async with await world.connect(spec.server_id) as conn:
        result = await conn.run("curl -sfL https://get.k3s.io | K3S_TOKEN=t sh -s - --cluster-init")
        assert result.exit_status == 0, result.stderr
    await world.nodes.reboot(spec.server_id, 0.05)
    assert not world.inspect.k3s_clusters()[0].nodes["cp-1"].running
    async with await world.connect(spec.server_id, attempts=300) as conn:
        for _ in range(100):
            if (await conn.run("systemctl is-active k3s")).exit_status == 0:
                break
            await asyncio.sleep(0.02)
        assert (await conn.run("test -f /var/lib/rancher/k3s/server/node-token")).exit_status == 0
    assert world.inspect.k3s_clusters()[0].nodes["cp-1"].running


async def test_state_survives_export_and_import(world, keys):
    from khz_tui.sim.nodes.host import SimNodes

    spec = await world.create("cp-1")
    async with await world.connect(spec.server_id) as conn:
        result = await conn.run("curl -sfL https://get.k3s.io | K3S_TOKEN=t sh -s - --cluster-init")
        assert result.exit_status == 0
        await conn.run("echo kept > /root/note")
    state = world.nodes.export_state()
    import json
    state = json.loads(json.dumps(state))  # must be JSON-serialisable
    await world.nodes.close()
    world.nodes = SimNodes(world.cloud, time_scale=0.01, seed=7)
    await world.nodes.import_state(state, [spec])
    async with await world.connect(spec.server_id, attempts=300) as conn:
        assert (await conn.run("cat /root/note")).stdout == "kept\n"
        for _ in range(100):
            if (await conn.run("systemctl is-active k3s")).exit_status == 0:
                break
            await asyncio.sleep(0.02)
        token = (await conn.run("cat /var/lib/rancher/k3s/server/node-token")).stdout.strip()
    [cluster] = world.inspect.k3s_clusters()
    assert token == cluster.token and cluster.nodes["cp-1"].running
