"""The real kubectl against a cluster the real engine built on the simulator, with the kubeconfig
khz-tui wrote: TLS verified against the cluster's CA, the client certificate authenticated."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import yaml
from hcloud import Client
from hcloud.load_balancer_types.domain import LoadBalancerType
from hcloud.load_balancers.domain import LoadBalancerService, LoadBalancerTarget
from hcloud.locations.domain import Location
from hcloud.servers.domain import Server
from kube_helpers import engine
from support.kubectl import kubectl


async def test_kubectl_sees_every_node_ready_through_the_load_balancer(sim, make_plan, kubectl_path, tmp_path: Path) -> None:
    built = await engine("apply", make_plan("kc", cp=3, workers=2), sim, tmp_path / "kc.yaml")
    assert built.finished.ok, (built.finished.failed_step, built.finished.message)
    config = yaml.safe_load(built.kubeconfig.read_text())
    server = config["clusters"][0]["cluster"]["server"]
    lb = sim.inspect.load_balancers()[0]
    # The kubeconfig is what a real cluster gets: the load balancer's public address, nothing rewritten.
    assert server == f"https://{lb.public_ipv4}:6443"
    assert "insecure-skip-tls-verify" not in config["clusters"][0]["cluster"]

    got = await kubectl(kubectl_path, built.kubeconfig, "get", "nodes", "-o", "json")
    assert got.code == 0, got.err
    nodes = json.loads(got.out)["items"]
    assert sorted(n["metadata"]["name"] for n in nodes) == ["kc-cp-1", "kc-cp-2", "kc-cp-3", "kc-default-1", "kc-default-2"]
    for node in nodes:
        ready = next(c for c in node["status"]["conditions"] if c["type"] == "Ready")
        assert ready["status"] == "True", node["metadata"]["name"]

    table = await kubectl(kubectl_path, built.kubeconfig, "get", "nodes")
    assert table.code == 0 and table.out.split()[:5] == ["NAME", "STATUS", "ROLES", "AGE", "VERSION"], table
    version = await kubectl(kubectl_path, built.kubeconfig, "version", "-o", "json")
    assert json.loads(version.out)["serverVersion"]["gitVersion"].endswith("+k3s1"), version


async def test_an_address_outside_the_certificate_fails_x509(sim, make_plan, kubectl_path, tmp_path: Path) -> None:
    """A second load balancer in front of the same control plane: its address is in no tls-san, so
    kubectl refuses the certificate (as for a real k3s whose tls-san lacks the address)."""
    built = await engine("apply", make_plan("xs", cp=1), sim, tmp_path / "xs.yaml")
    assert built.finished.ok, built.finished.message
    cp = sim.inspect.server("xs-cp-1")

    def make_lb() -> str:
        client = Client(token=sim.token, api_endpoint=sim.endpoint, poll_interval=0.05)
        made = client.load_balancers.create(
            name="other", load_balancer_type=LoadBalancerType(name="lb11"), location=Location(name=cp.location),
            services=[LoadBalancerService(protocol="tcp", listen_port=6443, destination_port=6443)],
            targets=[LoadBalancerTarget(type="server", server=Server(id=cp.id))])
        made.action.wait_until_finished()
        return made.load_balancer.public_net.ipv4.ip

    other = await asyncio.to_thread(make_lb)
    config = yaml.safe_load(built.kubeconfig.read_text())
    config["clusters"][0]["cluster"]["server"] = f"https://{other}:6443"
    elsewhere = tmp_path / "elsewhere.yaml"
    elsewhere.write_text(yaml.safe_dump(config))

    got = await kubectl(kubectl_path, elsewhere, "get", "nodes", "-o", "json")
    assert got.code != 0
    assert "x509" in got.err and other in got.err, got.err
    # The same cluster through the original address still verifies.
    assert (await kubectl(kubectl_path, built.kubeconfig, "get", "nodes", "-o", "json")).code == 0
