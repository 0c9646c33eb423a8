"""Fidelity of load balancers, probed over HTTP as any client would: target health, which servers
may be targets, and the create request's alternatives."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import asyncssh
import pytest

from khz_tui.sim.simulator import Simulator, recording_node_host

K3S = "curl -sfL https://get.k3s.io | INSTALL_K3S_VERSION=v1.33.6+k3s1 INSTALL_K3S_EXEC=server sh -s - --cluster-init --token t0ken"
API_SERVICE = {"protocol": "tcp", "listen_port": 6443, "destination_port": 6443, "proxyprotocol": False,
               # The spec's longest interval ("maximum": 60), so the wait for the first check is easy to see.
               "health_check": {"protocol": "tcp", "port": 6443, "interval": 60, "timeout": 10, "retries": 3}}


class Api:
    """Raw JSON over HTTP with the project's token."""

    def __init__(self, sim: Simulator, session: aiohttp.ClientSession) -> None:
        self.sim = sim
        self.session = session

    async def call(self, method: str, path: str, body: Any = None) -> tuple[int, dict[str, Any]]:
        headers = {"Authorization": f"Bearer {self.sim.token}"}
        async with self.session.request(method, f"{self.sim.endpoint}{path}", json=body, headers=headers) as reply:
            return reply.status, await reply.json()

    async def ok(self, method: str, path: str, body: Any = None) -> dict[str, Any]:
        status, data = await self.call(method, path, body)
        assert status < 300, (status, data)
        return data

    async def wait(self, action: dict[str, Any], rounds: int = 400) -> None:
        for _ in range(rounds):
            if (await self.ok("GET", f"/actions/{action['id']}"))["action"]["status"] != "running":
                return
            await asyncio.sleep(0.02)
        raise AssertionError(f"action {action['id']} never finished")

    async def network(self, name: str = "net", ip_range: str = "10.0.0.0/16", subnet: str = "10.0.1.0/24") -> int:
        body = {"name": name, "ip_range": ip_range,
                "subnets": [{"type": "cloud", "ip_range": subnet, "network_zone": "eu-central"}]}
        return (await self.ok("POST", "/networks", body))["network"]["id"]

    async def server(self, name: str, **extra: Any) -> dict[str, Any]:
        body = {"name": name, "server_type": "cx23", "image": "ubuntu-24.04", "location": "nbg1", **extra}
        created = await self.ok("POST", "/servers", body)
        for action in [created["action"], *created["next_actions"]]:
            await self.wait(action)
        return created["server"]

    async def load_balancer(self, **extra: Any) -> tuple[int, dict[str, Any]]:
        body = {"name": "lb", "load_balancer_type": "lb11", **extra}
        body.setdefault("location", "nbg1")
        return await self.call("POST", "/load_balancers", body)


async def make_api(sim: Simulator) -> AsyncIterator[Api]:
    async with aiohttp.ClientSession() as session:
        yield Api(sim, session)


@pytest.fixture
async def api() -> AsyncIterator[Api]:
    """A simulator whose machines only record calls: nothing listens anywhere."""
    async with Simulator(time_scale=0.01, seed=1, node_host_factory=recording_node_host) as sim:
        async for made in make_api(sim):
            yield made


# -- row 3: use_private_ip needs a shared network ------------------------------------------------


async def test_private_target_outside_the_networks_is_refused_by_add_target(api: Api) -> None:
    # Spec, add_target: `422 resolve_cloud_private_targets_error` "The server you are trying to add as a
    # target is not attached to the same network as the Load Balancer".
    lb_net = await api.network("lb-net")
    other = await api.network("other", "10.1.0.0/16", "10.1.1.0/24")
    outside = await api.server("outside", networks=[other])
    status, created = await api.load_balancer(network=lb_net)
    assert status == 201
    await api.wait(created["action"])
    lb = created["load_balancer"]["id"]
    status, body = await api.call("POST", f"/load_balancers/{lb}/actions/add_target",
                                  {"type": "server", "server": {"id": outside["id"]}, "use_private_ip": True})
    assert status == 422 and body["error"]["code"] == "resolve_cloud_private_targets_error"
    inside = await api.server("inside", networks=[lb_net])
    await api.ok("POST", f"/load_balancers/{lb}/actions/add_target",
                 {"type": "server", "server": {"id": inside["id"]}, "use_private_ip": True})


