"""Simulated k3s through the official installer line over SSH: a cluster forms, and each way of
getting it wrong really fails."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess

import pytest

TOKEN = "s3cret-cluster-token"
VERSION = "v1.33.6+k3s1"


def config_yaml(**settings: object) -> str:
    import yaml
    return yaml.safe_dump(settings)


async def install(world, sid, *, env: str, flags: str = "", config: str | None = None):
    """Upload config.yaml (when given) and run the installer line; returns the completed process."""
    async with await world.connect(sid) as conn:
        if config is not None:
            await conn.run("mkdir -p /etc/rancher/k3s && cat > /etc/rancher/k3s/config.yaml",
                           input=config, check=True)
        return await conn.run(f"curl -sfL https://get.k3s.io | {env} sh -s - {flags}")


async def kubectl(world, sid, args: str, input: str | None = None):
    async with await world.connect(sid) as conn:
        return await conn.run(f"k3s kubectl {args}", input=input)


async def nodes_json(world, sid) -> dict[str, dict]:
    result = await kubectl(world, sid, "get nodes -o json")
    assert result.exit_status == 0, result.stderr
    return {item["metadata"]["name"]: item for item in json.loads(result.stdout)["items"]}


def ready(node: dict) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True" for c in node["status"]["conditions"])


async def wait_nodes(world, sid, count: int, want_ready: bool = True, rounds: int = 100) -> dict[str, dict]:
    nodes: dict[str, dict] = {}
    for _ in range(rounds):
        nodes = await nodes_json(world, sid)
        if len(nodes) == count and all(ready(n) == want_ready for n in nodes.values()):
            return nodes
        await asyncio.sleep(0.05)
    return nodes


def server_config(spec, **extra) -> str:
    private_ip = next(iter(spec.private_ips.values()))
    return config_yaml(**{"node-ip": private_ip, "advertise-address": private_ip,
                          "node-external-ip": spec.public_ipv4, "flannel-iface": "enp7s0",
                          "kubelet-arg": ["cloud-provider=external"], "disable-cloud-controller": True,
                          "token": TOKEN, **extra})


async def first_server(world, name="cp-1"):
    spec = await world.create(name)
    result = await install(world, spec.server_id, env=f"INSTALL_K3S_VERSION={VERSION} INSTALL_K3S_EXEC=server",
                           config=server_config(spec, **{"cluster-init": True}))
    assert result.exit_status == 0, result.stderr
    return spec


async def test_three_servers_and_two_agents_form_a_ready_cluster(world):
    cp1 = await first_server(world)
    url = f"https://{cp1.private_ips[1]}:6443"
    for name in ("cp-2", "cp-3"):
        spec = await world.create(name)
        result = await install(world, spec.server_id, env=f"INSTALL_K3S_VERSION={VERSION} INSTALL_K3S_EXEC=server",
                               config=server_config(spec, server=url))
        assert result.exit_status == 0, result.stderr
    async with await world.connect(cp1.server_id) as conn:
        full_token = (await conn.run("cat /var/lib/rancher/k3s/server/node-token", check=True)).stdout.strip()
    assert full_token.startswith("K10") and full_token.endswith(f"::server:{TOKEN}")
    agents = [await world.create(f"worker-{i}") for i in (1, 2)]
    results = await asyncio.gather(*[
        install(world, a.server_id,
                env=f"INSTALL_K3S_VERSION={VERSION} K3S_URL={url} K3S_TOKEN={full_token}",
                flags=f"--node-ip {a.private_ips[1]} --flannel-iface enp7s0 --node-label pool=workers "
                      "--node-taint dedicated=workers:NoSchedule")
        for a in agents])
    assert [r.exit_status for r in results] == [0, 0], [r.stderr for r in results]

    nodes = await wait_nodes(world, cp1.server_id, 5)
    assert sorted(nodes) == ["cp-1", "cp-2", "cp-3", "worker-1", "worker-2"]
    assert all(ready(n) for n in nodes.values())
    worker = nodes["worker-1"]
    assert worker["metadata"]["labels"]["pool"] == "workers"
    assert {"key": "dedicated", "value": "workers", "effect": "NoSchedule"} in worker["spec"]["taints"]
    assert "node-role.kubernetes.io/control-plane" in nodes["cp-2"]["metadata"]["labels"]
    addresses = {a["type"]: a["address"] for a in nodes["cp-1"]["status"]["addresses"]}
    assert addresses["InternalIP"] == cp1.private_ips[1]
    assert addresses["ExternalIP"] == cp1.public_ipv4

    [cluster] = world.inspect.k3s_clusters()
    assert cluster.token == full_token and len(cluster.nodes) == 5
    async with await world.connect(cp1.server_id) as conn:
        assert (await conn.run("systemctl is-active k3s")).stdout == "active\n"
        assert (await conn.run("k3s --version")).stdout.startswith(f"k3s version {VERSION}")


async def test_cloud_controller_sets_provider_id_and_addons_are_recorded(world):
    cp1 = await first_server(world)
    await wait_nodes(world, cp1.server_id, 1)
    node = (await nodes_json(world, cp1.server_id))["cp-1"]
    assert "providerID" not in node["spec"]
    assert any(t["key"] == "node.cloudprovider.kubernetes.io/uninitialized" for t in node["spec"]["taints"])
    secret = await kubectl(world, cp1.server_id,
                           "create secret generic hcloud -n kube-system --from-literal=token=abc "
                           "--from-literal=network=net")
    assert secret.exit_status == 0, secret.stderr
    ccm = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: hcloud-cloud-controller-manager, namespace: kube-system}
spec: {replicas: 1}
---
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata: {name: hcloud-volumes}
provisioner: csi.hetzner.cloud
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: hcloud-csi-node, namespace: kube-system}
"""
    applied = await kubectl(world, cp1.server_id, "apply -f -", input=ccm)
    assert applied.exit_status == 0, applied.stderr
    assert "deployment.apps/hcloud-cloud-controller-manager created" in applied.stdout
    node = (await nodes_json(world, cp1.server_id))["cp-1"]
    assert node["spec"]["providerID"] == f"hcloud://{cp1.server_id}"
    [cluster] = world.inspect.k3s_clusters()
    assert {"hcloud-ccm", "hcloud-csi"} <= cluster.addons
    assert cluster.secret_value("kube-system", "hcloud", "token") == "abc"
    again = await kubectl(world, cp1.server_id, "apply -f -", input=ccm)
    assert "unchanged" in again.stdout
    bad = await kubectl(world, cp1.server_id, "apply -f -", input="kind: [unclosed\n")
    assert bad.exit_status == 1 and "error" in bad.stderr
    listed = await kubectl(world, cp1.server_id, "get secret hcloud -n kube-system -o json")
    assert json.loads(listed.stdout)["data"]["network"] == "bmV0"


