"""Every endpoint the simulator serves answers with the body Hetzner's OpenAPI spec documents.

Each case drives the simulator over raw HTTP (no client library in between) and validates the body
against the schema vendored from the spec (`tests/data/spec_schemas`, made by `extract_schemas.py`),
with the spec's formats checked (date-time, int32/int64, decimal). The cases are generated from the
vendored index, so an endpoint without a recipe here fails rather than going unchecked.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from khz_tui.sim.api.app import build_app
from khz_tui.sim.api.config import SimConfig
from khz_tui.sim.api.ratelimit import TokenBucket
from khz_tui.sim.api.store import CloudStore

INDEX = json.loads((Path(__file__).resolve().parents[2] / "data" / "spec_schemas" / "index.json").read_text(encoding="utf-8"))
ENDPOINTS = sorted(INDEX["endpoints"])

Result = tuple[int, Any]
Recipe = Callable[[Any], Awaitable[Result]]
RECIPES: dict[str, Recipe] = {}

# Where the simulator departs from the spec on purpose or by a bug not fixed here: endpoint -> reason.
KNOWN_MISMATCHES: dict[str, str] = {
    "DELETE /load_balancers/{id}": (
        "deliberate: the spec documents 204 without a body; the simulator answers 200 {action} because "
        "hcloud-python 2.27.0 reads response['action'] from this call"
    ),
}


def recipe(key: str) -> Callable[[Recipe], Recipe]:
    def register(fn: Recipe) -> Recipe:
        assert key not in RECIPES, key
        RECIPES[key] = fn
        return fn

    return register


# ---- setup steps (their own responses are checked by their own cases) -----------------------------

SUBNET = {"type": "cloud", "ip_range": "10.0.1.0/24", "network_zone": "eu-central"}
RULE = {"direction": "in", "protocol": "tcp", "port": "22", "source_ips": ["0.0.0.0/0", "::/0"], "description": "ssh"}
HEALTH = {"protocol": "tcp", "port": 6443, "interval": 15, "timeout": 10, "retries": 3}
SERVICE = {"protocol": "tcp", "listen_port": 6443, "destination_port": 6443, "proxyprotocol": False, "health_check": HEALTH}


def public_key(n: int) -> str:
    """A well-formed ed25519 public key line, different for each n."""
    import base64
    import struct

    blob = struct.pack(">I", 11) + b"ssh-ed25519" + struct.pack(">I", 32) + n.to_bytes(32, "big")
    return f"ssh-ed25519 {base64.b64encode(blob).decode()} key{n}@spec"


def request(method: str, path: str, body: Any = None, params: Any = None) -> Recipe:
    async def run(api: Any) -> Result:
        return await api.call(method, path, body, params)

    return run


async def network(api: Any, name: str = "net") -> dict[str, Any]:
    return (await api.ok("POST", "/networks", {"name": name, "ip_range": "10.0.0.0/16", "subnets": [SUBNET], "labels": {"role": "net"}}))["network"]


async def server(api: Any, name: str = "srv", **extra: Any) -> dict[str, Any]:
    body = {"name": name, "server_type": "cx23", "image": "ubuntu-24.04", "location": "nbg1", "labels": {"role": "node"}, **extra}
    data = await api.ok("POST", "/servers", body)
    await api.wait_all(data)
    return data["server"]


async def load_balancer(api: Any, net: dict[str, Any] | None = None, name: str = "lb") -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": name,
        "load_balancer_type": "lb11",
        "location": "nbg1",
        "services": [SERVICE],
        "targets": [{"type": "label_selector", "label_selector": {"selector": "role=node"}, "use_private_ip": net is not None}],
        "labels": {"role": "api"},
    }
    if net is not None:
        body["network"] = net["id"]
    data = await api.ok("POST", "/load_balancers", body)
    await api.wait_all(data)
    return data["load_balancer"]


async def volume(api: Any, name: str = "vol", **extra: Any) -> dict[str, Any]:
    body = {"name": name, "size": 10, "format": "ext4", "labels": {"role": "data"}, **extra}
    if "server" not in body:
        body["location"] = "nbg1"
    data = await api.ok("POST", "/volumes", body)
    await api.wait_all(data)
    return data["volume"]


async def firewall(api: Any, name: str = "fw") -> dict[str, Any]:
    body = {"name": name, "rules": [RULE], "apply_to": [{"type": "label_selector", "label_selector": {"selector": "role=node"}}], "labels": {"role": "fw"}}
    data = await api.ok("POST", "/firewalls", body)
    for action in data.get("actions") or []:
        await api.wait(action["id"])
    return data["firewall"]


async def ssh_key(api: Any, n: int = 1) -> dict[str, Any]:
    return (await api.ok("POST", "/ssh_keys", {"name": f"key{n}", "public_key": public_key(n), "labels": {"role": "admin"}}))["ssh_key"]


async def placement_group(api: Any) -> dict[str, Any]:
    return (await api.ok("POST", "/placement_groups", {"name": "pg", "type": "spread", "labels": {"role": "cp"}}))["placement_group"]


async def first_id(api: Any, path: str, key: str) -> int:
    return (await api.ok("GET", path))[key][0]["id"]


# ---- catalog ------------------------------------------------------------------------------------

for _kind in ("server_types", "locations", "datacenters", "images", "load_balancer_types"):
    recipe(f"GET /{_kind}")(request("GET", f"/{_kind}"))

    def _one(kind: str) -> Recipe:
        async def run(api: Any) -> Result:
            return await api.call("GET", f"/{kind}/{await first_id(api, f'/{kind}', kind)}")

        return run

    recipe(f"GET /{_kind}/{{id}}")(_one(_kind))

recipe("GET /pricing")(request("GET", "/pricing"))


# ---- servers ------------------------------------------------------------------------------------


@recipe("POST /servers")
async def _create_server(api: Any) -> Result:
    net, key, pg, fw = await network(api), await ssh_key(api), await placement_group(api), await firewall(api)
    body = {
        "name": "cp-1",
        "server_type": "cx23",
        "image": "ubuntu-24.04",
        "location": "nbg1",
        "ssh_keys": [key["id"]],
        "networks": [net["id"]],
        "firewalls": [{"firewall": fw["id"]}],
        "placement_group": pg["id"],
        "user_data": "#cloud-config\n{}\n",
        "labels": {"role": "cp", "example.com/tier": ""},
        "public_net": {"enable_ipv4": True, "enable_ipv6": True},
    }
    return await api.call("POST", "/servers", body)


@recipe("GET /servers")
async def _list_servers(api: Any) -> Result:
    net = await network(api)
    await server(api, "a", networks=[net["id"]])
    await server(api, "b", public_net={"enable_ipv4": False, "enable_ipv6": True})
    return await api.call("GET", "/servers", params={"label_selector": "role=node"})


@recipe("GET /servers/{id}")
async def _get_server(api: Any) -> Result:
    net, pg = await network(api), await placement_group(api)
    srv = await server(api, networks=[net["id"]], placement_group=pg["id"])
    await volume(api, server=srv["id"], automount=True)
    await load_balancer(api, net)
    return await api.call("GET", f"/servers/{srv['id']}")


@recipe("PUT /servers/{id}")
async def _update_server(api: Any) -> Result:
    srv = await server(api)
    return await api.call("PUT", f"/servers/{srv['id']}", {"name": "renamed", "labels": {"role": "x"}})


@recipe("DELETE /servers/{id}")
async def _delete_server(api: Any) -> Result:
    return await api.call("DELETE", f"/servers/{(await server(api))['id']}")


def _server_action(name: str, body: Callable[[dict[str, Any]], Awaitable[Any]] | None = None, before: str | None = None) -> Recipe:
    async def run(api: Any) -> Result:
        srv = await server(api)
        if before:
            await api.wait((await api.ok("POST", f"/servers/{srv['id']}/actions/{before}"))["action"]["id"])
        payload = await body(api) if body else None
        return await api.call("POST", f"/servers/{srv['id']}/actions/{name}", payload)

    return run


async def _network_ref(api: Any) -> dict[str, Any]:
    return {"network": (await network(api))["id"], "ip": "10.0.1.5"}


recipe("POST /servers/{id}/actions/poweron")(_server_action("poweron", before="poweroff"))
recipe("POST /servers/{id}/actions/poweroff")(_server_action("poweroff"))
recipe("POST /servers/{id}/actions/shutdown")(_server_action("shutdown"))
recipe("POST /servers/{id}/actions/reboot")(_server_action("reboot"))
recipe("POST /servers/{id}/actions/reset")(_server_action("reset"))
recipe("POST /servers/{id}/actions/attach_to_network")(_server_action("attach_to_network", _network_ref))


@recipe("POST /servers/{id}/actions/detach_from_network")
async def _detach_server(api: Any) -> Result:
    net = await network(api)
    srv = await server(api, networks=[net["id"]])
    return await api.call("POST", f"/servers/{srv['id']}/actions/detach_from_network", {"network": net["id"]})


# ---- networks -----------------------------------------------------------------------------------


@recipe("POST /networks")
async def _create_network(api: Any) -> Result:
    return await api.call("POST", "/networks", {"name": "n", "ip_range": "10.0.0.0/16", "subnets": [SUBNET], "labels": {"a": "b"}})


@recipe("GET /networks")
async def _list_networks(api: Any) -> Result:
    net = await network(api)
    await server(api, networks=[net["id"]])
    await load_balancer(api, net)
    await network(api, "empty")
    await api.ok("POST", "/networks", {"name": "routed", "ip_range": "10.1.0.0/16", "routes": [{"destination": "10.100.1.0/24", "gateway": "10.1.0.2"}]})
    return await api.call("GET", "/networks")


@recipe("GET /networks/{id}")
async def _get_network(api: Any) -> Result:
    net = await network(api)
    await server(api, networks=[net["id"]])
    await load_balancer(api, net)
    return await api.call("GET", f"/networks/{net['id']}")


@recipe("PUT /networks/{id}")
async def _update_network(api: Any) -> Result:
    return await api.call("PUT", f"/networks/{(await network(api))['id']}", {"name": "n2", "labels": {"k": "v"}})


@recipe("DELETE /networks/{id}")
async def _delete_network(api: Any) -> Result:
    return await api.call("DELETE", f"/networks/{(await network(api))['id']}")


@recipe("POST /networks/{id}/actions/add_subnet")
async def _add_subnet(api: Any) -> Result:
    net = await network(api)
    return await api.call("POST", f"/networks/{net['id']}/actions/add_subnet", {"type": "cloud", "ip_range": "10.0.2.0/24", "network_zone": "eu-central"})


@recipe("POST /networks/{id}/actions/delete_subnet")
async def _delete_subnet(api: Any) -> Result:
    net = await network(api)
    await api.wait((await api.ok("POST", f"/networks/{net['id']}/actions/add_subnet", {"type": "cloud", "ip_range": "10.0.2.0/24", "network_zone": "eu-central"}))["action"]["id"])
    return await api.call("POST", f"/networks/{net['id']}/actions/delete_subnet", {"ip_range": "10.0.2.0/24"})


ROUTE = {"destination": "10.100.1.0/24", "gateway": "10.0.1.2"}


@recipe("POST /networks/{id}/actions/add_route")
async def _add_route(api: Any) -> Result:
    net = await network(api)
    return await api.call("POST", f"/networks/{net['id']}/actions/add_route", ROUTE)


@recipe("POST /networks/{id}/actions/delete_route")
async def _delete_route(api: Any) -> Result:
    net = await network(api)
    await api.wait((await api.ok("POST", f"/networks/{net['id']}/actions/add_route", ROUTE))["action"]["id"])
    return await api.call("POST", f"/networks/{net['id']}/actions/delete_route", ROUTE)


# ---- SSH keys, placement groups ------------------------------------------------------------------

recipe("POST /ssh_keys")(request("POST", "/ssh_keys", {"name": "k", "public_key": public_key(7), "labels": {"a": "b"}}))


@recipe("GET /ssh_keys")
async def _list_keys(api: Any) -> Result:
    for n in range(3):
        await ssh_key(api, n)
    return await api.call("GET", "/ssh_keys", params={"per_page": "2", "page": "2"})


@recipe("GET /ssh_keys/{id}")
async def _get_key(api: Any) -> Result:
    return await api.call("GET", f"/ssh_keys/{(await ssh_key(api))['id']}")


@recipe("PUT /ssh_keys/{id}")
async def _update_key(api: Any) -> Result:
    return await api.call("PUT", f"/ssh_keys/{(await ssh_key(api))['id']}", {"name": "k2", "labels": {}})


@recipe("DELETE /ssh_keys/{id}")
async def _delete_key(api: Any) -> Result:
    return await api.call("DELETE", f"/ssh_keys/{(await ssh_key(api))['id']}")


recipe("POST /placement_groups")(request("POST", "/placement_groups", {"name": "p", "type": "spread", "labels": {"a": "b"}}))


@recipe("GET /placement_groups")
async def _list_pgs(api: Any) -> Result:
    pg = await placement_group(api)
    await server(api, placement_group=pg["id"])
    return await api.call("GET", "/placement_groups")


@recipe("GET /placement_groups/{id}")
async def _get_pg(api: Any) -> Result:
    pg = await placement_group(api)
    await server(api, placement_group=pg["id"])
    return await api.call("GET", f"/placement_groups/{pg['id']}")


@recipe("PUT /placement_groups/{id}")
async def _update_pg(api: Any) -> Result:
    return await api.call("PUT", f"/placement_groups/{(await placement_group(api))['id']}", {"name": "p2", "labels": {"k": "v"}})


@recipe("DELETE /placement_groups/{id}")
async def _delete_pg(api: Any) -> Result:
    return await api.call("DELETE", f"/placement_groups/{(await placement_group(api))['id']}")


# ---- firewalls ----------------------------------------------------------------------------------


@recipe("POST /firewalls")
async def _create_firewall(api: Any) -> Result:
    srv = await server(api, labels={"role": "other"})
    body = {
        "name": "f",
        "labels": {"a": "b"},
        "rules": [RULE, {"direction": "in", "protocol": "icmp", "source_ips": ["0.0.0.0/0"]}, {"direction": "out", "protocol": "udp", "port": "30000-32767", "destination_ips": ["10.0.0.0/8"]}],
        "apply_to": [{"type": "label_selector", "label_selector": {"selector": "role=node"}}, {"type": "server", "server": {"id": srv["id"]}}],
    }
    return await api.call("POST", "/firewalls", body)


@recipe("GET /firewalls")
async def _list_firewalls(api: Any) -> Result:
    await server(api)
    await firewall(api)
    return await api.call("GET", "/firewalls")


@recipe("GET /firewalls/{id}")
async def _get_firewall(api: Any) -> Result:
    await server(api)
    return await api.call("GET", f"/firewalls/{(await firewall(api))['id']}")


@recipe("PUT /firewalls/{id}")
async def _update_firewall(api: Any) -> Result:
    return await api.call("PUT", f"/firewalls/{(await firewall(api))['id']}", {"name": "f2", "labels": {"k": "v"}})


@recipe("DELETE /firewalls/{id}")
async def _delete_firewall(api: Any) -> Result:
    created = await api.ok("POST", "/firewalls", {"name": "lonely", "rules": [RULE]})
    for action in created["actions"]:
        await api.wait(action["id"])
    fw = created["firewall"]
    return await api.call("DELETE", f"/firewalls/{fw['id']}")


@recipe("POST /firewalls/{id}/actions/set_rules")
async def _set_rules(api: Any) -> Result:
    await server(api)
    fw = await firewall(api)
    return await api.call("POST", f"/firewalls/{fw['id']}/actions/set_rules", {"rules": [RULE, {**RULE, "port": "6443", "description": None}]})


@recipe("POST /firewalls/{id}/actions/apply_to_resources")
async def _apply_fw(api: Any) -> Result:
    srv = await server(api, labels={"role": "other"})
    fw = await firewall(api)
    return await api.call("POST", f"/firewalls/{fw['id']}/actions/apply_to_resources", {"apply_to": [{"type": "server", "server": {"id": srv["id"]}}]})


@recipe("POST /firewalls/{id}/actions/remove_from_resources")
async def _remove_fw(api: Any) -> Result:
    await server(api)
    fw = await firewall(api)
    return await api.call(
        "POST", f"/firewalls/{fw['id']}/actions/remove_from_resources", {"remove_from": [{"type": "label_selector", "label_selector": {"selector": "role=node"}}]}
    )


# ---- volumes ------------------------------------------------------------------------------------


@recipe("POST /volumes")
async def _create_volume(api: Any) -> Result:
    srv = await server(api)
    return await api.call("POST", "/volumes", {"name": "v", "size": 10, "server": srv["id"], "automount": True, "format": "xfs", "labels": {"a": "b"}})


@recipe("GET /volumes")
async def _list_volumes(api: Any) -> Result:
    srv = await server(api)
    await volume(api, "attached", server=srv["id"], automount=True)
    await volume(api, "loose")
    return await api.call("GET", "/volumes")


@recipe("GET /volumes/{id}")
async def _get_volume(api: Any) -> Result:
    srv = await server(api)
    return await api.call("GET", f"/volumes/{(await volume(api, server=srv['id']))['id']}")


@recipe("PUT /volumes/{id}")
async def _update_volume(api: Any) -> Result:
    return await api.call("PUT", f"/volumes/{(await volume(api))['id']}", {"name": "v2", "labels": {"k": "v"}})


@recipe("DELETE /volumes/{id}")
async def _delete_volume(api: Any) -> Result:
    return await api.call("DELETE", f"/volumes/{(await volume(api))['id']}")


@recipe("POST /volumes/{id}/actions/attach")
async def _attach_volume(api: Any) -> Result:
    srv = await server(api)
    vol = await volume(api)
    return await api.call("POST", f"/volumes/{vol['id']}/actions/attach", {"server": srv["id"], "automount": False})


@recipe("POST /volumes/{id}/actions/detach")
async def _detach_volume(api: Any) -> Result:
    srv = await server(api)
    vol = await volume(api, server=srv["id"])
    return await api.call("POST", f"/volumes/{vol['id']}/actions/detach", {})


# ---- load balancers -----------------------------------------------------------------------------


@recipe("POST /load_balancers")
async def _create_lb(api: Any) -> Result:
    net = await network(api)
    await server(api, networks=[net["id"]])
    body = {
        "name": "api",
        "load_balancer_type": "lb11",
        "location": "nbg1",
        "network": net["id"],
        "algorithm": {"type": "round_robin"},
        "services": [SERVICE],
        "targets": [{"type": "label_selector", "label_selector": {"selector": "role=node"}, "use_private_ip": True}],
        "labels": {"a": "b"},
    }
    return await api.call("POST", "/load_balancers", body)


@recipe("GET /load_balancers")
async def _list_lbs(api: Any) -> Result:
    net = await network(api)
    srv = await server(api, networks=[net["id"]])
    lb = await load_balancer(api, net)
    await api.wait((await api.ok("POST", f"/load_balancers/{lb['id']}/actions/add_target", {"type": "server", "server": {"id": srv["id"]}, "use_private_ip": True}))["action"]["id"])
    await load_balancer(api, None, "public")
    return await api.call("GET", "/load_balancers")


@recipe("GET /load_balancers/{id}")
async def _get_lb(api: Any) -> Result:
    net = await network(api)
    await server(api, networks=[net["id"]])
    return await api.call("GET", f"/load_balancers/{(await load_balancer(api, net))['id']}")


@recipe("PUT /load_balancers/{id}")
async def _update_lb(api: Any) -> Result:
    return await api.call("PUT", f"/load_balancers/{(await load_balancer(api))['id']}", {"name": "lb2", "labels": {"k": "v"}})


@recipe("DELETE /load_balancers/{id}")
async def _delete_lb(api: Any) -> Result:
    return await api.call("DELETE", f"/load_balancers/{(await load_balancer(api))['id']}")


def _lb_action(name: str, body: Callable[[Any, dict[str, Any], dict[str, Any]], Awaitable[Any]], attached: bool = True) -> Recipe:
    async def run(api: Any) -> Result:
        net = await network(api)
        srv = await server(api, networks=[net["id"]])
        lb = await load_balancer(api, net if attached else None)
        return await api.call("POST", f"/load_balancers/{lb['id']}/actions/{name}", await body(api, lb, {"net": net, "srv": srv}))

    return run


async def _add_service_body(api: Any, lb: dict[str, Any], ctx: dict[str, Any]) -> Any:
    return {"protocol": "tcp", "listen_port": 80, "destination_port": 30080, "proxyprotocol": True}


async def _delete_service_body(api: Any, lb: dict[str, Any], ctx: dict[str, Any]) -> Any:
    return {"listen_port": 6443}


async def _add_target_body(api: Any, lb: dict[str, Any], ctx: dict[str, Any]) -> Any:
    return {"type": "server", "server": {"id": ctx["srv"]["id"]}, "use_private_ip": True}


async def _remove_target_body(api: Any, lb: dict[str, Any], ctx: dict[str, Any]) -> Any:
    return {"type": "label_selector", "label_selector": {"selector": "role=node"}}


async def _network_body(api: Any, lb: dict[str, Any], ctx: dict[str, Any]) -> Any:
    return {"network": ctx["net"]["id"]}


recipe("POST /load_balancers/{id}/actions/add_service")(_lb_action("add_service", _add_service_body))
recipe("POST /load_balancers/{id}/actions/delete_service")(_lb_action("delete_service", _delete_service_body))
recipe("POST /load_balancers/{id}/actions/add_target")(_lb_action("add_target", _add_target_body))
recipe("POST /load_balancers/{id}/actions/remove_target")(_lb_action("remove_target", _remove_target_body))
recipe("POST /load_balancers/{id}/actions/attach_to_network")(_lb_action("attach_to_network", _network_body, attached=False))
recipe("POST /load_balancers/{id}/actions/detach_from_network")(_lb_action("detach_from_network", _network_body))


# ---- actions ------------------------------------------------------------------------------------


async def _some_actions(api: Any) -> dict[str, tuple[int, list[int]]]:
    """A resource of each kind with actions: kind -> (resource id, its action ids)."""
    net = await network(api)
    created = await api.ok("POST", "/servers", {"name": "s", "server_type": "cx23", "image": "ubuntu-24.04", "location": "nbg1", "networks": [net["id"]], "labels": {"role": "node"}})
    await api.wait_all(created)
    srv = created["server"]
    subnet = await api.ok("POST", f"/networks/{net['id']}/actions/add_subnet", {"type": "cloud", "ip_range": "10.0.2.0/24", "network_zone": "eu-central"})
    await api.wait(subnet["action"]["id"])
    lb_created = await api.ok("POST", "/load_balancers", {"name": "lb", "load_balancer_type": "lb11", "location": "nbg1", "services": [SERVICE]})
    await api.wait_all(lb_created)
    vol_created = await api.ok("POST", "/volumes", {"name": "v", "size": 10, "server": srv["id"], "automount": True, "format": "ext4"})
    await api.wait_all(vol_created)
    fw_created = await api.ok("POST", "/firewalls", {"name": "f", "rules": [RULE], "apply_to": [{"type": "server", "server": {"id": srv["id"]}}]})
    for action in fw_created["actions"]:
        await api.wait(action["id"])
    return {
        "servers": (srv["id"], [created["action"]["id"], *[a["id"] for a in created["next_actions"]]]),
        "networks": (net["id"], [subnet["action"]["id"]]),
        "load_balancers": (lb_created["load_balancer"]["id"], [lb_created["action"]["id"]]),
        "volumes": (vol_created["volume"]["id"], [vol_created["action"]["id"], *[a["id"] for a in vol_created["next_actions"]]]),
        "firewalls": (fw_created["firewall"]["id"], [a["id"] for a in fw_created["actions"]]),
    }


@recipe("GET /actions")
async def _actions_by_ids(api: Any) -> Result:
    ids = [i for _, action_ids in (await _some_actions(api)).values() for i in action_ids]
    return await api.call("GET", "/actions", params=[("id", str(i)) for i in ids])


@recipe("GET /actions/{id}")
async def _action_by_id(api: Any) -> Result:
    ids = (await _some_actions(api))["servers"][1]
    return await api.call("GET", f"/actions/{ids[0]}")


def _kind_action_recipes(kind: str) -> None:
    async def kind_list(api: Any) -> Result:
        _, ids = (await _some_actions(api))[kind]
        return await api.call("GET", f"/{kind}/actions", params=[("id", str(i)) for i in ids])

    async def kind_one(api: Any) -> Result:
        _, ids = (await _some_actions(api))[kind]
        return await api.call("GET", f"/{kind}/actions/{ids[0]}")

    async def for_resource(api: Any) -> Result:
        rid, _ = (await _some_actions(api))[kind]
        return await api.call("GET", f"/{kind}/{rid}/actions")

    async def one_for_resource(api: Any) -> Result:
        rid, ids = (await _some_actions(api))[kind]
        return await api.call("GET", f"/{kind}/{rid}/actions/{ids[0]}")

    recipe(f"GET /{kind}/actions")(kind_list)
    recipe(f"GET /{kind}/actions/{{id}}")(kind_one)
    recipe(f"GET /{kind}/{{id}}/actions")(for_resource)
    recipe(f"GET /{kind}/{{id}}/actions/{{action_id}}")(one_for_resource)


for _kind in ("servers", "networks", "load_balancers", "volumes", "firewalls"):
    _kind_action_recipes(_kind)


# ---- the cases ----------------------------------------------------------------------------------


def _case(key: str) -> Any:
    if key in KNOWN_MISMATCHES:
        return pytest.param(key, marks=pytest.mark.xfail(strict=True, reason=KNOWN_MISMATCHES[key]), id=key)
    return pytest.param(key, id=key)


@pytest.mark.parametrize("key", [_case(k) for k in ENDPOINTS])
async def test_response_matches_spec(key: str, api: Any, conforms: Callable[[str, int, Any], None]) -> None:
    assert key in RECIPES, f"{key} has a vendored schema but no recipe here: add one"
    status, body = await RECIPES[key](api)
    conforms(key, status, body)


def test_every_recipe_names_a_vendored_endpoint() -> None:
    assert sorted(set(RECIPES) - set(ENDPOINTS)) == []


def test_every_served_endpoint_has_a_vendored_schema() -> None:
    """Rerun extract_schemas.py (and add a recipe) when the simulator gains an endpoint."""
    app = build_app(CloudStore(SimConfig()), token="t", bucket=TokenBucket(3600))
    served = set()
    for route in app.router.routes():
        path = route.resource.canonical if route.resource is not None else ""
        if route.method == "HEAD" or not path.startswith("/v1/") or path.startswith("/v1/x-sim"):
            continue
        served.add(f"{route.method} {path[3:]}")
    assert served, "no routes found in the simulator's app"
    assert sorted(served - set(ENDPOINTS)) == []
    assert sorted(set(ENDPOINTS) - served) == []


# ---- errors: the envelope, the code and the status the spec's table gives it ----------------------

# The spec's introduction documents `details` of these two codes by example (its schema says only
# "object"): `{"fields": [{"name": ..., "messages": [...]}]}`.
FIELD_DETAILS = {
    "type": "object",
    "required": ["fields"],
    "properties": {
        "fields": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["name", "messages"],
                "properties": {"name": {"type": "string", "minLength": 1}, "messages": {"type": "array", "minItems": 1, "items": {"type": "string"}}},
            },
        }
    },
}


def _field_details_ok(body: Any, field: str) -> None:
    from jsonschema import Draft202012Validator

    details = body["error"]["details"]
    problems = [f"{e.json_path}: {e.message}" for e in Draft202012Validator(FIELD_DETAILS).iter_errors(details)]
    assert not problems, problems
    assert field in [f["name"] for f in details["fields"]], details


@pytest.mark.parametrize("token", ["", "wrong-token"], ids=["missing", "wrong"])
async def test_unauthorized(api: Any, token: str, error_conforms: Callable[..., None]) -> None:
    api.token = token
    status, body = await api.call("GET", "/servers")
    error_conforms(status, body, "unauthorized")


@pytest.mark.parametrize(
    "path",
    ["/servers/424242", "/networks/424242", "/load_balancers/424242", "/volumes/424242", "/firewalls/424242", "/ssh_keys/424242",
     "/placement_groups/424242", "/actions/424242", "/server_types/424242", "/no_such_things"],
)
async def test_not_found(api: Any, path: str, error_conforms: Callable[..., None]) -> None:
    status, body = await api.call("GET", path)
    error_conforms(status, body, "not_found")


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/networks", {"name": "n", "ip_range": "10.0.0.0/33"}, "ip_range"),
        ("/volumes", {"name": "v", "size": 5, "location": "nbg1"}, "size"),
        ("/servers", {"name": "not_a_hostname!", "server_type": "cx23", "image": "ubuntu-24.04", "location": "nbg1"}, "name"),
        ("/ssh_keys", {"name": "k", "public_key": "not a key"}, "public_key"),
    ],
    ids=["cidr", "volume-size", "server-name", "ssh-key"],
)
async def test_invalid_input(api: Any, path: str, body: Any, field: str, error_conforms: Callable[..., None]) -> None:
    status, data = await api.call("POST", path, body)
    error_conforms(status, data, "invalid_input")
    _field_details_ok(data, field)


async def test_invalid_label_selector(api: Any, error_conforms: Callable[..., None]) -> None:
    status, data = await api.call("GET", "/servers", params={"label_selector": "a in (b"})
    error_conforms(status, data, "invalid_input")
    _field_details_ok(data, "label_selector")


async def test_json_error(api: Any, error_conforms: Callable[..., None]) -> None:
    status, data = await api.call("POST", "/networks", raw=b"{not json")
    error_conforms(status, data, "json_error")


async def test_uniqueness_error_ssh_key(api: Any, error_conforms: Callable[..., None]) -> None:
    await ssh_key(api, 1)
    status, data = await api.call("POST", "/ssh_keys", {"name": "other", "public_key": public_key(1)})
    error_conforms(status, data, "uniqueness_error")
    _field_details_ok(data, "public_key")


async def test_uniqueness_error_name(api: Any, error_conforms: Callable[..., None]) -> None:
    await network(api, "same")
    status, data = await api.call("POST", "/networks", {"name": "same", "ip_range": "10.1.0.0/16"})
    error_conforms(status, data, "uniqueness_error")
    _field_details_ok(data, "name")


async def test_locked(make_api: Callable[..., Any], error_conforms: Callable[..., None]) -> None:
    async with make_api(time_scale=1.0) as api:  # server creation takes 10 s: its action is still running
        created = await api.ok("POST", "/servers", {"name": "s", "server_type": "cx23", "image": "ubuntu-24.04", "location": "nbg1"})
        assert created["action"]["status"] == "running"
        status, data = await api.call("POST", f"/servers/{created['server']['id']}/actions/poweroff")
        error_conforms(status, data, "locked")


async def test_rate_limit_exceeded(api: Any, error_conforms: Callable[..., None]) -> None:
    api.sim.bucket.drain()
    status, data = await api.call("GET", "/servers")
    error_conforms(status, data, "rate_limit_exceeded")
    # The spec's introduction names the headers every response carries.
    assert int(api.last_headers["RateLimit-Remaining"]) == 0
    assert int(api.last_headers["RateLimit-Limit"]) == 3600
    assert int(api.last_headers["RateLimit-Reset"]) > 0


async def test_resource_limit_exceeded(make_api: Callable[..., Any], error_conforms: Callable[..., None]) -> None:
    async with make_api(server_limit=1) as api:
        await server(api, "one")
        status, data = await api.call("POST", "/servers", {"name": "two", "server_type": "cx23", "image": "ubuntu-24.04", "location": "nbg1"})
        error_conforms(status, data, "resource_limit_exceeded")


# ---- the checks themselves can fail ---------------------------------------------------------------


async def test_list_pagination_meta(api: Any, conforms: Callable[[str, int, Any], None]) -> None:
    for n in range(5):
        await ssh_key(api, n)
    status, body = await api.call("GET", "/ssh_keys", params={"per_page": "2", "page": "2"})
    conforms("GET /ssh_keys", status, body)
    assert [k["name"] for k in body["ssh_keys"]] == ["key2", "key3"]
    assert body["meta"]["pagination"] == {"page": 2, "per_page": 2, "previous_page": 1, "next_page": 3, "last_page": 3, "total_entries": 5}


async def test_http_health_check_carries_its_http_object(api: Any, conforms: Callable[[str, int, Any], None]) -> None:
    """A health check with protocol http comes back with its `http` settings (spec defaults filled in);
    a TCP check has none, and a protocol the spec does not know is refused."""
    check = {"protocol": "http", "port": 6443, "interval": 15, "timeout": 10, "retries": 3, "http": {"path": "/healthz"}}
    body = {"name": "lb", "load_balancer_type": "lb11", "location": "fsn1",
            "services": [{**SERVICE, "health_check": check}, {**SERVICE, "listen_port": 80}]}
    status, created = await api.call("POST", "/load_balancers", body)
    assert status == 201
    status, got = await api.call("GET", f"/load_balancers/{created['load_balancer']['id']}")
    conforms("GET /load_balancers/{id}", status, got)
    http_check, tcp_check = (s["health_check"] for s in got["load_balancer"]["services"])
    assert http_check["http"] == {"domain": None, "path": "/healthz", "response": "", "status_codes": ["2??", "3??"], "tls": False}
    assert "http" not in tcp_check
    bad = {**body, "name": "lb2", "services": [{**SERVICE, "health_check": {**HEALTH, "protocol": "udp"}}]}
    status, error = await api.call("POST", "/load_balancers", bad)
    assert status == 422 and error["error"]["code"] == "invalid_input"


async def test_schema_check_rejects_departures(api: Any, spec_index: dict[str, Any], schema_mismatches: Callable[[str, Any], list[str]]) -> None:
    """A real body passes, and each kind of departure from the spec is caught and located."""
    import copy

    net = await network(api)
    await server(api, networks=[net["id"]])
    lb = await load_balancer(api, net)
    lb_actions = (await api.ok("GET", f"/load_balancers/{lb['id']}/actions"))["actions"]
    action_body = await api.ok("GET", f"/actions/{lb_actions[0]['id']}")
    lb_body = await api.ok("GET", f"/load_balancers/{lb['id']}")
    action_file = spec_index["endpoints"]["GET /actions/{id}"]["schema"]
    lb_file = spec_index["endpoints"]["GET /load_balancers/{id}"]["schema"]
    assert schema_mismatches(action_file, action_body) == []
    assert schema_mismatches(lb_file, lb_body) == []

    def departed(file: str, body: Any, change: Callable[[Any], None]) -> list[str]:
        changed = copy.deepcopy(body)
        change(changed)
        return schema_mismatches(file, changed)

    def set_(path: list[Any], value: Any) -> Callable[[Any], None]:
        def change(body: Any) -> None:
            node = body
            for part in path[:-1]:
                node = node[part]
            node[path[-1]] = value

        return change

    # format date-time (checked explicitly, not by an optional package)
    assert departed(action_file, action_body, set_(["action", "started"], "yesterday"))[0].startswith("$.action.started: expected format")
    assert departed(action_file, action_body, set_(["action", "started"], "2024-13-01T00:00:00Z"))[0].startswith("$.action.started:")
    # enum, type, nullable only where the spec says so, required
    assert departed(action_file, action_body, set_(["action", "status"], "done"))[0].startswith("$.action.status: expected enum")
    assert departed(action_file, action_body, set_(["action", "progress"], "100"))[0].startswith("$.action.progress: expected type")
    assert departed(action_file, action_body, set_(["action", "command"], None))[0].startswith("$.action.command: expected type")
    assert departed(action_file, action_body, set_(["action", "finished"], None)) == []  # nullable in the spec
    assert departed(action_file, action_body, lambda b: b["action"].pop("resources")) == ["$.action: 'resources' is a required property"]
    # additionalProperties: false where the spec says so (a health check), free elsewhere (labels are strings)
    extra = departed(lb_file, lb_body, set_(["load_balancer", "services", 0, "health_check", "surprise"], 1))
    assert extra and "surprise" in extra[0] and extra[0].startswith("$.load_balancer.services[0].health_check:")
    assert departed(lb_file, lb_body, set_(["load_balancer", "labels", "k"], 1))[0].startswith("$.load_balancer.labels.k: expected type")
    # oneOf over target types: a target of an unknown type fits no branch
    assert departed(lb_file, lb_body, set_(["load_balancer", "targets", 0, "type"], "pod")) != []
    # the error envelope
    assert schema_mismatches("error.json", {"error": {"code": "x", "message": "y", "details": None}}) == []
    assert schema_mismatches("error.json", {"error": {"code": "x", "details": None}}) == ["$.error: 'message' is a required property"]
    assert schema_mismatches("error.json", {"error": {"code": "x", "message": "y", "details": []}}) != []


async def test_load_balancer_delete_answers_an_action(api: Any, spec_index: dict[str, Any], schema_mismatches: Callable[[str, Any], list[str]]) -> None:
    """The one deliberate departure (see KNOWN_MISMATCHES): the body hcloud-python 2.27.0 reads is a
    well-formed action, valid against the spec's action schema."""
    lb = await load_balancer(api)
    status, body = await api.call("DELETE", f"/load_balancers/{lb['id']}")
    assert status == 200
    assert schema_mismatches(spec_index["endpoints"]["GET /actions/{id}"]["schema"], body) == []
    assert body["action"]["command"] == "delete_load_balancer"
    assert {"id": lb["id"], "type": "load_balancer"} in body["action"]["resources"]
