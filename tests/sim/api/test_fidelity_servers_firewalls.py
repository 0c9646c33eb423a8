"""Fidelity of servers, firewalls and volumes to the official spec, probed over raw HTTP as any client
would: each test quotes the spec line (or public source) it follows."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import aiohttp

from khz_tui.sim.api.config import Durations
from khz_tui.sim.simulator import Simulator, recording_node_host

TIME_SCALE = 0.01
RULE = {"direction": "in", "protocol": "tcp", "port": "22", "source_ips": ["0.0.0.0/0"], "destination_ips": []}


class Api:
    """Raw HTTP against one simulator, with its bearer token."""

    def __init__(self, sim: Simulator, session: aiohttp.ClientSession) -> None:
        self.sim = sim
        self.session = session

    async def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {self.sim.token}"}
        async with self.session.request(method, f"{self.sim.endpoint}{path}", json=body, headers=headers) as resp:
            data = await resp.json() if resp.content_type == "application/json" else None
            return resp.status, data

    async def ok(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        status, data = await self.call(method, path, body)
        assert status < 300, (method, path, status, data)
        return data

    async def until(self, check: Callable[[], Any], what: str, timeout: float = 10.0) -> Any:
        """Poll (bounded) until `await check()` is truthy; returns it."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            result = await check()
            if result:
                return result
            assert loop.time() < deadline, f"timed out waiting for {what}"
            await asyncio.sleep(0.01)

    async def finished(self, action: dict[str, Any]) -> dict[str, Any]:
        async def done() -> Any:
            got = (await self.ok("GET", f"/actions/{action['id']}"))["action"]
            return got if got["status"] != "running" else None

        result = await self.until(done, f"action {action['command']}")
        assert result["status"] == "success", result
        return result

    async def server(self, name: str, **extra: Any) -> dict[str, Any]:
        """A cx23 in nbg1, created and started."""
        body = {"name": name, "server_type": "cx23", "image": "ubuntu-24.04", "location": "nbg1", **extra}
        created = await self.ok("POST", "/servers", body)
        for action in [created["action"], *created["next_actions"]]:
            await self.finished(action)
        return created["server"]

    async def firewall(self, name: str, **extra: Any) -> dict[str, Any]:
        created = await self.ok("POST", "/firewalls", {"name": name, "rules": [RULE], **extra})
        for action in created["actions"]:
            await self.finished(action)
        return created["firewall"]


@asynccontextmanager
async def api_of(**durations: float) -> AsyncIterator[Api]:
    """An API-only simulator (machines only record calls) with some durations changed."""
    chosen = Durations()
    for name, seconds in durations.items():
        setattr(chosen, name, seconds)
    sim = Simulator(time_scale=TIME_SCALE, seed=1, node_host_factory=recording_node_host, durations=chosen)
    async with sim, aiohttp.ClientSession() as session:
        yield Api(sim, session)


def server_entry(server_id: int) -> dict[str, Any]:
    return {"type": "server", "server": {"id": server_id}}


# ---- row 1: the firewall detaches from a deleted server with a lag ------------------------------------


async def test_a_firewall_stays_in_use_while_it_detaches_from_a_deleted_server() -> None:
    # Spec, DELETE /servers/{id}: "Any resources attached to the server (like Volumes, Primary IPs, Floating
    # IPs, Firewalls, Placement Groups) are detached while the server is deleted." and DELETE
    # /firewalls/{id}: "`422` `resource_in_use` Firewall still applied to a resource". The detach lags:
    # terraform-provider-hcloud (internal/firewall/resource.go, resourceFirewallDelete) retries
    # `resource_in_use` because "Removing resources from the firewall can sometimes take longer".
    async with api_of(firewall_detach=100.0) as api:  # 1 s at this scale: wide enough to observe
        fw = await api.firewall("fw")
        srv = await api.server("node", firewalls=[{"firewall": fw["id"]}])
        deleted = await api.ok("DELETE", f"/servers/{srv['id']}")
        await api.finished(deleted["action"])

        status, data = await api.call("DELETE", f"/firewalls/{fw['id']}")
        assert status == 422 and data["error"]["code"] == "resource_in_use", data

        async def deleted_now() -> bool:
            return (await api.call("DELETE", f"/firewalls/{fw['id']}"))[0] == 204

        await api.until(deleted_now, "the firewall to detach and be deleted")
        assert (await api.call("GET", f"/firewalls/{fw['id']}"))[0] == 404
    assert Durations().firewall_detach > 0, "the lag is modelled by default"