async def test_wrong_token_fails(world):
    cp1 = await first_server(world)
    spec = await world.create("cp-2")
    result = await install(world, spec.server_id, env="INSTALL_K3S_EXEC=server",
                           config=server_config(spec, server=f"https://{cp1.private_ips[1]}:6443",
                                                token="not-the-token"))
    assert result.exit_status == 1
    assert "401 Unauthorized" in result.stderr
    assert "not-the-token" not in result.stderr + result.stdout
    assert "cp-2" not in world.inspect.k3s_clusters()[0].nodes


async def test_unreachable_server_url_blocks_then_fails(world):
    await first_server(world)
    spec = await world.create("worker-1")
    started = asyncio.get_running_loop().time()
    result = await install(world, spec.server_id,
                           env=f"K3S_URL=https://10.9.9.9:6443 K3S_TOKEN={TOKEN}")
    elapsed = asyncio.get_running_loop().time() - started
    assert result.exit_status == 1
    assert "i/o timeout" in result.stderr
    assert elapsed >= 120 * 0.01 * 0.9, "an unreachable server must hang until the timeout"


async def test_private_ip_of_another_network_is_unreachable(world):
    cp1 = await first_server(world)
    spec = await world.create("elsewhere", network=2, private_ip="10.1.0.5")
    result = await install(world, spec.server_id,
                           env=f"K3S_URL=https://{cp1.private_ips[1]}:6443 K3S_TOKEN={TOKEN}")
    assert result.exit_status == 1


