"""Headless runs through `run_headless`: exit codes, text and JSON output, secrets kept out."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from khz_tui.engine.options import RunOptions
from khz_tui.headless.run import run_headless
from khz_tui.launch import simulator as sim_project
from khz_tui.launch.connect import connect
from khz_tui.sim.simulator import SimulatorThread, recording_node_host


def write_plan(tmp_path: Path, ssh_keys, name: str = "hl", body: str = "") -> Path:
    private, public = ssh_keys
    path = tmp_path / f"{name}.toml"
    path.write_text(
        f'schema_version = 1\nname = "{name}"\n\n[ssh]\npublic_key = "{public}"\nprivate_key = "{private}"\n'
        '\n[control_plane]\ncount = 1\n\n[load_balancer]\nenabled = false\n\n[[worker_pools]]\nname = "default"\ncount = 1\n'
        + body
    )
    return path


@pytest.fixture
def api_sim_thread():
    with SimulatorThread(time_scale=0.02, seed=2, node_host_factory=recording_node_host) as sim:
        yield sim


def test_a_broken_plan_exits_2_without_a_traceback(tmp_path, capsys) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('schema_version = 1\nname = "Bad Name"\n')
    assert run_headless("apply", bad, RunOptions(), connect=connect) == 2
    err = capsys.readouterr().err
    assert "name" in err and "Traceback" not in err


def test_no_token_exits_2(tmp_path, ssh_keys, monkeypatch, capsys) -> None:
    monkeypatch.delenv("HCLOUD_TOKEN", raising=False)
    assert run_headless("dry-run", write_plan(tmp_path, ssh_keys), RunOptions(endpoint="http://127.0.0.1:9/v1"), connect=connect) == 2
    assert "token" in capsys.readouterr().err


def test_a_refused_token_exits_2(tmp_path, ssh_keys, monkeypatch, api_sim_thread) -> None:
    monkeypatch.setenv("HCLOUD_TOKEN", "not-the-right-token")
    out = io.StringIO()
    code = run_headless("dry-run", write_plan(tmp_path, ssh_keys), RunOptions(endpoint=api_sim_thread.endpoint), connect=connect, out=out)
    assert code == 2
    assert "unauthorized" in out.getvalue() or "refused" in out.getvalue()


def test_dry_run_json_lines_and_no_token_anywhere(tmp_path, ssh_keys, monkeypatch, api_sim_thread) -> None:
    monkeypatch.setenv("HCLOUD_TOKEN", api_sim_thread.token)
    out = io.StringIO()
    before = api_sim_thread.mutating_request_count
    code = run_headless("dry-run", write_plan(tmp_path, ssh_keys), RunOptions(endpoint=api_sim_thread.endpoint,
                                                                                 output="json"), connect=connect, out=out)
    assert code == 0
    assert api_sim_thread.mutating_request_count == before
    events = [json.loads(line) for line in out.getvalue().splitlines()]
    assert events[0]["kind"] == "RunStarted" and events[-1]["kind"] == "RunFinished" and events[-1]["ok"]
    assert any(e["kind"] == "PlanDiffed" for e in events)
    assert api_sim_thread.token not in out.getvalue()
    logs = list(Path.home().rglob("*.jsonl"))
    assert logs, "every run writes a JSON-lines log in the cluster's state dir"
    for log in logs:
        assert api_sim_thread.token not in log.read_text()
        assert oct(log.stat().st_mode)[-3:] == "600"


def test_destroy_needs_yes_headless(tmp_path, ssh_keys, monkeypatch, api_sim_thread, capsys) -> None:
    monkeypatch.setenv("HCLOUD_TOKEN", api_sim_thread.token)
    plan = write_plan(tmp_path, ssh_keys, name="bye")
    from hcloud import Client

    hc = Client(token=api_sim_thread.token, api_endpoint=api_sim_thread.endpoint)
    hc.placement_groups.create(name="bye-cp", type="spread",
                               labels={"khz-tui.io/cluster": "bye", "khz-tui.io/managed-by": "khz-tui"})
    opts = RunOptions(endpoint=api_sim_thread.endpoint)
    assert run_headless("destroy", plan, opts, connect=connect, out=io.StringIO()) == 2
    assert "--yes" in capsys.readouterr().err
    assert hc.placement_groups.get_by_name("bye-cp") is not None
    text = io.StringIO()
    assert run_headless("destroy", plan, RunOptions(endpoint=api_sim_thread.endpoint, yes=True), connect=connect, out=text) == 0
    assert hc.placement_groups.get_by_name("bye-cp") is None
    assert "deleted placement group bye-cp" in text.getvalue()
    assert "API requests" in text.getvalue()


def test_apply_with_sim_then_rerun_and_destroy(tmp_path, ssh_keys, monkeypatch) -> None:
    monkeypatch.setattr(sim_project, "SIM_TIME_SCALE", 0.02)  # the demo's 0.1 is for people watching
    plan = write_plan(tmp_path, ssh_keys, name="demo")
    out = io.StringIO()
    kubeconfig = tmp_path / "kc"
    assert run_headless("apply", plan, RunOptions(sim=True, kubeconfig=kubeconfig), connect=connect, out=out) == 0
    text = out.getvalue()
    assert "demo-cp-1" in text and "ready" in text and "API requests" in text
    assert "HCLOUD_ENDPOINT" in text and "kubectl --kubeconfig" in text
    assert kubeconfig.exists()


def test_apply_log_holds_no_secret(tmp_path, ssh_keys, monkeypatch) -> None:
    """Run a full apply through the facade and scan every event and the run log for the API token
    and the cluster's join token."""
    import asyncio

    from khz_tui.engine.api import Target, run
    from khz_tui.plan.toml_io import load_plan
    from khz_tui.sim.simulator import Simulator

    plan = load_plan(write_plan(tmp_path, ssh_keys, name="quiet"))

    async def go():
        events = []
        async with Simulator(time_scale=0.02, seed=4) as sim:
            finished = await run("apply", plan, Target(sim.endpoint, True, sim.token, time_scale=0.02),
                                 sink=events.append)
            cluster = sim.inspect.k3s_clusters()[0]
            return finished, events, sim.token, [cluster.token, cluster.secret]

    finished, events, token, k3s_secrets = asyncio.run(go())
    assert finished.ok, finished.message
    secrets = [token, *k3s_secrets]
    dumped = "\n".join(e.model_dump_json() for e in events)
    logs = "\n".join(p.read_text() for p in Path.home().rglob("*.jsonl"))
    assert len(logs) > 1000
    for secret in secrets:
        assert secret not in dumped and secret not in logs