# ---- row 5: PUT /firewalls during a change is a conflict; actions stay locked ---------------------------


async def test_put_firewall_while_an_action_runs_is_a_conflict_and_actions_stay_locked() -> None:
    # Spec, PUT /firewalls/{id}: "In case of a parallel running change on the Firewall a `conflict` error
    # will be returned." The actions' pages are silent: they keep the common `423 locked`.
    async with api_of(firewall_apply=500.0) as api:  # 5 s at this scale: the action is still running
        created = await api.ok("POST", "/firewalls", {"name": "fw", "rules": [RULE]})
        fw_id = created["firewall"]["id"]
        status, data = await api.call("PUT", f"/firewalls/{fw_id}", {"name": "renamed"})
        assert status == 409 and data["error"]["code"] == "conflict", data
        status, data = await api.call("POST", f"/firewalls/{fw_id}/actions/set_rules", {"rules": [RULE]})
        assert status == 423 and data["error"]["code"] == "locked", data


async def test_a_server_named_twice_at_firewall_create_is_server_already_added() -> None:
    # Spec, POST /firewalls: "`422` `server_already_added` The Server was applied more than once."
    async with api_of() as api:
        srv = await api.server("node")
        status, data = await api.call("POST", "/firewalls", {"name": "fw", "apply_to": [server_entry(srv["id"])] * 2})
        assert status == 422 and data["error"]["code"] == "server_already_added", data
        assert (await api.call("GET", "/firewalls?name=fw"))[1]["firewalls"] == []


# ---- row 6: an unknown server is firewall_resource_not_found ------------------------------------------


async def test_applying_to_an_unknown_server_is_firewall_resource_not_found() -> None:
    # Spec, apply_to_resources: "`404` `firewall_resource_not_found` The resource the Firewall should be
    # applied to was not found"; POST /firewalls: "`422` `firewall_resource_not_found` The resource the
    # Firewall should be attached to was not found."
    async with api_of() as api:
        fw = await api.firewall("fw")
        status, data = await api.call("POST", f"/firewalls/{fw['id']}/actions/apply_to_resources", {"apply_to": [server_entry(424242)]})
        assert status == 404 and data["error"]["code"] == "firewall_resource_not_found", data
        status, data = await api.call("POST", "/firewalls", {"name": "other", "apply_to": [server_entry(424242)]})
        assert status == 422 and data["error"]["code"] == "firewall_resource_not_found", data


# ---- row 7: a firewall needs a public interface --------------------------------------------------------


async def test_a_server_without_public_interface_takes_no_firewall() -> None:
    # Spec, apply_to_resources: "Supported resources: Servers (with a public network interface)" and
    # "`422` `private_net_only_server` The Server the Firewall should be applied to has no public
    # interface"; POST /servers `firewalls`: "applied on the Server's public network interface".
    async with api_of() as api:
        net = await api.ok("POST", "/networks", {"name": "net", "ip_range": "10.0.0.0/16", "subnets": [
            {"type": "cloud", "ip_range": "10.0.1.0/24", "network_zone": "eu-central"}]})
        private = {"public_net": {"enable_ipv4": False, "enable_ipv6": False}, "networks": [net["network"]["id"]]}
        srv = await api.server("private", **private)
        fw = await api.firewall("fw")
        status, data = await api.call("POST", f"/firewalls/{fw['id']}/actions/apply_to_resources", {"apply_to": [server_entry(srv["id"])]})
        assert status == 422 and data["error"]["code"] == "private_net_only_server", data
        body = {"name": "private-2", "server_type": "cx23", "image": "ubuntu-24.04", "location": "nbg1",
                "firewalls": [{"firewall": fw["id"]}], **private}
        status, data = await api.call("POST", "/servers", body)
        assert status == 422 and data["error"]["code"] == "private_net_only_server", data
        # One public family is enough for a public interface.
        await api.server("v6-only", public_net={"enable_ipv4": False, "enable_ipv6": True}, firewalls=[{"firewall": fw["id"]}])