async def test_private_target_outside_the_network_is_refused_by_create(api: Api) -> None:
    # Spec, POST /load_balancers lists the same `422 resolve_cloud_private_targets_error`.
    lb_net = await api.network("lb-net")
    outside = await api.server("outside")
    status, body = await api.load_balancer(network=lb_net, targets=[
        {"type": "server", "server": {"id": outside["id"]}, "use_private_ip": True}])
    assert status == 422 and body["error"]["code"] == "resolve_cloud_private_targets_error"
    assert (await api.ok("GET", "/load_balancers"))["load_balancers"] == []


async def test_label_selector_target_keeps_only_servers_it_can_reach(api: Api) -> None:
    # A selector is accepted whatever it matches; a matching server outside the load balancer's network
    # is simply not among its targets (hetznercloud/cli#760: a selector over servers the load balancer
    # cannot reach showed no targets rather than failing).
    lb_net = await api.network("lb-net")
    other = await api.network("other", "10.1.0.0/16", "10.1.1.0/24")
    inside = await api.server("inside", networks=[lb_net], labels={"role": "cp"})
    await api.server("outside", networks=[other], labels={"role": "cp"})
    status, created = await api.load_balancer(network=lb_net, targets=[
        {"type": "label_selector", "label_selector": {"selector": "role=cp"}, "use_private_ip": True}])
    assert status == 201
    [target] = created["load_balancer"]["targets"]
    assert [t["server"]["id"] for t in target["targets"]] == [inside["id"]]


# -- row 9: a public target needs a public IPv4 ---------------------------------------------------


async def test_public_target_without_ipv4_is_refused(api: Api) -> None:
    # Spec, POST /load_balancers and add_target: `422 resolve_cloud_public_targets_error` "The server
    # that you are trying to add as a public target does not have a public IPv4 address".
    lb_net = await api.network("lb-net")
    v6_only = await api.server("v6-only", networks=[lb_net], public_net={"enable_ipv4": False, "enable_ipv6": True})
    status, body = await api.load_balancer(targets=[{"type": "server", "server": {"id": v6_only["id"]}}])
    assert status == 422 and body["error"]["code"] == "resolve_cloud_public_targets_error"
    status, created = await api.load_balancer(network=lb_net)
    await api.wait(created["action"])
    lb = created["load_balancer"]["id"]
    path = f"/load_balancers/{lb}/actions/add_target"
    status, body = await api.call("POST", path, {"type": "server", "server": {"id": v6_only["id"]}, "use_private_ip": False})
    assert status == 422 and body["error"]["code"] == "resolve_cloud_public_targets_error"
    # Through its private address the same server is a fine target.
    await api.ok("POST", path, {"type": "server", "server": {"id": v6_only["id"]}, "use_private_ip": True})


async def test_refused_create_keeps_no_public_address(api: Api) -> None:
    v6_only = await api.server("v6-only", public_net={"enable_ipv4": False, "enable_ipv6": True})
    status, _ = await api.load_balancer(targets=[{"type": "server", "server": {"id": v6_only["id"]}}])
    assert status == 422
    status, created = await api.load_balancer()
    assert status == 201
    second = await api.load_balancer(name="lb2")
    addresses = {created["load_balancer"]["public_net"]["ipv4"]["ip"], second[1]["load_balancer"]["public_net"]["ipv4"]["ip"]}
    assert len(addresses) == 2


# -- row 14: location or network_zone, not both ---------------------------------------------------


async def test_location_and_network_zone_together_are_refused(api: Api) -> None:
    # The spec lists both as optional alternatives; Hetzner answers both at once with "invalid input
    # in fields 'network_zone', 'location'" (hetznercloud/cli#294: "you can only specify one of both").
    status, body = await api.load_balancer(location="nbg1", network_zone="eu-central")
    assert status == 422 and body["error"]["code"] == "invalid_input"
    assert {f["name"] for f in body["error"]["details"]["fields"]} == {"location", "network_zone"}
    for alone in ({"location": "nbg1"}, {"location": None, "network_zone": "eu-central"}):
        status, body = await api.load_balancer(name=f"lb-{len(alone)}-{alone.get('location')}", **alone)
        assert status == 201, body


