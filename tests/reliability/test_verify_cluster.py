"""verify against a cluster changed behind its back, and verify --deep followed by destroy (issue 9
"Done when"; issue 11, defect 4). Driven through the CLI against a simulator on its own thread; the
changes are made as a person would: the official `hcloud` Go CLI when installed (hcloud-python over
the same HTTP API otherwise), the hcloud API for a load balancer in front of the API.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hcloud import Client
from hcloud.load_balancer_types.domain import LoadBalancerType
from hcloud.load_balancers.domain import LoadBalancerService, LoadBalancerTarget
from hcloud.locations.domain import Location
from reliability_helpers import KINDS, labeled
from support.event_stream import events_in
from support.plans import plan_file

from khz_tui.cli import main
from khz_tui.engine.cloud.addon_resources import CCM_SERVICE_UID_LABEL
from khz_tui.sim.simulator import Simulator, SimulatorThread

TIME_SCALE = 0.02


@pytest.fixture
def cloud(monkeypatch: pytest.MonkeyPatch) -> Iterator[Simulator]:
    with SimulatorThread(time_scale=TIME_SCALE, seed=17) as sim:
        monkeypatch.setenv("HCLOUD_ENDPOINT", sim.endpoint)
        monkeypatch.setenv("HCLOUD_TOKEN", sim.token)
        yield sim


def failed_checks(events: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {e["check"]: e for e in events if e["kind"] == "VerifyCheckFinished" and not e["ok"]}


def hclient(sim: Simulator) -> Client:
    return Client(token=sim.token, api_endpoint=sim.endpoint, poll_interval=0.05, timeout=10)


def power_off(sim: Simulator, name: str, home: Path) -> str:
    """Power the server off as a person would; returns the tool used."""
    if shutil.which("hcloud"):
        env = {**os.environ, "HOME": str(home), "HCLOUD_ENDPOINT": sim.endpoint, "HCLOUD_TOKEN": sim.token}
        env.pop("HCLOUD_CONTEXT", None)
        done = subprocess.run(["hcloud", "server", "poweroff", name], env=env, capture_output=True, text=True,
                              timeout=60)
        assert done.returncode == 0, done.stderr
        return "hcloud"
    hc = hclient(sim)
    hc.servers.power_off(hc.servers.get_by_name(name)).wait_until_finished(100)
    return "hcloud-python"


def test_a_worker_powered_off_behind_its_back_fails_verify_naming_it(cloud, tmp_path, capsys, make_plan) -> None:
    path = plan_file(tmp_path, make_plan("po", cp=1, workers=2, lb=False))
    assert main(["--apply", str(path), "--yes", "--output", "json"]) == 0
    capsys.readouterr()
    power_off(cloud, "po-default-2", tmp_path)
    before = cloud.mutating_request_count

    assert main(["verify", str(path), "--output", "json"]) == 1
    events = events_in(capsys.readouterr().out)
    failed = failed_checks(events)
    assert set(failed) == {"nodes"}, failed
    nodes = failed["nodes"]
    assert nodes["nodes"] == ["po-default-2"]
    assert "po-default-2: NotReady" in nodes["detail"] and "its server is off at Hetzner" in nodes["detail"]
    assert "power the server on" in nodes["hint"]
    dns = next(e for e in events if e.get("check") == "dns")
    assert dns["ok"] and "not checked on po-default-2 (not Ready)" in dns["detail"]
    finished = events[-1]
    assert finished["kind"] == "RunFinished" and finished["failed_step"] == "verify"
    assert "po-default-2" in finished["message"]
    assert cloud.mutating_request_count == before, "verify changes nothing at Hetzner"

    # Text output names the node, the reason and what to do, as a person reads it.
    assert main(["verify", str(path)]) == 1
    text = capsys.readouterr().out
    assert "✗ check nodes: po-default-2: NotReady" in text and "what to do: power the server on" in text


def test_a_certificate_that_does_not_cover_the_kubeconfig_address_is_caught(cloud, tmp_path, capsys,
                                                                            make_plan) -> None:
    plan = make_plan("tc", cp=1, workers=0, lb=True)
    path = plan_file(tmp_path, plan)
    assert main(["--apply", str(path), "--yes", "--output", "json"]) == 0
    kubeconfig = next(e["path"] for e in events_in(capsys.readouterr().out) if e["kind"] == "KubeconfigWritten")

    # A second load balancer in front of the API, whose address no server's tls-san names (what a
    # recreated API load balancer is until the servers restart with it): the kubeconfig points at it.
    hc = hclient(cloud)
    cp = hc.servers.get_by_name("tc-cp-1")
    created = hc.load_balancers.create(
        name="tc-api-by-hand", load_balancer_type=LoadBalancerType(name="lb11"), location=Location(name="fsn1"),
        services=[LoadBalancerService(protocol="tcp", listen_port=6443, destination_port=6443)],
        targets=[LoadBalancerTarget(type="server", server=cp, use_private_ip=False)])
    created.action.wait_until_finished(100)
    address = hc.load_balancers.get_by_id(created.load_balancer.id).public_net.ipv4.ip
    data = yaml.safe_load(Path(kubeconfig).read_text())
    data["clusters"][0]["cluster"]["server"] = f"https://{address}:6443"
    Path(kubeconfig).write_text(yaml.safe_dump(data))

    assert main(["verify", str(path), "--output", "json"]) == 1
    failed = failed_checks(events_in(capsys.readouterr().out))
    assert set(failed) == {"kubeconfig"}, failed
    detail = failed["kubeconfig"]["detail"]
    assert f"does not cover {address}" in detail and "it names:" in detail
    assert "tls-san" in failed["kubeconfig"]["hint"]


def _snapshot(sim: Simulator) -> dict[str, set[int]]:
    return {kind: sim.inspect.ids(kind) for kind in KINDS}


def test_verify_deep_then_destroy_leaves_nothing_of_the_cluster_and_keeps_another_clusters(
        cloud, tmp_path, capsys, make_plan) -> None:
    # Both clusters run the default ingress (traefik) with Hetzner load balancers made by the simulated
    # cloud controller, and the CSI driver; "dv-x" is the look-alike whose names start like "dv"'s.
    other = plan_file(tmp_path, make_plan("dv-x", cp=1, workers=0, lb=False))
    assert main(["--apply", str(other), "--yes", "--output", "json"]) == 0
    kept = _snapshot(cloud)
    path = plan_file(tmp_path, make_plan("dv", cp=1, workers=1, lb=True))
    assert main(["--apply", str(path), "--yes", "--output", "json"]) == 0
    ours = {kind: ids - kept[kind] for kind, ids in _snapshot(cloud).items()}
    assert ours["load_balancers"] and ours["servers"] and ours["networks"]
    ccm = cloud.inspect.load_balancers(CCM_SERVICE_UID_LABEL)  # a bare key: those carrying the label
    assert len(ccm) == 2, "each cluster's ingress got its load balancer from the cloud controller"
    capsys.readouterr()

    assert main(["verify", str(path), "--deep", "--output", "json"]) == 0
    deep = {e["check"]: e for e in events_in(capsys.readouterr().out) if e["kind"] == "VerifyCheckFinished"}
    assert deep["load-balancer"]["ok"] and deep["volume-hcloud-volumes"]["ok"]

    assert main(["--destroy", str(path), "--yes", "--output", "json"]) == 0
    after = _snapshot(cloud)
    for kind in KINDS:
        assert not labeled(cloud, kind, "dv"), f"{kind} of dv left"
        assert not (after[kind] & ours[kind]), f"{kind} made for dv left: {after[kind] & ours[kind]}"
        assert kept[kind] <= after[kind], f"{kind} of dv-x deleted: {kept[kind] - after[kind]}"
    # And dv-x still works.
    capsys.readouterr()
    assert main(["verify", str(other), "--output", "json"]) == 0