def test_sim_without_an_ssh_key_uses_a_generated_one(tmp_path, monkeypatch) -> None:
    # A first-time user tries --sim before owning a key pair: the run must not stop at the missing key.
    monkeypatch.setattr(sim_project, "SIM_TIME_SCALE", 0.02)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    plan = tmp_path / "first.toml"
    plan.write_text('schema_version = 1\nname = "first"\n[control_plane]\ncount = 1\n'
                    '[load_balancer]\nenabled = false\n[[worker_pools]]\nname = "default"\ncount = 0\n')
    out = io.StringIO()
    assert run_headless("apply", plan, RunOptions(sim=True, kubeconfig=tmp_path / "kc"), connect=connect, out=out) == 0
    text = out.getvalue()
    assert "does not exist; this is a simulated cloud" in text
    key = tmp_path / "data" / "khz-tui" / "simulated" / "clusters" / "first" / "sim-client-key"  # the simulated project's
    assert key.exists() and (key.stat().st_mode & 0o777) == 0o600
    assert not (tmp_path / "home" / ".ssh").exists()  # nothing written into the person's own SSH dir


def test_an_endpoint_never_gets_a_generated_key(tmp_path, monkeypatch, api_sim_thread, capsys) -> None:
    # Through --endpoint the engine treats the API as a real cloud: a missing key is bad input (exit 2).
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("HCLOUD_TOKEN", api_sim_thread.token)
    plan = tmp_path / "real.toml"
    plan.write_text('schema_version = 1\nname = "real"\n')
    out = io.StringIO()
    code = run_headless("apply", plan, RunOptions(endpoint=api_sim_thread.endpoint), connect=connect, out=out)
    assert code == 2
    assert "id_ed25519.pub does not exist" in out.getvalue()
    assert not list((tmp_path / "data").rglob("sim-client-key"))
    assert api_sim_thread.mutating_request_count == 0