# -- row 2: health_status is a real check of the destination port ---------------------------------


async def _health(api: Api, lb: int) -> list[str]:
    data = await api.ok("GET", f"/load_balancers/{lb}")
    return [h["status"] for t in data["load_balancer"]["targets"] for h in t["health_status"]]


async def _until(api: Api, lb: int, wanted: str, rounds: int = 600) -> list[str]:
    seen: list[str] = []
    for _ in range(rounds):
        seen = await _health(api, lb)
        if seen == [wanted]:
            return seen
        await asyncio.sleep(0.02)
    raise AssertionError(f"health never became {wanted}: {seen}")


async def _ssh(sim: Simulator, api: Api, server_id: int, key: asyncssh.SSHKey) -> asyncssh.SSHClientConnection:
    last: Exception | None = None
    for _ in range(300):
        targets = (await api.ok("GET", f"/x-sim/ssh-targets?id={server_id}"))["targets"]
        if targets:
            try:
                return await asyncssh.connect(targets[0]["host"], targets[0]["port"], username="root",
                                              client_keys=[key], known_hosts=None, config=[], agent_path=None,
                                              connect_timeout=5)
            except (OSError, asyncssh.Error) as exc:
                last = exc
        await asyncio.sleep(0.02)
    raise AssertionError(f"sshd of server {server_id} never answered: {last}")


async def test_health_is_unknown_then_follows_the_destination_port() -> None:
    # Spec, LoadBalancerTargetHealthStatus: `status` "healthy", "unhealthy" or "unknown"; the service's
    # health check: `interval` "Time interval in seconds health checks are performed", `port` "Port the
    # health check will be performed on". Unknown until the first check, then whether the server's
    # destination port answers: k3s serves 6443 only while its server unit runs.
    async with Simulator(time_scale=0.05, seed=1) as sim:
        async for api in make_api(sim):
            key = asyncssh.generate_private_key("ssh-ed25519")
            ssh_key = await api.ok("POST", "/ssh_keys", {"name": "k", "public_key": key.export_public_key().decode()})
            net = await api.network()
            server = await api.server("cp-1", networks=[net], ssh_keys=[ssh_key["ssh_key"]["id"]])
            status, created = await api.load_balancer(network=net, services=[API_SERVICE])
            assert status == 201
            lb = created["load_balancer"]["id"]
            await api.wait(created["action"])
            added = await api.ok("POST", f"/load_balancers/{lb}/actions/add_target",
                                 {"type": "server", "server": {"id": server["id"]}, "use_private_ip": True})
            assert await _health(api, lb) == ["unknown"], "no check has run yet (interval 60 s x 0.05 = 3 s)"
            await api.wait(added["action"])
            await _until(api, lb, "unhealthy")  # the server runs, but nothing listens on 6443 yet
            async with await _ssh(sim, api, server["id"], key) as conn:
                installed = await conn.run(K3S)
                assert installed.exit_status == 0, installed.stderr
                await _until(api, lb, "healthy")
                await conn.run("systemctl stop k3s", check=True)
                await _until(api, lb, "unhealthy")


async def test_health_is_unknown_while_the_load_balancer_is_created(api: Api) -> None:
    net = await api.network()
    server = await api.server("cp-1", networks=[net])
    status, created = await api.load_balancer(network=net, services=[API_SERVICE], targets=[
        {"type": "server", "server": {"id": server["id"]}, "use_private_ip": True}])
    assert status == 201
    assert [h["status"] for h in created["load_balancer"]["targets"][0]["health_status"]] == ["unknown"]
    await api.wait(created["action"])
    # Nothing listens on a recorded machine: once checked, the target is unhealthy, never healthy.
    await _until(api, created["load_balancer"]["id"], "unhealthy")
