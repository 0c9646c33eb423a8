"""k3s bootstrap on the simulator's machines with the installer's real semantics: the first server,
joining servers and agents, Ready nodes, a wrong token refused, add-ons, kubeconfig, drain/delete."""

from __future__ import annotations

import asyncio
import json
import secrets
import shutil
import subprocess

import pytest
import yaml

from khz_tui.engine.cluster_files import ClusterFiles
from khz_tui.engine.nodes import cluster_token, k3s_install, k3s_unit, node_readiness, node_removal
from khz_tui.engine.nodes.addon_install import install_addons
from khz_tui.engine.nodes.k3s_config import CONFIG_PATH, NodeFacts
from khz_tui.engine.nodes.kubeconfig import fetch_kubeconfig, rewrite_kubeconfig, write_kubeconfig
from khz_tui.engine.nodes.session import CommandFailed, NodeSession
from khz_tui.plan.model import ClusterPlan


async def start(boot, sim, api, state, plan, name, network, client_key, bus):
    server, key, endpoint = await boot(sim, api, state, plan, name, network)
    session = await NodeSession.connect(
        node=name, endpoint=endpoint, host_key=key, client_key=client_key[0], bus=bus, deadline=30,
        retry_interval=0.05,
    )
    role = "control-plane" if "-cp-" in name else "worker"
    facts = NodeFacts(name, role, "control-plane" if role == "control-plane" else "default", server["id"],
                      server["public_net"]["ipv4"]["ip"], server["private_net"][0]["ip"], "fsn1", "cpx22")
    return session, facts


async def test_ha_cluster_bootstraps_on_simulated_nodes(sim_world, boot, tmp_path, client_key, bus, events):
    sim, api = await sim_world()
    plan = ClusterPlan(name="demo", worker_pools=[{"name": "default", "count": 2}])
    state = ClusterFiles("demo", base=tmp_path / "state")
    network = await api.network()
    names = ["demo-cp-1", "demo-cp-2", "demo-cp-3", "demo-default-1", "demo-default-2"]
    started = await asyncio.gather(*(start(boot, sim, api, state, plan, n, network, client_key, bus) for n in names))
    sessions = {f.name: (s, f) for s, f in started}
    token = secrets.token_hex(32)
    cp1, cp1_facts = sessions["demo-cp-1"]
    try:
        sans = [f.private_ip for _, f in started if f.role == "control-plane"]
        await k3s_install.install_first_server(cp1, plan, cp1_facts, token=token, tls_sans=sans, bus=bus)
        assert await k3s_unit.is_running(cp1, "control-plane")
        # The config on the node carries the token, owner-only; no event ever showed it.
        assert sim.inspect.file_mode(cp1_facts.server_id, CONFIG_PATH) & 0o777 == 0o600
        read_back = await cluster_token.read_cluster_token(cp1)
        assert read_back and token in read_back
        join_url = f"https://{cp1_facts.private_ip}:6443"

        # A joiner with the wrong token is refused by the cluster.
        cp2, cp2_facts = sessions["demo-cp-2"]
        with pytest.raises(CommandFailed, match="demo-cp-2"):
            await k3s_install.join_server(cp2, plan, cp2_facts, token="K10bad::server:" + "0" * 32, join_url=join_url,
                                          tls_sans=sans, bus=bus, retry_delay=0.01)
        await cp2.run("rm -f " + CONFIG_PATH, check=False)

        for name in ("demo-cp-2", "demo-cp-3"):
            session, facts = sessions[name]
            await k3s_install.join_server(session, plan, facts, token=read_back, join_url=join_url, tls_sans=sans,
                                          bus=bus, retry_delay=0.01)
        await asyncio.gather(*(
            k3s_install.join_agent(sessions[n][0], plan, sessions[n][1], token=read_back, join_url=join_url, bus=bus)
            for n in ("demo-default-1", "demo-default-2")
        ))
        installed = await install_addons(cp1, plan, hcloud_token=sim.token, network="demo", bus=bus)
        assert installed[0] == "hcloud-secret" and "hcloud-cloud-controller-manager" in installed
        for name in names:
            await node_readiness.wait_ready(cp1, name, timeout=30, bus=bus, interval=0.05)
        readiness = await node_readiness.node_readiness(cp1)
        assert all(readiness[n] for n in names)
        # What the simulated k3s saw, not only what the engine says.
        (cluster,) = sim.inspect.k3s_clusters()
        assert sorted(cluster.nodes) == sorted(names)
        assert [cluster.nodes[n].role for n in names] == ["server"] * 3 + ["agent"] * 2
        assert cluster.secret_value("kube-system", "hcloud", "token") == sim.token
        assert "hcloud-ccm" in cluster.addons and "hcloud-csi" in cluster.addons

        # Rerun: every step sees k3s running and leaves it alone.
        await k3s_install.join_agent(sessions["demo-default-1"][0], plan, sessions["demo-default-1"][1],
                                     token=read_back, join_url=join_url, bus=bus)

        raw = await fetch_kubeconfig(cp1)
        kubeconfig = rewrite_kubeconfig(raw, "demo", f"https://{cp1_facts.public_ipv4}:6443")
        write_kubeconfig(kubeconfig, state.kubeconfig_path)
        if shutil.which("kubectl"):
            out = subprocess.run(["kubectl", "config", "get-contexts", "-o", "name", "--kubeconfig",
                                  str(state.kubeconfig_path)], capture_output=True, text=True, timeout=60)
            assert out.returncode == 0 and out.stdout.split() == ["demo"], out.stderr

        await node_removal.remove_node(cp1, "demo-default-2", bus)
        assert "demo-default-2" not in await node_readiness.node_readiness(cp1)
        await node_removal.remove_node(cp1, "demo-default-2", bus)  # already gone: no error
    finally:
        for session, _ in started:
            await session.close()
    dumped = "\n".join(e.model_dump_json() for e in events)
    assert token not in dumped and sim.token not in dumped
    user_key = yaml.safe_load(raw)["users"][0]["user"].get("client-key-data")
    if user_key:
        assert user_key not in dumped
    assert json.loads(events[-1].model_dump_json())["kind"]


async def test_servers_joining_together_retry_past_the_learner_limit(sim_world, boot, tmp_path, client_key, bus, events):
    sim, api = await sim_world()
    plan = ClusterPlan(name="demo", worker_pools=[])
    state = ClusterFiles("demo", base=tmp_path / "state")
    network = await api.network()
    names = ["demo-cp-1", "demo-cp-2", "demo-cp-3"]
    started = await asyncio.gather(*(start(boot, sim, api, state, plan, n, network, client_key, bus) for n in names))
    try:
        (cp1, f1), (cp2, f2), (cp3, f3) = started
        token = secrets.token_hex(32)
        await k3s_install.install_first_server(cp1, plan, f1, token=token, tls_sans=[f1.private_ip], bus=bus)
        join_url = f"https://{f1.private_ip}:6443"
        # Joined at the same moment, one of them meets etcd's one-learner rule and retries.
        await asyncio.gather(*(
            k3s_install.join_server(s, plan, f, token=token, join_url=join_url, tls_sans=[], bus=bus, retry_delay=0.05)
            for s, f in ((cp2, f2), (cp3, f3))
        ))
        for name in names:
            await node_readiness.wait_ready(cp1, name, timeout=30, bus=bus, interval=0.05)
    finally:
        for session, _ in started:
            await session.close()
    assert any("etcd is still promoting another server" in getattr(e, "text", "") for e in events)
    (cluster,) = sim.inspect.k3s_clusters()
    assert sorted(cluster.nodes) == names