# ---- row 8: at most 5 firewalls per server, label selectors included ----------------------------------


async def test_at_most_five_firewalls_per_server_label_selectors_included() -> None:
    # Spec, apply_to_resources: "A Server can be applied to a maximum of 5 Firewalls. This limit applies to
    # Servers applied via a matching Label Selector as well." It names no code; the simulator answers the
    # general `403 resource_limit_exceeded` ("exceeding the maximum quantity of a resource").
    async with api_of() as api:
        direct = [await api.firewall(f"direct-{i}") for i in range(3)]
        srv = await api.server("node", labels={"role": "node"}, firewalls=[{"firewall": f["id"]} for f in direct])
        selector = {"type": "label_selector", "label_selector": {"selector": "role=node"}}
        for i in range(2):
            await api.firewall(f"by-label-{i}", apply_to=[selector])
        got = await api.ok("GET", f"/servers/{srv['id']}")
        assert len(got["server"]["public_net"]["firewalls"]) == 5

        sixth = await api.firewall("sixth")
        status, data = await api.call("POST", f"/firewalls/{sixth['id']}/actions/apply_to_resources", {"apply_to": [server_entry(srv["id"])]})
        assert status == 403 and data["error"]["code"] == "resource_limit_exceeded", data
        assert data["error"]["details"]["limits"][0]["name"]
        status, data = await api.call("POST", f"/firewalls/{sixth['id']}/actions/apply_to_resources", {"apply_to": [selector]})
        assert status == 403 and data["error"]["code"] == "resource_limit_exceeded", data

        # A new server matching both selectors may take 3 firewalls directly, not 4.
        four = [{"firewall": f["id"]} for f in [*direct, sixth]]
        body = {"name": "node-2", "server_type": "cx23", "image": "ubuntu-24.04", "location": "nbg1", "labels": {"role": "node"}}
        status, data = await api.call("POST", "/servers", {**body, "firewalls": four})
        assert status == 403 and data["error"]["code"] == "resource_limit_exceeded", data
        await api.server("node-2", labels={"role": "node"}, firewalls=four[:3])


# ---- row 13: volumes attached at server create ---------------------------------------------------------


async def test_server_create_attaches_its_volumes() -> None:
    # Spec, POST /servers: `volumes` "Volume IDs which should be attached to the Server at the creation time.
    # Volumes must be in the same Location." and `automount` "Auto-mount Volumes after attach."
    async with api_of() as api:
        here = await api.ok("POST", "/volumes", {"name": "data", "size": 10, "location": "nbg1", "format": "ext4"})
        there = await api.ok("POST", "/volumes", {"name": "far", "size": 10, "location": "fsn1"})
        for created in (here, there):
            await api.finished(created["action"])
        body = {"name": "node", "server_type": "cx23", "image": "ubuntu-24.04", "location": "nbg1", "automount": True}

        status, data = await api.call("POST", "/servers", {**body, "volumes": [there["volume"]["id"]]})
        assert status == 422 and data["error"]["code"] == "invalid_input", data

        created = await api.ok("POST", "/servers", {**body, "volumes": [here["volume"]["id"]]})
        attach = [a for a in created["next_actions"] if a["command"] == "attach_volume"]
        assert [r["id"] for r in attach[0]["resources"] if r["type"] == "volume"] == [here["volume"]["id"]]
        for action in [created["action"], *created["next_actions"]]:
            await api.finished(action)
        server = (await api.ok("GET", f"/servers/{created['server']['id']}"))["server"]
        assert server["volumes"] == [here["volume"]["id"]]
        volume = (await api.ok("GET", f"/volumes/{here['volume']['id']}"))["volume"]
        assert volume["server"] == server["id"]


# ---- row 14: conflicting alternatives are refused ------------------------------------------------------


