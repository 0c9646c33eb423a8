"""Destroy sweeps what the cluster's add-ons made at Hetzner (issue 9, finding 6), and nothing of
another cluster's.

Until the simulator runs a cloud controller and a CSI driver of its own, these tests make their
resources through the API exactly as those would:
- the hcloud cloud controller manager creates a load balancer named after the Service
  (`a` + the Service UID without dashes, Kubernetes' DefaultLoadBalancerName), labelled
  `hcloud-ccm/service-uid=<uid>` (hcloud-cloud-controller-manager internal/hcops/load_balancer.go,
  `LabelServiceUID` in `LoadBalancerOps.Create`), attached to the network of its `hcloud` Secret
  (`attachToNetwork`), with the nodes as server targets over their private IPs
  (HCLOUD_LOAD_BALANCERS_USE_PRIVATE_IP);
- the hcloud CSI driver creates `pvc-<uuid>` volumes labelled `managed-by=csi-driver`, `pvc-name`,
  `pvc-namespace`, `pv-name`, plus HCLOUD_VOLUME_EXTRA_LABELS (csi-driver internal/driver/controller.go
  `CreateVolume`), and attaches them to the node of the pod that uses them (ControllerPublishVolume).
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field

from hcloud import Client
from hcloud.images.domain import Image
from hcloud.load_balancer_types.domain import LoadBalancerType
from hcloud.load_balancers.domain import LoadBalancerService, LoadBalancerTarget
from hcloud.locations.domain import Location
from hcloud.networks.domain import Network, NetworkSubnet
from hcloud.server_types.domain import ServerType
from hcloud.servers.domain import Server

from khz_tui.engine.cloud.addon_resources import CCM_SERVICE_UID_LABEL, csi_volume_labels
from khz_tui.engine.cloud.names import cluster_labels
from khz_tui.sim.simulator import Simulator, recording_node_host

TIME_SCALE = 0.02


@dataclass
class Built:
    """Ids of what a cluster and its add-ons hold in the simulated project."""

    network: int = 0
    servers: list[int] = field(default_factory=list)
    ccm_lbs: list[int] = field(default_factory=list)
    csi_volumes: list[int] = field(default_factory=list)


def _client(sim: Simulator) -> Client:
    return Client(token=sim.token, api_endpoint=sim.endpoint, poll_interval=0.02)


def build_cluster(sim: Simulator, cluster: str, ip_range: str) -> Built:
    """What apply leaves as far as this needs: the cluster's labelled network and two servers on it."""
    hc = _client(sim)
    labels = cluster_labels(cluster)
    built = Built()
    net = hc.networks.create(name=cluster, ip_range=ip_range, labels=labels,
                             subnets=[NetworkSubnet(type="cloud", ip_range=ip_range, network_zone="eu-central")])
    built.network = net.id
    for i in (1, 2):
        created = hc.servers.create(
            name=f"{cluster}-cp-{i}", server_type=ServerType(name="cpx22"), image=Image(name="ubuntu-24.04"),
            location=Location(name="nbg1"), networks=[Network(id=net.id)],
            labels=cluster_labels(cluster, role="control-plane"),
        )
        created.action.wait_until_finished()
        built.servers.append(created.server.id)
    return built


def ccm_load_balancer(sim: Simulator, *, network: int | None, targets: list[int]) -> int:
    """A load balancer as the CCM makes it for one LoadBalancer Service."""
    hc = _client(sim)
    uid = str(uuid.uuid4())
    name = ("a" + uid.replace("-", ""))[:32]  # Kubernetes' DefaultLoadBalancerName
    result = hc.load_balancers.create(
        name=name, load_balancer_type=LoadBalancerType(name="lb11"), network_zone="eu-central",
        labels={CCM_SERVICE_UID_LABEL: uid}, network=Network(id=network) if network else None,
        services=[LoadBalancerService(protocol="tcp", listen_port=80, destination_port=31080, proxyprotocol=False)],
        targets=[LoadBalancerTarget(type="server", server=Server(id=s), use_private_ip=network is not None)
                 for s in targets],
    )
    result.action.wait_until_finished()
    return result.load_balancer.id


def csi_volume(sim: Simulator, *, attach_to: int | None, extra: dict[str, str]) -> int:
    """A volume as the CSI driver makes it for one PVC, attached to the node that mounts it."""
    hc = _client(sim)
    pv = f"pvc-{uuid.uuid4()}"
    labels = {"managed-by": "csi-driver", "pvc-name": "data", "pvc-namespace": "default", "pv-name": pv, **extra}
    result = hc.volumes.create(size=10, name=pv, labels=labels, location=Location(name="nbg1"), format="ext4")
    result.action.wait_until_finished()
    vol = result.volume
    if attach_to is not None:
        hc.volumes.attach(vol, Server(id=attach_to), automount=False).wait_until_finished()
    return vol.id


def remaining(sim: Simulator, kind: str) -> set[int]:
    return sim.inspect.ids(kind)