def test_real_cloud_with_empty_allowed_cidrs_stops_before_any_change(tmp_path, ssh_keys, monkeypatch) -> None:
    # Hetzner cannot tell a client its own address: with empty allowed lists there is no safe
    # firewall to create, so apply must refuse before the first mutating call, not half-way.
    with SimulatorThread(time_scale=0.02, node_host_factory=recording_node_host, announce=False) as cloud:
        monkeypatch.setenv("HCLOUD_TOKEN", cloud.token)
        plan = write_plan(tmp_path, ssh_keys, name="real")
        out = io.StringIO()
        code = run_headless("apply", plan, RunOptions(endpoint=cloud.endpoint), connect=connect, out=out)
        assert code == 2
        text = out.getvalue()
        assert "ssh.allowed_cidrs" in text and "203.0.113.7/32" in text
        assert cloud.mutating_request_count == 0


def test_a_headless_dry_run_says_the_plans_warnings(tmp_path, capsys, monkeypatch) -> None:
    """Validate and the review screen show a plan's warnings; a headless run must too (here: autoscaling
    is priced but no autoscaler is installed), on stderr, before the run."""
    plan = tmp_path / "auto.toml"
    plan.write_text('schema_version = 1\nname = "auto"\n\n[[worker_pools]]\nname = "web"\ncount = 1\n'
                    '[worker_pools.autoscaling]\nmin = 1\nmax = 3\n')
    monkeypatch.setenv("KHZ_TEST_TOKEN", "x" * 64)
    # Nothing listens on the discard port: the run itself stops at the endpoint check, after the warning.
    code = run_headless("dry-run", plan, RunOptions(endpoint="http://127.0.0.1:9/v1", token_env="KHZ_TEST_TOKEN"),
                        connect=connect)
    assert code == 2
    err = capsys.readouterr().err
    assert "warning: worker_pools" in err and "autoscal" in err, err


def test_the_exit_code_is_the_outcome_of_the_runs_last_event(capsys) -> None:
    """A signal that comes after RunFinished changes nothing (the run had done its work); one that stopped
    the run before it finished gives 130, or 143 for SIGTERM, and says what to run next."""
    from khz_tui.engine.events import RunFinished
    from khz_tui.engine.outcome import Outcome
    from khz_tui.headless.run import _exit

    done = RunFinished(mode="dry-run", ok=True, message="1 change(s)", outcome=Outcome.SUCCEEDED)
    assert _exit("dry-run", done, stopped="interrupted") == 0
    assert capsys.readouterr().err == ""
    stopped = RunFinished(mode="apply", ok=False, message="interrupted", outcome=Outcome.INTERRUPTED,
                          failed_step="interrupted")
    assert _exit("apply", stopped, stopped="terminated (SIGTERM)", terminated=True) == 143
    assert "terminated (SIGTERM). Apply again" in capsys.readouterr().err
    assert _exit("destroy", None, stopped="interrupted") == 130, "stopped before the run began"
    assert "destroy again" in capsys.readouterr().err
    assert _exit("apply", None) == 1, "no RunFinished and no signal: it failed"
