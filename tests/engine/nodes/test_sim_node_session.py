"""NodeSession, cloud-init user data and node steps against the simulator's machines.

Servers are created through the simulator's HTTP API with the user data the engine renders; the
session then reaches each one over real SSH, pinned to the host key that user data carried.
"""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from khz_tui.engine.nodes.bootstrap import detect_private_iface, is_installed
from khz_tui.engine.nodes.cloud_init import render_user_data
from khz_tui.engine.nodes.session import HostKeyMismatch, NodeSession, NodeUnreachable, SshEndpoint
from khz_tui.engine.state import ClusterState, HostKey
from khz_tui.plan.model import ClusterPlan
from khz_tui.sim.contracts import NodeFaults
from khz_tui.sim.faults import FaultProfile
from khz_tui.sim.simulator import Simulator

TIME_SCALE = 0.01


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
async def world(tmp_path, client_key):
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


async def boot(sim, api, state, plan, name, network=None):
    key = state.host_key(name)
    server = await api.server(name, render_user_data(plan, name, key), "me", network)
    target = None
    for _ in range(200):
        target = sim.nodes.ssh_target(server["id"])
        if target:
            break
        await asyncio.sleep(0.01)
    assert target is not None
    return server, key, SshEndpoint(*target)


async def test_session_reaches_a_simulated_node_with_the_pinned_key(world, tmp_path, client_key, bus, events):
    sim, api = await world()
    plan = ClusterPlan(name="demo")
    state = ClusterState("demo", base=tmp_path / "state")
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
        assert sim.nodes.machine(server["id"]).fs.mode("/etc/rancher/k3s/config.yaml") & 0o777 == 0o600
        assert await is_installed(session, "control-plane") is False


async def test_simulated_node_with_another_host_key_gets_nothing(world, tmp_path, client_key, bus):
    sim, api = await world()
    plan = ClusterPlan(name="demo")
    state = ClusterState("demo", base=tmp_path / "state")
    server, _key, endpoint = await boot(sim, api, state, plan, "demo-cp-1")
    await asyncio.sleep(0.2)  # let it boot, so the mismatch is not just a refused connection
    with pytest.raises(HostKeyMismatch, match="demo-cp-1"):
        await NodeSession.connect(
            node="demo-cp-1", endpoint=endpoint, host_key=HostKey.generate(), client_key=client_key[0],
            bus=bus, deadline=30, retry_interval=0.05,
        )
    assert sim.nodes.machine(server["id"]).commands_run == 0


async def test_custom_ssh_port_is_where_the_node_answers(world, tmp_path, client_key, bus):
    sim, api = await world()
    plan = ClusterPlan(name="demo", ssh={"port": 2222})
    state = ClusterState("demo", base=tmp_path / "state")
    server, key, endpoint = await boot(sim, api, state, plan, "demo-cp-1")

    async def where() -> SshEndpoint | None:
        # sshd moves to another loopback port once cloud-init set Port 2222, as port 22 closes on a node.
        target = sim.nodes.ssh_target(server["id"])
        return SshEndpoint(*target) if target else None

    async with await NodeSession.connect(
        node="demo-cp-1", endpoint=endpoint, host_key=key, client_key=client_key[0], bus=bus,
        deadline=30, retry_interval=0.05, resolve_endpoint=where,
    ) as session:
        assert session.endpoint != endpoint
        result = await session.run("cloud-init status --long", check=False, stream=False)
        assert "status: done" in result.stdout, result.stdout


async def test_a_node_that_never_boots_is_reported_unreachable(world, tmp_path, client_key, bus):
    sim, api = await world(FaultProfile(node=NodeFaults(never_reachable=["demo-w-*"])))
    plan = ClusterPlan(name="demo")
    state = ClusterState("demo", base=tmp_path / "state")
    _server, key, endpoint = await boot(sim, api, state, plan, "demo-w-1")
    with pytest.raises(NodeUnreachable) as info:
        await NodeSession.connect(
            node="demo-w-1", endpoint=endpoint, host_key=key, client_key=client_key[0], bus=bus,
            deadline=1.5, retry_interval=0.1,
        )
    assert "demo-w-1" in str(info.value) and str(endpoint) in str(info.value)