def setup(sim: Simulator) -> tuple[Built, Built]:
    mine = build_cluster(sim, "mine", "10.0.0.0/16")
    other = build_cluster(sim, "other", "10.1.0.0/16")
    for built, name in ((mine, "mine"), (other, "other")):
        built.ccm_lbs.append(ccm_load_balancer(sim, network=built.network, targets=built.servers))
        built.csi_volumes.append(csi_volume(sim, attach_to=built.servers[0], extra=csi_volume_labels(name)))
    # Made before the cluster label was configured: ours only because it is attached to our server.
    mine.csi_volumes.append(csi_volume(sim, attach_to=mine.servers[1], extra={}))
    # A CCM load balancer without a network, targeting only our servers (public targets).
    mine.ccm_lbs.append(ccm_load_balancer(sim, network=None, targets=mine.servers))
    # Look-alikes that nothing ties to "mine": they must survive.
    other.ccm_lbs.append(ccm_load_balancer(sim, network=None, targets=[other.servers[0], mine.servers[0]]))
    other.csi_volumes.append(csi_volume(sim, attach_to=None, extra={}))
    other.csi_volumes.append(csi_volume(sim, attach_to=other.servers[1], extra={}))
    return mine, other


async def test_destroy_sweeps_the_addons_resources_and_keeps_another_clusters(make_plan, engine_run) -> None:
    async with Simulator(time_scale=TIME_SCALE, seed=1, node_host_factory=recording_node_host) as sim:
        mine, other = await asyncio.to_thread(setup, sim)
        out = await engine_run("destroy", make_plan("mine", cp=3, lb=False), sim, yes=True)
        assert out.finished.ok, out.finished.message
        lbs, vols = remaining(sim, "load_balancers"), remaining(sim, "volumes")
        servers = remaining(sim, "servers")
    assert not set(mine.ccm_lbs) & lbs and not set(mine.csi_volumes) & vols
    assert set(other.ccm_lbs) <= lbs, "another cluster's CCM load balancers survive"
    assert set(other.csi_volumes) <= vols, "another cluster's (or nobody's provable) CSI volumes survive"
    assert set(other.servers) <= servers
    found = out.of("AddonResourcesFound")
    assert len(found) == 1
    listed = {(r.resource_type, r.id) for r in found[0].resources}
    assert listed == {("load balancer", i) for i in mine.ccm_lbs} | {("volume", i) for i in mine.csi_volumes}
    whys = " ".join(r.why for r in found[0].resources)
    assert "attached to network mine" in whys and "label khz-tui.io/cluster" in whys and "attached to mine-cp-2" in whys
    deleted = {(e.resource_type, e.id) for e in out.of("ResourceDeleted")}
    assert listed <= deleted


async def test_an_unconfirmed_destroy_lists_them_and_deletes_nothing(make_plan, engine_run) -> None:
    async with Simulator(time_scale=TIME_SCALE, seed=1, node_host_factory=recording_node_host) as sim:
        mine, _other = await asyncio.to_thread(setup, sim)
        asked: list[str] = []

        async def no(question: str) -> bool:
            asked.append(question)
            return False

        before = sim.mutating_request_count
        out = await engine_run("destroy", make_plan("mine", cp=3, lb=False), sim, confirm=no)
        assert sim.mutating_request_count == before
    assert not out.finished.ok and out.finished.failed_step == "confirm"
    assert len(out.of("AddonResourcesFound")[0].resources) == len(mine.ccm_lbs) + len(mine.csi_volumes)
    assert "made by its add-ons" in asked[0] and "pvc-" in asked[0]


async def test_a_labelled_csi_volume_left_after_the_cluster_is_found_by_a_second_destroy(make_plan, engine_run) -> None:
    async with Simulator(time_scale=TIME_SCALE, seed=1, node_host_factory=recording_node_host) as sim:
        left = await asyncio.to_thread(csi_volume, sim, attach_to=None, extra=csi_volume_labels("gone"))
        foreign = await asyncio.to_thread(csi_volume, sim, attach_to=None, extra=csi_volume_labels("gone-too"))
        out = await engine_run("destroy", make_plan("gone", cp=1, lb=False), sim, yes=True)
        vols = remaining(sim, "volumes")
    assert out.finished.ok, out.finished.message
    assert left not in vols and foreign in vols


async def test_destroy_deletes_loadbalancer_services_through_the_cluster_first(sim, make_plan, engine_run, tmp_path) -> None:
    # A real (simulated) cluster: destroy reaches its control plane over SSH with the pinned host key
    # and deletes the LoadBalancer Services (k3s' traefik here) before any server goes; what the
    # controllers leave behind is swept.
    plan = make_plan("live", cp=1, lb=False)
    applied = await engine_run("apply", plan, sim, kubeconfig=tmp_path / "kc")
    assert applied.finished.ok, applied.finished.message
    network = sim.inspect.network("live").id
    server = sim.inspect.server("live-cp-1").id
    lb = await asyncio.to_thread(ccm_load_balancer, sim, network=network, targets=[server])
    out = await engine_run("destroy", plan, sim, yes=True)
    assert out.finished.ok, out.finished.message
    said = [e.text for e in out.of("LogLine")]
    assert any(t.startswith("deleting service kube-system/traefik in the cluster") for t in said), said
    assert lb not in remaining(sim, "load_balancers")
