"""Nodes changed behind the tool's back, then a rerun of apply (engine `run(...)` against the simulator;
the changes are made with hcloud-python over the simulator's HTTP API, as a person with the Go CLI would).

- A powered-off node: the rerun powers it on and waits for its k3s unit to come back (k3s takes a
  while to start after boot); it never deletes the Node object (for a control plane: its etcd member)
  of a server that still exists, and never reinstalls k3s there.
- A node taken off the cluster's network: the rerun attaches it again with the private address its
  k3s was configured with, and the node turns Ready again, instead of waiting out the Ready deadline.
- The API load balancer deleted: the rerun creates it again (new address), adds that address to every
  control plane's `tls-san`, restarts them one at a time so the serving certificate carries it, and
  only then writes the kubeconfig: the real `kubectl` verifies TLS against it.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import yaml
from hcloud import Client
from hcloud.load_balancer_types.domain import LoadBalancerType
from hcloud.locations.domain import Location
from reliability_helpers import cluster_servers, clusters_holding, duplicates, labeled, ready_servers, repaired, target_of
from support.kubectl import kubectl, kubectl_path

from khz_tui.engine.api import run
from khz_tui.engine.events import EngineEvent, RunFinished
from khz_tui.engine.options import RunOptions
from khz_tui.sim.inspection import Server
from khz_tui.sim.simulator import Simulator

#: k3s takes RESTART_SECONDS (5 s simulated) to come back after a boot: 0.5 s here, far longer than
#: the engine needs to reach the powered-on server over SSH, so a check that does not wait sees it down.
SLOW_SCALE = 0.1
TIME_SCALE = 0.02


async def apply(plan, sim: Simulator, kubeconfig: Path | None = None) -> tuple[RunFinished, list[EngineEvent]]:
    events: list[EngineEvent] = []
    finished = await run("apply", plan, target_of(sim), sink=events.append,
                         options=RunOptions(yes=True, kubeconfig=kubeconfig))
    return finished, events


def hclient(sim: Simulator) -> Client:
    return Client(token=sim.token, api_endpoint=sim.endpoint, poll_interval=0.05, timeout=10)


def _server(sim: Simulator, cluster: str, name: str) -> Server:
    (server,) = [s for s in labeled(sim, "servers", cluster) if s.name == name]
    return server


@pytest.mark.parametrize("who", ["pd-cp-2", "pd-default-1"])
async def test_a_powered_off_node_is_waited_for_never_deleted(make_plan, who) -> None:
    plan = make_plan("pd", cp=3, workers=1, lb=False)
    async with Simulator(time_scale=SLOW_SCALE, seed=31) as sim:
        first, _ = await apply(plan, sim)
        assert first.ok, first.message
        (cluster,) = clusters_holding(sim, cluster_servers(sim, "pd"))
        server = _server(sim, "pd", who)
        node_before = cluster.nodes[who]
        installs = sim.inspect.machine(server.id).installs_started
        config = sim.inspect.read_text(server.id, "/etc/rancher/k3s/config.yaml")

        def power_off() -> None:
            hc = hclient(sim)
            hc.servers.power_off(hc.servers.get_by_id(server.id)).wait_until_finished(100)

        await asyncio.to_thread(power_off)
        assert sim.inspect.server(who).status == "off"

        second, events = await apply(plan, sim)
        assert second.ok, (second.failed_step, second.message)
        assert repaired(events, "stale-node-removed") == [], "the Node object of a server that still exists is never deleted"
        (live,) = sim.inspect.k3s_clusters()
        assert live.id == cluster.id and live.token == cluster.token
        assert live.nodes[who].created == node_before.created, \
            "the node kept its Node object (for a control plane: its etcd member)"
        assert sim.inspect.machine(server.id).installs_started == installs, "k3s was not installed again on the powered-on node"
        assert sim.inspect.read_text(server.id, "/etc/rancher/k3s/config.yaml") == config
        assert repaired(events, "server-powered-on") == [who]
        assert not [e for e in events if e.kind in ("ResourceCreated", "ResourceDeleted")]
        assert sim.inspect.server(who).status == "running"
        names, ready = ready_servers(sim, "pd")
        assert ready == names and len(names) == 4
        assert duplicates(sim, "pd") == []


@pytest.mark.parametrize("who", ["nd-default-1", "nd-cp-1"])
async def test_a_node_taken_off_the_network_is_attached_again_with_its_address(make_plan, who) -> None:
    plan = make_plan("nd", cp=1, workers=1, lb=False)
    async with Simulator(time_scale=TIME_SCALE, seed=32) as sim:
        first, _ = await apply(plan, sim)
        assert first.ok, first.message
        (cluster,) = clusters_holding(sim, cluster_servers(sim, "nd"))
        server = _server(sim, "nd", who)
        (network,) = labeled(sim, "networks", "nd")
        address = server.private_ip(network.id)
        assert address is not None

        def detach() -> None:
            hc = hclient(sim)
            hc.servers.detach_from_network(hc.servers.get_by_id(server.id),
                                           hc.networks.get_by_id(network.id)).wait_until_finished(100)

        await asyncio.to_thread(detach)
        assert sim.inspect.server(who).private_net == ()

        second, events = await apply(plan, sim)
        assert second.ok, (second.failed_step, second.message)
        assert [p.ip for p in sim.inspect.server(who).private_net if p.network == network.id] == [address], \
            "attached again, with the address its k3s uses"
        assert repaired(events, "network-reattached") == [who], "the repair is announced, naming the node"
        assert repaired(events, "stale-node-removed") == []
        names, ready = ready_servers(sim, "nd")
        assert ready == names == {"nd-cp-1", "nd-default-1"}
        assert [c.id for c in sim.inspect.k3s_clusters()] == [cluster.id]


async def test_a_node_whose_address_was_taken_fails_at_once_naming_it(make_plan) -> None:
    """The address the node's k3s uses went to another server meanwhile: attaching it elsewhere would
    leave k3s on an address it does not have, so the run stops at once, naming the node and the cause."""
    plan = make_plan("nt", cp=1, workers=1, lb=False)
    async with Simulator(time_scale=TIME_SCALE, seed=33) as sim:
        first, _ = await apply(plan, sim)
        assert first.ok, first.message
        server = _server(sim, "nt", "nt-default-1")
        (network,) = labeled(sim, "networks", "nt")
        (address,) = [p.ip for p in server.private_net if p.network == network.id]

        def detach_and_take() -> None:
            from hcloud.images.domain import Image
            from hcloud.server_types.domain import ServerType

            hc = hclient(sim)
            net = hc.networks.get_by_id(network.id)
            hc.servers.detach_from_network(hc.servers.get_by_id(server.id), net).wait_until_finished(100)
            made = hc.servers.create(name="squatter", server_type=ServerType(name=server.server_type),
                                     image=Image(name="ubuntu-24.04"), start_after_create=False)
            made.action.wait_until_finished(100)
            hc.servers.attach_to_network(made.server, net, ip=address).wait_until_finished(100)

        await asyncio.to_thread(detach_and_take)
        second, _ = await apply(plan, sim)
        assert not second.ok
        assert "nt-default-1" in second.message and address in second.message, second.message
        assert "TimeoutError" not in second.message and "not Ready in time" not in second.message
        assert sim.inspect.server("nt-default-1").private_net == ()


async def test_a_recreated_api_load_balancer_is_added_to_the_certificates(make_plan, tmp_path: Path) -> None:
    path = kubectl_path()
    plan = make_plan("lbn", cp=3, workers=1, lb=True)
    kubeconfig = tmp_path / "lbn.yaml"
    async with Simulator(time_scale=TIME_SCALE, seed=34) as sim:
        first, _ = await apply(plan, sim, kubeconfig)
        assert first.ok, first.message
        (old_lb,) = labeled(sim, "load_balancers", "lbn")
        got = await kubectl(path, kubeconfig, "get", "nodes")
        assert got.code == 0, got.err

        def delete_lb() -> None:
            hc = hclient(sim)
            hc.load_balancers.delete(hc.load_balancers.get_by_id(old_lb.id))
            # Someone else's load balancer gets the freed address, so the recreated one has a new one.
            hc.load_balancers.create(name="someone-elses", load_balancer_type=LoadBalancerType(name="lb11"),
                                     location=Location(name=old_lb.location)).action.wait_until_finished(100)

        await asyncio.to_thread(delete_lb)

        second, events = await apply(plan, sim, kubeconfig)
        assert second.ok, (second.failed_step, second.message)
        (new_lb,) = labeled(sim, "load_balancers", "lbn")
        new_ip = new_lb.public_ipv4
        assert new_ip != old_lb.public_ipv4
        server = yaml.safe_load(kubeconfig.read_text())["clusters"][0]["cluster"]["server"]
        assert server == f"https://{new_ip}:6443"
        for cp in ("lbn-cp-1", "lbn-cp-2", "lbn-cp-3"):
            sans = yaml.safe_load(sim.inspect.read_text(_server(sim, "lbn", cp).id, "/etc/rancher/k3s/config.yaml"))["tls-san"]
            assert new_ip in sans, (cp, sans)
        assert sorted(repaired(events, "k3s-restarted")) == ["lbn-cp-1", "lbn-cp-2", "lbn-cp-3"]
        got = await kubectl(path, kubeconfig, "get", "nodes")
        assert got.code == 0, got.err
        assert "x509" not in got.err
        assert sorted(line.split()[0] for line in got.out.splitlines()[1:]) == [
            "lbn-cp-1", "lbn-cp-2", "lbn-cp-3", "lbn-default-1"]
        names, ready = ready_servers(sim, "lbn")
        assert ready == names and len(names) == 4