async def test_load_balancer_address_reaches_live_backend(world):
    cp1 = await first_server(world)
    world.cloud.load_balancers["10.0.0.254"] = [cp1.server_id]
    spec = await world.create("worker-1")
    result = await install(world, spec.server_id, env=f"K3S_URL=https://10.0.0.254:6443 K3S_TOKEN={TOKEN}")
    assert result.exit_status == 0, result.stderr


async def test_second_learner_at_once_fails_and_retry_succeeds(world):
    cp1 = await first_server(world)
    url = f"https://{cp1.private_ips[1]}:6443"
    specs = [await world.create(n) for n in ("cp-2", "cp-3")]
    results = await asyncio.gather(*[
        install(world, s.server_id, env="INSTALL_K3S_EXEC=server", config=server_config(s, server=url))
        for s in specs])
    codes = sorted(r.exit_status for r in results)
    assert codes == [0, 1]
    failed = next(r for r in results if r.exit_status == 1)
    assert "etcdserver: too many learner members in cluster" in failed.stderr
    loser = specs[[r.exit_status for r in results].index(1)]
    retry = await install(world, loser.server_id, env="INSTALL_K3S_EXEC=server",
                          config=server_config(loser, server=url))
    assert retry.exit_status == 0, retry.stderr


@pytest.mark.parametrize("bad", [{"node-ip": "192.0.2.77"}, {"flannel-iface": "eth1"}])
async def test_wrong_node_ip_or_flannel_iface_stays_not_ready(world, bad):
    cp1 = await first_server(world)
    spec = await world.create("cp-2")
    result = await install(world, spec.server_id, env="INSTALL_K3S_EXEC=server",
                           config=server_config(spec, server=f"https://{cp1.private_ips[1]}:6443", **bad))
    assert result.exit_status == 0, result.stderr
    # Staying NotReady is the point: wait three times the Ready delay (a poll cannot show a negative).
    await asyncio.sleep(10 * 0.01 * 3)
    nodes = await wait_nodes(world, cp1.server_id, 2, rounds=5)
    assert ready(nodes["cp-1"])
    assert not ready(nodes["cp-2"])


async def test_flannel_none_waits_for_a_cni(world):
    spec = await world.create("cp-1")
    result = await install(world, spec.server_id, env="INSTALL_K3S_EXEC=server",
                           config=server_config(spec, **{"cluster-init": True, "flannel-backend": "none",
                                                         "disable-network-policy": True}))
    assert result.exit_status == 0
    await asyncio.sleep(0.2)  # past the Ready delay (0.1 s here): without a CNI the node stays NotReady
    assert not ready((await nodes_json(world, spec.server_id))["cp-1"])
    cilium = ("apiVersion: helm.cattle.io/v1\nkind: HelmChart\nmetadata: {name: cilium, namespace: kube-system}\n"
              "spec: {chart: cilium, repo: https://helm.cilium.io}\n")
    assert (await kubectl(world, spec.server_id, "apply -f -", input=cilium)).exit_status == 0
    assert ready((await nodes_json(world, spec.server_id))["cp-1"])
    assert "cilium" in world.inspect.k3s_clusters()[0].addons


async def test_kubectl_on_agent_or_before_install_is_refused(world):
    spec = await world.create("cp-1")
    async with await world.connect(spec.server_id) as conn:
        assert (await conn.run("kubectl get nodes")).exit_status == 127
        assert (await conn.run("systemctl is-active k3s")).exit_status == 3


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl not installed: kubeconfig judge skipped")
async def test_kubeconfig_is_accepted_by_kubectl(world, tmp_path):
    cp1 = await first_server(world)
    async with await world.connect(cp1.server_id) as conn:
        text = (await conn.run("cat /etc/rancher/k3s/k3s.yaml", check=True)).stdout
    path = tmp_path / "k3s.yaml"
    path.write_text(text)
    view = subprocess.run(["kubectl", "config", "view", "--kubeconfig", str(path), "--raw", "-o", "json"],
                          capture_output=True, text=True, timeout=60)
    assert view.returncode == 0, view.stderr
    config = json.loads(view.stdout)
    assert config["clusters"][0]["cluster"]["server"] == "https://127.0.0.1:6443"
    assert config["users"][0]["user"]["client-certificate-data"]
    assert world.inspect.file_mode(cp1.server_id, "/etc/rancher/k3s/k3s.yaml") == 0o600
