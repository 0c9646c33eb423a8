"""Two clusters on one simulated project, both on the default 10.0.0.0/16, built side by side by the real
engine: neither sees the other. A private address (a server's, a load balancer's, a join URL) resolves
only inside the caller's own network. The spec (tag Networks): "They allow Servers to talk to each
other over a dedicated network interface using private IP addresses not available publicly"; and for a
load balancer's `use_private_ip`: "requires the Server and Load Balancer to be in the same network".
The two clusters' load balancers even have the same private IP.

Probed as any client would: the Kubernetes API over TLS with each written kubeconfig, the API over
HTTP, and `curl` on the nodes over SSH."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp
import asyncssh
from kube_helpers import engine, hcloud, on_node, ready_nodes
from support.keys import write_private_key
from support.plans import plan_data

from khz_tui.plan.model import ClusterPlan


async def test_two_default_range_clusters_coexist_and_are_torn_down_one_after_the_other(
        sim, make_plan, ssh_keys, tmp_path: Path) -> None:
    # Each cluster with a key pair of its own: Hetzner refuses a second SSH key with the same
    # fingerprint, and that is not what this test is about.
    (tmp_path / "beta-key").mkdir()
    beta_private, beta_key = write_private_key(tmp_path / "beta-key")
    beta_public = tmp_path / "beta-key" / "id_ed25519.pub"
    beta_public.write_bytes(beta_key.export_public_key("openssh"))
    plans = {"alpha": make_plan("alpha", cp=1, workers=1),
             "beta": ClusterPlan.model_validate(plan_data("beta", (beta_private, beta_public), cp=1, workers=1, lb=True))}
    keys = {"alpha": ssh_keys[0], "beta": beta_private}
    assert {p.network.ip_range for p in plans.values()} == {"10.0.0.0/16"}
    built = await asyncio.gather(*(engine("apply", p, sim, tmp_path / f"{n}.yaml") for n, p in plans.items()))
    for b in built:
        assert b.finished.ok, (b.finished.failed_step, b.finished.message)
        # Every apply ends with verify's checks: both clusters verify, side by side.
        assert [e.ok for e in b.events if e.kind == "VerifyFinished"] == [True]
    alpha, beta = (b.kubeconfig for b in built)
    assert await ready_nodes(alpha) == {"alpha-cp-1", "alpha-default-1"}
    assert await ready_nodes(beta) == {"beta-cp-1", "beta-default-1"}

    lbs = {lb["name"]: lb for lb in (await hcloud(sim, "/load_balancers"))["load_balancers"]}
    servers = {s["name"]: s for s in (await hcloud(sim, "/servers"))["servers"]}
    alpha_lb_ip = next(lb for n, lb in lbs.items() if n.startswith("alpha"))["private_net"][0]["ip"]
    beta_lb_ip = next(lb for n, lb in lbs.items() if n.startswith("beta"))["private_net"][0]["ip"]
    assert alpha_lb_ip == beta_lb_ip  # the same address, in two networks

    # The same URL gives each node its own cluster's CA: the address resolves in the asker's network.
    probe = f"curl -sk --connect-timeout 5 https://{alpha_lb_ip}:6443/cacerts"
    from_alpha = await on_node(sim, keys["alpha"], servers["alpha-default-1"]["id"], probe)
    from_beta = await on_node(sim, keys["beta"], servers["beta-default-1"]["id"], probe)
    assert from_alpha.exit_status == 0 and from_beta.exit_status == 0, (from_alpha.stderr, from_beta.stderr)
    assert "BEGIN CERTIFICATE" in from_alpha.stdout and from_alpha.stdout != from_beta.stdout

    # The control planes' private addresses coincide too; each node reaches its own.
    cp_ip = servers["alpha-cp-1"]["private_net"][0]["ip"]
    assert cp_ip == servers["beta-cp-1"]["private_net"][0]["ip"]
    direct = f"curl -sk --connect-timeout 5 https://{cp_ip}:6443/cacerts"
    assert (await on_node(sim, keys["alpha"], servers["alpha-default-1"]["id"], direct)).stdout == from_alpha.stdout
    assert (await on_node(sim, keys["beta"], servers["beta-default-1"]["id"], direct)).stdout == from_beta.stdout

    gone = await engine("destroy", plans["alpha"], sim, alpha)
    assert gone.finished.ok, gone.finished.message
    assert await ready_nodes(beta) == {"beta-cp-1", "beta-default-1"}
    assert not [s for s in (await hcloud(sim, "/servers"))["servers"] if s["name"].startswith("alpha")]
    gone = await engine("destroy", plans["beta"], sim, beta)
    assert gone.finished.ok, gone.finished.message
    assert (await hcloud(sim, "/servers"))["servers"] == []
    assert (await hcloud(sim, "/load_balancers"))["load_balancers"] == []


async def hcloud_post(sim: Any, path: str, body: dict[str, Any]) -> dict[str, Any]:
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {sim.token}"}) as session:
        async with session.post(sim.endpoint + path, json=body) as resp:
            assert resp.status in (200, 201), await resp.text()
            return await resp.json()


async def stranger(sim: Any, key: Path, location: str) -> int:
    """A server in a network of its own on the same default range, reachable over SSH."""
    net = (await hcloud_post(sim, "/networks", {"name": "elsewhere", "ip_range": "10.0.0.0/16", "subnets": [
        {"type": "cloud", "network_zone": "eu-central", "ip_range": "10.0.0.0/24"}]}))["network"]
    keys = (await hcloud(sim, "/ssh_keys"))["ssh_keys"]
    server = (await hcloud_post(sim, "/servers", {
        "name": "stranger", "server_type": "cpx22", "image": "ubuntu-24.04", "location": location,
        "ssh_keys": [keys[0]["id"]], "networks": [net["id"]]}))["server"]
    for _ in range(200):  # bounded: boot takes a few scaled seconds
        try:
            done = await on_node(sim, key, server["id"], "true")
            if done.exit_status == 0:
                return int(server["id"])
        except (OSError, asyncssh.Error, IndexError):
            pass
        await asyncio.sleep(0.05)
    raise AssertionError("the stranger's sshd never answered")


async def test_a_node_of_another_network_cannot_join_through_the_load_balancers_private_ip(
        sim, make_plan, ssh_keys, tmp_path: Path) -> None:
    """The k3s join a node in another network (same default range) makes to the first cluster's API
    load balancer private IP times out instead of reaching that cluster (which would answer 401)."""
    first = await engine("apply", make_plan("one", cp=1), sim, tmp_path / "one.yaml")
    assert first.finished.ok, first.finished.message
    lb = next(lb for lb in (await hcloud(sim, "/load_balancers"))["load_balancers"] if lb["name"].startswith("one"))
    lb_ip = lb["private_net"][0]["ip"]
    servers = {s["name"]: s for s in (await hcloud(sim, "/servers"))["servers"]}
    other = await stranger(sim, ssh_keys[0], servers["one-cp-1"]["datacenter"]["location"]["name"])
    private = (await hcloud(sim, f"/servers/{other}"))["server"]["private_net"][0]["ip"]
    assert private != lb_ip
    script = (f"mkdir -p /etc/rancher/k3s && printf 'server: https://{lb_ip}:6443\\ntoken: K10x::server:wrong\\n' "
              "> /etc/rancher/k3s/config.yaml && curl -sfL https://get.k3s.io | sh -s - agent")
    joined = await on_node(sim, ssh_keys[0], other, script)
    assert joined.exit_status != 0
    assert "i/o timeout" in joined.stderr and "401" not in joined.stderr, joined.stderr
