"""`khz-tui verify PLAN [--deep]` and the verify at the end of apply (issue 9, "Two new commands").

Driven as a person would: the CLI against a simulator on its own thread (`--endpoint` through
HCLOUD_ENDPOINT), plans written to files. The simulated cluster answers `k3s kubectl` over SSH from
its real configuration, serves its API over TLS, and runs the cloud controller and CSI driver, so
`--deep` really gets a load balancer and a volume made and removed.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.event_stream import events_in
from support.plans import plan_file

from khz_tui.cli import main
from khz_tui.engine.api import run
from khz_tui.engine.events import EngineEvent
from khz_tui.engine.options import RunOptions
from khz_tui.engine.outcome import ExitCode, Outcome, exit_code
from khz_tui.plan.model import ClusterPlan
from khz_tui.plan.toml_io import load_plan
from khz_tui.sim.simulator import Simulator, SimulatorThread

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "docs" / "examples").glob("*.toml"))
DEFAULT_CHECKS = {"kubeconfig", "nodes", "addons", "dns"}
TIME_SCALE = 0.02


@pytest.fixture
def cloud(monkeypatch: pytest.MonkeyPatch) -> Iterator[Simulator]:
    """A simulator on its own thread, named by HCLOUD_ENDPOINT and HCLOUD_TOKEN as for the hcloud CLI."""
    with SimulatorThread(time_scale=TIME_SCALE, seed=9) as sim:
        monkeypatch.setenv("HCLOUD_ENDPOINT", sim.endpoint)
        monkeypatch.setenv("HCLOUD_TOKEN", sim.token)
        yield sim


def with_keys(plan: ClusterPlan, ssh_keys: tuple[Path, Path]) -> ClusterPlan:
    private, public = ssh_keys
    return plan.model_copy(update={"ssh": plan.ssh.model_copy(update={"private_key": str(private),
                                                                      "public_key": str(public)})})


def checks(events: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {e["check"]: e for e in events if e["kind"] == "VerifyCheckFinished"}


def counted(sim: Simulator, kind: str) -> set[int]:
    return sim.inspect.ids(kind)


@pytest.mark.parametrize("example", [pytest.param(e, marks=[pytest.mark.slow] if e.stem == "large-cilium" else [],
                                                  id=e.stem) for e in EXAMPLES])
def test_apply_verifies_and_verify_deep_passes_for_every_example(cloud, tmp_path, capsys, ssh_keys, example) -> None:
    path = plan_file(tmp_path, with_keys(load_plan(example), ssh_keys))
    assert main(["--apply", str(path), "--yes", "--output", "json"]) == 0
    applied = events_in(capsys.readouterr().out)
    found = checks(applied)
    assert set(found) == DEFAULT_CHECKS and all(c["status"] == "pass" for c in found.values()), found
    assert next(e for e in applied if e["kind"] == "VerifyFinished")["ok"] is True

    # A rerun, including its verify, sends no changing request to Hetzner.
    before = cloud.mutating_request_count
    assert main(["--apply", str(path), "--yes", "--output", "json"]) == 0
    assert set(checks(events_in(capsys.readouterr().out))) == DEFAULT_CHECKS
    assert cloud.mutating_request_count == before

    lbs, volumes = counted(cloud, "load_balancers"), counted(cloud, "volumes")
    controller_before = cloud.controller_counts.mutating
    assert main(["verify", str(path), "--deep", "--output", "json"]) == 0
    events = events_in(capsys.readouterr().out)
    found = checks(events)
    assert all(c["ok"] for c in found.values()), found
    assert set(found) > DEFAULT_CHECKS
    kinds = [e["kind"] for e in events]
    first_deep = next(i for i, e in enumerate(events) if e.get("check") in ("load-balancer", "volume-hcloud-volumes"))
    assert "VerifyWillCreate" in kinds[:first_deep], "--deep says what it creates before it does"
    plan = load_plan(example)
    if plan.addons.service_load_balancer == "hetzner":
        assert found["load-balancer"]["status"] == "pass" and found["cleanup-load-balancer"]["status"] == "pass"
        if plan.addons.ingress != "none":
            assert "the add-ons' too" in found["load-balancer"]["detail"], "the ingress got its load balancer"
    if plan.storage.hcloud_csi:
        assert found["volume-hcloud-volumes"]["status"] == "pass"
        assert "attached to" in found["volume-hcloud-volumes"]["detail"]
    assert cloud.mutating_request_count == before, "verify --deep sends nothing changing itself"
    assert cloud.controller_counts.mutating > controller_before, "the cluster's controllers made and removed them"
    assert counted(cloud, "load_balancers") == lbs and counted(cloud, "volumes") == volumes, "nothing left behind"
    assert events[-1]["kind"] == "RunFinished" and events[-1]["mode"] == "verify" and events[-1]["ok"]


def test_verify_exit_codes_for_a_bad_plan_no_token_and_no_cluster(cloud, tmp_path, capsys, make_plan,
                                                                   monkeypatch) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "Not A Name"\n')
    assert main(["verify", str(bad)]) == 2
    path = plan_file(tmp_path, make_plan("nothing", cp=1, workers=0, lb=False))
    assert main(["verify", str(path), "--output", "json"]) == 2, "no cluster of that name at the endpoint"
    finished = events_in(capsys.readouterr().out)[-1]
    assert finished["failed_step"] == "no-cluster" and "apply the plan first" in finished["hint"]
    assert finished["outcome"] == "bad-input"
    monkeypatch.delenv("HCLOUD_TOKEN")
    assert main(["verify", str(path)]) == 2, "no token"
    assert "token" in capsys.readouterr().err.lower()


async def _apply(plan: ClusterPlan, sim: Simulator, **options: Any) -> tuple[Any, list[EngineEvent]]:
    events: list[EngineEvent] = []
    from support.simulator import target_of

    finished = await run("apply", plan, target_of(sim), sink=events.append, options=RunOptions(yes=True, **options))
    return finished, events


async def test_the_engine_runs_verify_as_a_mode_of_its_own(sim, make_plan) -> None:
    """What the TUI calls: `run("verify", ...)` reads the cluster and changes nothing at Hetzner."""
    from support.simulator import target_of

    plan = make_plan("vm", cp=1, lb=False)
    built, _ = await _apply(plan, sim, skip_verify=True)
    assert built.ok, built.message
    before, events = sim.mutating_request_count, []
    finished = await run("verify", plan, target_of(sim), sink=events.append, options=RunOptions())
    assert finished.ok and finished.mode == "verify", finished.message
    assert {e.check for e in events if e.kind == "VerifyCheckFinished"} >= {"kubeconfig", "nodes", "addons", "dns"}
    assert sim.mutating_request_count == before


async def test_a_failed_check_fails_apply_and_no_verify_skips_it(sim, make_plan) -> None:
    if shutil.which("kubectl") is None:
        pytest.skip("kubectl is not installed (tests/run.sh installs Debian's kubernetes-client)")
    plan = make_plan("vf", cp=1, workers=1, lb=False)
    first, events = await _apply(plan, sim)
    assert first.ok, first.message
    kubeconfig = next(e.path for e in events if e.kind == "KubeconfigWritten")
    # An add-on's pod that can never run (bound to a node that does not exist), made with the real kubectl.
    made = await asyncio.create_subprocess_exec(
        "kubectl", "--kubeconfig", kubeconfig, "-n", "kube-system", "run", "stuck", "--image=busybox:1.36",
        "--restart=Never", '--overrides={"apiVersion":"v1","spec":{"nodeName":"vf-gone-1"}}',
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    _, err = await made.communicate()
    assert made.returncode == 0, err

    before = sim.mutating_request_count
    second, events = await _apply(plan, sim)
    assert not second.ok and second.failed_step == "verify" and second.outcome is Outcome.FAILED
    assert exit_code(second.outcome) == ExitCode.FAILED == 1
    assert "kube-system/stuck" in second.message and "vf-gone-1" in second.message
    assert "describe pod" in second.hint
    (failed,) = [e for e in events if e.kind == "VerifyCheckFinished" and not e.ok]
    assert failed.check == "addons"
    assert sim.mutating_request_count == before

    third, events = await _apply(plan, sim, skip_verify=True)
    assert third.ok and not [e for e in events if e.kind.startswith("Verify")]
    assert sim.mutating_request_count == before
