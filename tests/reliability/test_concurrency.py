"""One run per cluster at a time, through the public CLI in subprocesses against one simulator.

A "machine" is a HOME with its own XDG folders (its own khz-tui state folder). Two runs on one
machine meet at the flock in the cluster's state folder; runs on two machines meet at the run-lock
marker in the project (a placement group `<cluster>-run-lock` whose name is unique). The loser stops
with `another run of cluster X is in progress since T (pid P on host H)` and exit code 75, having
changed nothing; the winner's cluster is complete, and a rerun afterwards sends no mutating request.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from hcloud import Client
from reliability_helpers import duplicates, ready_servers, target_of

from khz_tui.engine import run_lock
from khz_tui.engine.api import run
from khz_tui.engine.options import RunOptions
from khz_tui.engine.run_lock import Claim
from khz_tui.sim.api.config import Durations
from khz_tui.sim.inspection import PlacementGroup
from khz_tui.sim.simulator import SimulatorThread

TIME_SCALE = 0.02
#: Bound on one CLI run (a one-node cluster takes a few seconds at this scale).
RUN_TIMEOUT = 120
LOCKED = 75
MESSAGE = "another run of cluster {} is in progress since "


@dataclass
class Ran:
    code: int
    events: list[dict]
    stderr: str
    pid: int

    def of(self, kind: str) -> list[dict]:
        return [e for e in self.events if e["kind"] == kind]

    @property
    def finished(self) -> dict:
        return self.of("RunFinished")[-1]


def write_plan(folder: Path, ssh_keys: tuple[Path, Path], name: str) -> Path:
    private, public = ssh_keys
    path = folder / f"{name}.toml"
    path.write_text(
        f'schema_version = 1\nname = "{name}"\n\n[ssh]\npublic_key = "{public}"\nprivate_key = "{private}"\n'
        '\n[control_plane]\ncount = 1\n\n[load_balancer]\nenabled = false\n'
        '\n[[worker_pools]]\nname = "default"\ncount = 1\n'
    )
    return path


def machine(tmp_path: Path, name: str) -> dict[str, str]:
    """The environment of one machine: its own HOME and XDG folders, hence its own state folder."""
    home = tmp_path / name
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HCLOUD_", "XDG_")) and k != "KUBECONFIG"}
    env["HOME"] = str(home)
    for var, sub in (("XDG_DATA_HOME", "data"), ("XDG_STATE_HOME", "state"), ("XDG_CONFIG_HOME", "config"),
                     ("XDG_CACHE_HOME", "cache")):
        env[var] = str(home / sub)
    return env


def state_dir(env: dict[str, str], cluster: str) -> Path:
    return Path(env["XDG_DATA_HOME"]) / "khz-tui" / "clusters" / cluster


def start(sim, env: dict[str, str], mode: str, plan: Path, *extra: str) -> subprocess.Popen:
    env = dict(env, HCLOUD_TOKEN=sim.token)
    return subprocess.Popen(
        [sys.executable, "-m", "khz_tui.cli", f"--{mode}", str(plan), "--endpoint", sim.endpoint,
         "--output", "json", *extra],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
    )


def finish(proc: subprocess.Popen) -> Ran:
    try:
        out, err = proc.communicate(timeout=RUN_TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        raise AssertionError(f"a CLI run outlived {RUN_TIMEOUT}s:\n{out[-3000:]}\n{err[-2000:]}") from None
    events = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    return Ran(proc.returncode, events, err, proc.pid)


def cli(sim, env, mode: str, plan: Path, *extra: str) -> Ran:
    return finish(start(sim, env, mode, plan, *extra))


def markers(sim, cluster: str) -> list[PlacementGroup]:
    return [g for g in sim.inspect.placement_groups() if g.name == f"{cluster}-run-lock"]


def assert_refused(ran: Ran, cluster: str, holder_pid: int | None = None) -> None:
    text = json.dumps(ran.events)
    assert ran.code == LOCKED, (ran.code, ran.finished, ran.stderr[-2000:])
    message = ran.finished["message"]
    assert message.startswith(MESSAGE.format(cluster)) and " UTC (pid " in message, message
    assert ran.finished["failed_step"] == "locked"
    if holder_pid is not None:
        assert f"(pid {holder_pid} on host " in message, message
    for kind in ("ResourceCreated", "ResourceDeleted", "NodePlanned"):
        assert kind not in text, f"the refused run must change nothing, yet it reported {kind}"
    assert ran.of("RunLockRefused"), "the refusal is an event too"


def assert_complete(sim, cluster: str) -> None:
    names, ready = ready_servers(sim, cluster)  # sim.inspect reads on the simulator's own loop
    assert names == ready == {f"{cluster}-cp-1", f"{cluster}-default-1"}, (names, ready)
    assert duplicates(sim, cluster) == []
    assert markers(sim, cluster) == [], "the run lock is deleted when the run ends"


@pytest.fixture
def sim():
    with SimulatorThread(time_scale=TIME_SCALE, seed=31) as running:
        yield running


@pytest.mark.parametrize("machines", [1, 2, 3], ids=["two-runs-one-machine", "two-machines", "three-machines"])
def test_simultaneous_applies_exactly_one_proceeds(sim, ssh_keys, tmp_path, machines) -> None:
    runs = 2 if machines == 1 else machines
    envs = [machine(tmp_path, f"m{i % machines}") for i in range(runs)]
    plan = write_plan(tmp_path, ssh_keys, "race")
    procs = [start(sim, env, "apply", plan) for env in envs]  # all at once
    results = [finish(p) for p in procs]

    codes = sorted(r.code for r in results)
    assert codes == [0] + [LOCKED] * (runs - 1), [(r.code, r.finished["message"]) for r in results]
    winner = next(r for r in results if r.code == 0)
    for loser, env in zip(results, envs):
        if loser is winner:
            continue
        assert_refused(loser, "race", holder_pid=winner.pid)
        scope = loser.of("RunLockRefused")[0]["scope"]
        assert scope == ("local" if machines == 1 else "cloud")
        if machines > 1:  # a machine that lost wrote no host key: it never meant to create a server
            assert not list(state_dir(env, "race").glob("host-keys/*"))
    assert_complete(sim, "race")

    # A third apply afterwards (from the winner's machine) finds everything done: no mutating request.
    winner_env = envs[results.index(winner)]
    before = sim.mutating_request_count
    third = cli(sim, winner_env, "apply", plan)
    assert third.code == 0, third.finished
    assert sim.mutating_request_count == before
    assert not [e for e in third.of("RunLockTaken") if e["scope"] == "cloud"], "a no-op rerun takes no marker"
    assert_complete(sim, "race")


@pytest.mark.parametrize("same_machine", [True, False], ids=["same-machine", "other-machine"])
async def test_apply_during_destroy_is_refused(ssh_keys, tmp_path, monkeypatch, same_machine) -> None:
    # Server deletes take 10 s here, so the destroy holds the cluster (both locks, once confirmed)
    # long enough for an apply to start and meet it; the wait for that moment is bounded.
    with SimulatorThread(time_scale=TIME_SCALE, seed=31, durations=Durations(server_delete=500.0)) as sim:
        plan_path = write_plan(tmp_path, ssh_keys, "bye")
        destroyer = machine(tmp_path, "m0")
        first = await asyncio.to_thread(cli, sim, destroyer, "apply", plan_path)
        assert first.code == 0, first.finished

        from khz_tui.plan.toml_io import load_plan

        plan = load_plan(plan_path)
        for var in ("HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CONFIG_HOME"):  # this process is machine m0
            monkeypatch.setenv(var, destroyer[var])
        events: list = []
        before_destroy = sim.mutating_request_count

        async def confirm(question: str) -> bool:
            # An unconfirmed destroy has taken nothing in the cloud yet.
            assert markers(sim, "bye") == [] and sim.mutating_request_count == before_destroy
            return True

        # The destroy must send nothing while the apply runs, or the count below would see it: no renewal
        # of its marker (renewed every TTL/4, at least 15 s / 4 here), and every server's delete already sent.
        monkeypatch.setattr(run_lock, "MIN_TTL", 3600.0)
        destroy = asyncio.create_task(run("destroy", plan, target_of(sim), sink=events.append, confirm=confirm,
                                          options=RunOptions()))
        deadline = time.monotonic() + 60
        while not all(s.status == "deleting" for s in sim.inspect.servers("khz-tui.io/cluster=bye")):
            assert time.monotonic() < deadline and not destroy.done(), "the destroy never started deleting"
            await asyncio.sleep(0.05)
        assert len(markers(sim, "bye")) == 1, "a confirmed destroy holds the marker while it deletes"
        applier = destroyer if same_machine else machine(tmp_path, "m1")
        before = sim.mutating_request_count
        refused = await asyncio.to_thread(cli, sim, applier, "apply", plan_path)
        assert_refused(refused, "bye", holder_pid=os.getpid())
        if same_machine:  # stopped by this machine's lock, before its first request
            assert refused.finished["api_requests"] == 0, refused.finished
        else:  # at most the refused attempt to create the marker reached the API
            assert any(s.status == "deleting" for s in sim.inspect.servers("khz-tui.io/cluster=bye")), (
                "the destroy had finished deleting servers before the refused apply ended: the count includes its requests")
            assert sim.mutating_request_count - before <= 1
        finished = await asyncio.wait_for(destroy, 120)
        assert finished.ok, finished.message
        assert not sim.inspect.servers("khz-tui.io/cluster=bye")
        assert markers(sim, "bye") == [], "destroy deletes the marker too"


def _plant_marker(sim, cluster: str, *, expires_in: float) -> None:
    now = time.time()
    claim = Claim(owner="0123456789abcdef", pid=4242, host="build-7.example", started=now - 3600,
                  expires=now + expires_in, mode="apply")
    Client(token=sim.token, api_endpoint=sim.endpoint).placement_groups.create(
        name=f"{cluster}-run-lock", type="spread", labels=claim.labels(cluster))


def test_an_expired_marker_is_taken_over(sim, ssh_keys, tmp_path) -> None:
    _plant_marker(sim, "late", expires_in=-5)  # what a run killed long ago leaves
    ran = cli(sim, machine(tmp_path, "m0"), "apply", write_plan(tmp_path, ssh_keys, "late"))
    assert ran.code == 0, ran.finished
    taken = [e for e in ran.of("RunLockTaken") if e["scope"] == "cloud"]
    assert taken and "pid 4242 on host build-7.example" in taken[0]["took_over"]
    assert taken[0]["takeover"] == "expired"
    assert_complete(sim, "late")


def test_a_killed_runs_marker_stops_other_machines_but_not_its_own_rerun(sim, ssh_keys, tmp_path) -> None:
    env, other = machine(tmp_path, "m0"), machine(tmp_path, "m1")
    plan = write_plan(tmp_path, ssh_keys, "kill")
    proc = start(sim, env, "apply", plan)
    deadline = time.monotonic() + RUN_TIMEOUT
    for line in proc.stdout:  # bounded by the run itself and the deadline
        event = json.loads(line) if line.startswith("{") else {}
        if event.get("kind") == "RunLockTaken" and event.get("scope") == "cloud":
            break
        assert time.monotonic() < deadline
    proc.send_signal(signal.SIGKILL)  # no chance to clean up: the marker stays, the OS drops the flock
    proc.wait(timeout=30)
    assert len(markers(sim, "kill")) == 1

    # Another machine cannot know the run is dead: it waits for the expiry, or --force-unlock.
    elsewhere = cli(sim, other, "apply", plan)
    assert_refused(elsewhere, "kill", holder_pid=proc.pid)
    assert "--force-unlock" in elsewhere.finished["hint"]
    unconfirmed = cli(sim, other, "apply", plan, "--force-unlock")  # headless never asks: --yes confirms
    assert unconfirmed.code == 2 and unconfirmed.finished["failed_step"] == "confirm"
    assert len(markers(sim, "kill")) == 1

    # The killed run's own machine holds the flock the dead run held: it takes the marker over at once.
    again = cli(sim, env, "apply", plan)
    assert again.code == 0, again.finished
    taken = [e for e in again.of("RunLockTaken") if e["scope"] == "cloud"]
    assert taken and f"pid {proc.pid} on host " in taken[0]["took_over"]
    assert_complete(sim, "kill")


def test_force_unlock_yes_takes_a_live_marker_over_at_once(sim, ssh_keys, tmp_path) -> None:
    _plant_marker(sim, "stuck", expires_in=600)  # another machine's run, as far as anyone can tell
    env, plan = machine(tmp_path, "m0"), write_plan(tmp_path, ssh_keys, "stuck")
    refused = cli(sim, env, "apply", plan)
    assert_refused(refused, "stuck", holder_pid=4242)
    assert "on host build-7.example)" in refused.finished["message"]

    forced = cli(sim, env, "apply", plan, "--force-unlock", "--yes")
    assert forced.code == 0, forced.finished
    taken = [e for e in forced.of("RunLockTaken") if e["scope"] == "cloud"]
    assert taken and "pid 4242 on host build-7.example" in taken[0]["took_over"]
    assert taken[0]["takeover"] == "forced"
    assert_complete(sim, "stuck")


def test_a_machine_that_did_not_create_a_server_never_pins_a_key_for_it(sim, ssh_keys, tmp_path) -> None:
    # Writing a freshly generated key for a server that already exists could only be a wrong pin,
    # and it used to stay on disk: every later run from that machine failed as an "interception".
    plan = write_plan(tmp_path, ssh_keys, "pinned")
    creator, other = machine(tmp_path, "m0"), machine(tmp_path, "m1")
    assert cli(sim, creator, "apply", plan).code == 0
    keys = {p.name: p.read_bytes() for p in state_dir(creator, "pinned").glob("host-keys/*")}
    assert set(keys) >= {"pinned-cp-1", "pinned-default-1"}

    elsewhere = cli(sim, other, "apply", plan)
    assert elsewhere.code == 1
    message = elsewhere.finished["message"]
    assert "this machine holds no host key for it" in message and "delete" not in elsewhere.finished["hint"]
    assert not list(state_dir(other, "pinned").glob("host-keys/*")), "no pin written for a server it did not create"
    assert {p.name: p.read_bytes() for p in state_dir(creator, "pinned").glob("host-keys/*")} == keys
    assert markers(sim, "pinned") == [], "the failed run released its marker"

    before = sim.mutating_request_count
    assert cli(sim, creator, "apply", plan).code == 0  # the creator's pins still match its servers
    assert sim.mutating_request_count == before
    assert_complete(sim, "pinned")
