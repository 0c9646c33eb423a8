"""`--sim` keeps one simulated project per user: through the public CLI in subprocesses, as a person would
run it twice in a row, with an isolated HOME and data folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from khz_tui.engine.simulated_project import simulated_project_dir
from khz_tui.launch.simulator import lock_project

pytestmark = pytest.mark.slow


def cli(*args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "khz_tui", *args], capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=timeout, env=dict(os.environ))


def json_events(out: str) -> list[dict]:
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def plan_file(tmp_path: Path, ssh_keys: tuple[Path, Path], name: str = "demo") -> Path:
    private, public = ssh_keys
    path = tmp_path / f"{name}.toml"
    path.write_text(f'schema_version = 1\nname = "{name}"\n[ssh]\npublic_key = "{public}"\nprivate_key = "{private}"\n'
                    '[control_plane]\ncount = 1\n[load_balancer]\nenabled = false\n'
                    '[[worker_pools]]\nname = "default"\ncount = 1\n')
    return path


def planned_actions(tmp_path: Path, plan: Path) -> list[str]:
    ran = cli("--dry-run", str(plan), "--sim", "--output", "json")
    assert ran.returncode == 0, ran.stderr
    diff = next(e for e in json_events(ran.stdout) if e["kind"] == "PlanDiffed")
    return [c["action"] for c in diff["changes"]]


def test_apply_then_dry_run_then_destroy_across_processes(tmp_path, ssh_keys) -> None:
    plan = plan_file(tmp_path, ssh_keys)
    applied = cli("--apply", str(plan), "--sim", "--yes")
    assert applied.returncode == 0, applied.stdout[-2000:] + applied.stderr
    # A new process, the same user: the project the apply left is loaded again.
    actions = planned_actions(tmp_path, plan)
    assert actions and "create" not in actions, actions
    destroyed = cli("--destroy", str(plan), "--sim", "--yes")
    assert destroyed.returncode == 0, destroyed.stdout[-2000:] + destroyed.stderr
    assert "deleted" in destroyed.stdout and "nothing to delete" not in destroyed.stdout
    assert set(planned_actions(tmp_path, plan)) == {"create"}  # the cluster is gone from the project


def test_simulated_cluster_state_is_kept_apart_from_real_clusters(tmp_path, ssh_keys) -> None:
    plan = plan_file(tmp_path, ssh_keys, name="apart")
    assert cli("--apply", str(plan), "--sim", "--yes").returncode == 0
    folder = simulated_project_dir()
    assert (folder / "clusters" / "apart" / "kubeconfig").exists()
    assert not (folder.parent / "clusters" / "apart").exists()  # where a real `apart` keeps its state
    assert (folder / "project.json").stat().st_mode & 0o777 == 0o600
    assert folder.stat().st_mode & 0o777 == 0o700


def test_a_second_process_is_told_who_has_the_project_and_reset_waits(tmp_path, ssh_keys) -> None:
    plan = plan_file(tmp_path, ssh_keys, name="busy")
    folder = simulated_project_dir()
    held = lock_project(folder)  # this test process plays the first `--sim` run
    try:
        ran = cli("--dry-run", str(plan), "--sim")
        assert ran.returncode == 2
        assert "the simulated project (" in ran.stderr and f"is in use by pid {os.getpid()}" in ran.stderr
        assert "Traceback" not in ran.stderr
        reset = cli("sim", "reset")
        assert reset.returncode == 75 and f"pid {os.getpid()}" in reset.stderr
    finally:
        held.release()


def test_sim_reset_empties_the_project(tmp_path, ssh_keys) -> None:
    plan = plan_file(tmp_path, ssh_keys, name="gone")
    assert cli("--apply", str(plan), "--sim", "--yes").returncode == 0
    reset = cli("sim", "reset")
    assert reset.returncode == 0, reset.stderr
    assert "removed the simulated cloud" in reset.stdout and "gone" in reset.stdout
    assert not (simulated_project_dir() / "clusters" / "gone" / "host-keys").exists()
    again = cli("sim", "reset")
    assert again.returncode == 0 and "already empty" in again.stdout
    assert set(planned_actions(tmp_path, plan)) == {"create"}


async def test_runs_in_one_process_share_one_simulator(make_plan) -> None:
    # The review's dry-run may still be asking when the run console starts an apply: same project, same cloud.
    from khz_tui.engine.options import RunOptions
    from khz_tui.launch.connect import connect

    plan = make_plan("shared")
    async with connect(plan, RunOptions(sim=True)) as first:
        async with connect(plan, RunOptions(sim=True)) as second:
            assert second.endpoint == first.endpoint and second.token == first.token
            assert first.state_dir == simulated_project_dir() and "simulated" in first.project
    async with connect(plan, RunOptions(sim=True)) as later:  # closed and saved, then opened again
        assert later.simulated
    assert (simulated_project_dir() / "project.json").exists()