async def test_conflicting_location_choices_are_refused() -> None:
    # Spec, POST /servers: `location` "must not be used together with `datacenter`". POST /volumes:
    # `location` "can be omitted if Server is specified" and `server`: "Volume will be created in the same
    # Location as the server".
    async with api_of() as api:
        body = {"name": "node", "server_type": "cx23", "image": "ubuntu-24.04"}
        status, data = await api.call("POST", "/servers", {**body, "location": "nbg1", "datacenter": "fsn1-dc14"})
        assert status == 422 and data["error"]["code"] == "invalid_input", data
        srv = await api.server("node")
        status, data = await api.call("POST", "/volumes", {"name": "v", "size": 10, "server": srv["id"], "location": "fsn1"})
        assert status == 422 and data["error"]["code"] == "invalid_input", data
        created = await api.ok("POST", "/volumes", {"name": "v", "size": 10, "server": srv["id"], "location": "nbg1"})
        assert created["volume"]["location"]["name"] == "nbg1"


# ---- row 18: a firewall is pending on a server until apply_firewall ends ------------------------------


async def test_firewall_status_is_pending_until_the_apply_action_ends() -> None:
    # Spec, apply_to_resources: "A Firewall is applied to a resource once the related Action with command
    # `apply_firewall` successfully finished."; Server `public_net.firewalls[].status`: enum applied, pending.
    async with api_of(firewall_apply=200.0) as api:  # 2 s at this scale
        srv = await api.server("node")
        fw = (await api.ok("POST", "/firewalls", {"name": "fw"}))["firewall"]
        applied = await api.ok("POST", f"/firewalls/{fw['id']}/actions/apply_to_resources", {"apply_to": [server_entry(srv["id"])]})

        async def statuses() -> list[Any]:
            return (await api.ok("GET", f"/servers/{srv['id']}"))["server"]["public_net"]["firewalls"]

        assert await statuses() == [{"id": fw["id"], "status": "pending"}]
        await api.finished(applied["actions"][0])
        assert await statuses() == [{"id": fw["id"], "status": "applied"}]

        # Applied with a server at create: pending until the server exists.
        created = await api.ok("POST", "/servers", {"name": "node-2", "server_type": "cx23", "image": "ubuntu-24.04",
                                                    "location": "nbg1", "firewalls": [{"firewall": fw["id"]}]})
        assert created["server"]["public_net"]["firewalls"] == [{"id": fw["id"], "status": "pending"}]
        await api.finished(created["action"])
        again = (await api.ok("GET", f"/servers/{created['server']['id']}"))["server"]
        assert again["public_net"]["firewalls"] == [{"id": fw["id"], "status": "applied"}]


# ---- row 20: resource_limit_exceeded names the limit ---------------------------------------------------


async def test_resource_limit_exceeded_carries_details_limits() -> None:
    # Spec overview, resource_limit_exceeded example: "details": {"limits": [{"name": "project_limit"}]}.
    sim = Simulator(time_scale=TIME_SCALE, seed=1, node_host_factory=recording_node_host, server_limit=2)
    sim.config.network_server_limit = 1  # set low for the test: the network is full with one server
    async with sim, aiohttp.ClientSession() as session:
        api = Api(sim, session)
        net = await api.ok("POST", "/networks", {"name": "net", "ip_range": "10.0.0.0/16", "subnets": [
            {"type": "cloud", "ip_range": "10.0.1.0/24", "network_zone": "eu-central"}]})
        await api.server("member", networks=[net["network"]["id"]])
        outside = await api.server("outside")
        status, data = await api.call("POST", "/servers", {"name": "three", "server_type": "cx23", "image": "ubuntu-24.04"})
        assert status == 403 and data["error"]["code"] == "resource_limit_exceeded", data
        assert data["error"]["details"] == {"limits": [{"name": "project_limit"}]}

        status, data = await api.call("POST", f"/servers/{outside['id']}/actions/attach_to_network", {"network": net["network"]["id"]})
        assert status == 403 and data["error"]["code"] == "resource_limit_exceeded", data
        assert [limit["name"] for limit in data["error"]["details"]["limits"]] == ["servers_per_network"]
