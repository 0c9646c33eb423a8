"""NodeSession, cloud-init user data and node steps against the simulator's machines.

Servers are created through the simulator's HTTP API with the user data the engine renders; the
session then reaches each one over real SSH, pinned to the host key that user data carried.
"""

from __future__ import annotations

import pytest
from support.simulator import sshd_answers

from khz_tui.engine.cluster_files import ClusterFiles, HostKey
from khz_tui.engine.nodes.k3s_unit import is_running
from khz_tui.engine.nodes.network_interface import detect_private_iface
from khz_tui.engine.nodes.session import HostKeyMismatch, NodeSession, NodeUnreachable, SshEndpoint
from khz_tui.plan.model import ClusterPlan
from khz_tui.sim.contracts import NodeFaults
from khz_tui.sim.faults import FaultProfile


async def test_session_reaches_a_simulated_node_with_the_pinned_key(sim_world, boot, tmp_path, client_key, bus, events):
    sim, api = await sim_world()
    plan = ClusterPlan(name="demo")
    state = ClusterFiles("demo", base=tmp_path / "state")
    network = await api.network()
    server, key, endpoint = await boot(sim, api, state, plan, "demo-cp-1", network)
    async with await NodeSession.connect(
        node="demo-cp-1", endpoint=endpoint, host_key=key, client_key=client_key[0], bus=bus,
        deadline=30, retry_interval=0.05,
    ) as session:
        # cloud-init already finished: connect waited for it.
        assert (await session.run("test -f /var/lib/cloud/instance/boot-finished", check=False)).exit_status == 0
        private_ip = server["private_net"][0]["ip"]
        assert await detect_private_iface(session, private_ip, timeout=5) in ("enp7s0", "eth1")
        await session.write_file("/etc/rancher/k3s/config.yaml", "token: abcdefgh1234\n", mode=0o600)
        assert await session.read_file("/etc/rancher/k3s/config.yaml") == "token: abcdefgh1234\n"
        listing = await session.run("cat /etc/rancher/k3s/config.yaml", stream=False)
        assert listing.stdout == "token: abcdefgh1234\n"
        assert sim.inspect.file_mode(server["id"], "/etc/rancher/k3s/config.yaml") & 0o777 == 0o600
        assert await is_running(session, "control-plane") is False


async def test_simulated_node_with_another_host_key_gets_nothing(sim_world, boot, tmp_path, client_key, bus):
    sim, api = await sim_world()
    plan = ClusterPlan(name="demo")
    state = ClusterFiles("demo", base=tmp_path / "state")
    server, _key, endpoint = await boot(sim, api, state, plan, "demo-cp-1")
    await sshd_answers(sim, server["id"])  # booted: the mismatch is not just a refused connection
    with pytest.raises(HostKeyMismatch, match="demo-cp-1"):
        await NodeSession.connect(
            node="demo-cp-1", endpoint=endpoint, host_key=HostKey.generate(), client_key=client_key[0],
            bus=bus, deadline=30, retry_interval=0.05,
        )
    assert sim.inspect.machine(server["id"]).commands_run == 0


async def test_custom_ssh_port_is_where_the_node_answers(sim_world, boot, tmp_path, client_key, bus):
    sim, api = await sim_world()
    plan = ClusterPlan(name="demo", ssh={"port": 2222})
    state = ClusterFiles("demo", base=tmp_path / "state")
    server, key, endpoint = await boot(sim, api, state, plan, "demo-cp-1")

    async def where() -> SshEndpoint | None:
        # sshd moves to another loopback port once cloud-init set Port 2222, as port 22 closes on a node.
        target = sim.inspect.ssh_target(server["id"])
        return SshEndpoint(*target) if target else None

    async with await NodeSession.connect(
        node="demo-cp-1", endpoint=endpoint, host_key=key, client_key=client_key[0], bus=bus,
        deadline=30, retry_interval=0.05, resolve_endpoint=where,
    ) as session:
        assert session.endpoint != endpoint
        result = await session.run("cloud-init status --long", check=False, stream=False)
        assert "status: done" in result.stdout, result.stdout


async def test_a_node_that_never_boots_is_reported_unreachable(sim_world, boot, tmp_path, client_key, bus):
    sim, api = await sim_world(FaultProfile(node=NodeFaults(never_reachable=["demo-w-*"])))
    plan = ClusterPlan(name="demo")
    state = ClusterFiles("demo", base=tmp_path / "state")
    _server, key, endpoint = await boot(sim, api, state, plan, "demo-w-1")
    with pytest.raises(NodeUnreachable) as info:
        await NodeSession.connect(
            node="demo-w-1", endpoint=endpoint, host_key=key, client_key=client_key[0], bus=bus,
            deadline=1.5, retry_interval=0.1,
        )
    assert "demo-w-1" in str(info.value) and str(endpoint) in str(info.value)
