"""The simulated kube-apiserver over raw TLS/HTTP: who may talk to it, when it listens, and that a
saved simulator comes back on the same addresses."""

from __future__ import annotations

import asyncio
import base64
import json
import ssl
from pathlib import Path

import aiohttp
import pytest
import yaml
from kube_helpers import _tls, api_get, engine, hcloud, on_node, ready_nodes

from khz_tui.sim.simulator import Simulator


async def test_without_a_client_certificate_the_api_says_401(sim, make_plan, tmp_path: Path) -> None:
    """k3s runs kube-apiserver with --anonymous-auth=false: a verified TLS session without a client
    certificate is refused with a Status, as for any unauthenticated request."""
    built = await engine("apply", make_plan("anon", cp=1, lb=False), sim, tmp_path / "anon.yaml")
    assert built.finished.ok, built.finished.message
    server, with_cert = _tls(built.kubeconfig)
    config = yaml.safe_load(built.kubeconfig.read_text())
    # Only the CA: the server is still verified (its address is in the certificate), no client cert.
    anonymous = ssl.create_default_context(
        cadata=base64.b64decode(config["clusters"][0]["cluster"]["certificate-authority-data"]).decode())
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{server}/api/v1/nodes", ssl=anonymous) as resp:
            assert resp.status == 401
            assert (await resp.json())["reason"] == "Unauthorized"
        async with session.get(f"{server}/version", ssl=with_cert) as resp:
            assert resp.status == 200 and (await resp.json())["gitVersion"].endswith("+k3s1")
        async with session.get(f"{server}/api/v1/namespaces/kube-system/pods", ssl=with_cert) as resp:
            pods = [p["metadata"]["name"] for p in (await resp.json())["items"]]
            assert any(name.startswith("coredns-") for name in pods)
        async with session.get(f"{server}/api/v1/namespaces/nope/pods", ssl=with_cert) as resp:
            assert resp.status == 404 and (await resp.json())["message"] == 'namespaces "nope" not found'


async def test_the_api_listens_only_while_the_k3s_unit_runs(sim, make_plan, ssh_keys, tmp_path: Path) -> None:
    built = await engine("apply", make_plan("unit", cp=1, lb=False), sim, tmp_path / "unit.yaml")
    assert built.finished.ok, built.finished.message
    server, ctx = _tls(built.kubeconfig)
    cp = (await hcloud(sim, "/servers"))["servers"][0]
    stopped = await on_node(sim, ssh_keys[0], cp["id"], "systemctl stop k3s")
    assert stopped.exit_status == 0, stopped.stderr
    refused = False
    for _ in range(100):  # bounded: the listener closes once the stop is processed
        try:
            async with aiohttp.ClientSession() as session:
                async with session.get(f"{server}/version", ssl=ctx):
                    pass
        except aiohttp.ClientConnectorError:
            refused = True
            break
        await asyncio.sleep(0.02)
    assert refused, "the API kept answering after `systemctl stop k3s`"
    assert (await on_node(sim, ssh_keys[0], cp["id"], "systemctl start k3s")).exit_status == 0
    assert "unit-cp-1" in {n["metadata"]["name"] for n in (await api_get(built.kubeconfig, "/api/v1/nodes"))["items"]}


async def test_a_saved_simulator_keeps_its_addresses_and_serves_the_api_again(make_plan, tmp_path: Path) -> None:
    state = tmp_path / "sim.json"
    async with Simulator(time_scale=0.02, seed=1, state_file=state) as first:
        built = await engine("apply", make_plan("kept", cp=1), first, tmp_path / "kept.yaml")
        assert built.finished.ok, built.finished.message
        before = {s["name"]: s["public_net"]["ipv4"]["ip"] for s in (await hcloud(first, "/servers"))["servers"]}
    async with Simulator(time_scale=0.02, seed=1, state_file=state) as again:
        after = {s["name"]: s["public_net"]["ipv4"]["ip"] for s in (await hcloud(again, "/servers"))["servers"]}
        assert after == before
        seen: set[str] = set()
        for _ in range(200):  # bounded: k3s restarts with the restored machines
            try:
                seen = await ready_nodes(built.kubeconfig)
            except (aiohttp.ClientError, AssertionError):
                seen = set()
            if seen == {"kept-cp-1"}:
                break
            await asyncio.sleep(0.05)
        assert seen == {"kept-cp-1"}


async def test_two_live_simulators_never_share_a_public_address(tmp_path: Path) -> None:
    async with Simulator(time_scale=0.02, seed=1) as one, Simulator(time_scale=0.02, seed=1) as two:
        blocks = {one.export()["cloud"]["public_block"], two.export()["cloud"]["public_block"]}
        assert len(blocks) == 2
        assert all(b.startswith("127.") and not b.startswith("127.0.") for b in blocks)
        # A saved state naming a block a live simulator holds is refused, not silently shared.
        saved = tmp_path / "state.json"
        saved.write_text(json.dumps({"version": 1, "cloud": {"public_block": one.export()["cloud"]["public_block"]}}))
        with pytest.raises(RuntimeError, match="taken"):
            async with Simulator(time_scale=0.02, seed=1, state_file=saved):
                pass
