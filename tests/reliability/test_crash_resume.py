"""Crash-resume: the real headless CLI, SIGKILLed at points spread over the run, then run again.

The simulator runs in this test process (on 127.0.0.1, in a background thread); the engine runs as
`python -m khz_tui --apply PLAN --endpoint URL --output json` in a child process with HCLOUD_TOKEN in
its environment and HOME/XDG dirs in tmp_path, so the host keys it generated survive into the rerun.
The kill point is read from the JSON event stream. After the rerun: exit 0, no duplicate resource,
every planned server Ready in the simulator's k3s, all of them in one cluster, the same k3s token.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import tomli_w
from reliability_helpers import cluster_servers, clusters_holding, duplicates, labeled, plan_data, ready_servers
from support.event_stream import Event, EventStream

from khz_tui.sim.simulator import Simulator, SimulatorThread

TIME_SCALE = 0.02
RUN_TIMEOUT = 120.0



def _phase(node_suffix: str, phase: str) -> Callable[[Event], bool]:
    return lambda e: e["kind"] == "NodePhaseChanged" and e["node"].endswith(node_suffix) and e["phase"] == phase


def _created(kind: str, count: int = 1) -> Callable[[Event], bool]:
    seen = {"n": 0}

    def hit(e: Event) -> bool:
        if e["kind"] == "ResourceCreated" and e["resource_type"] == kind:
            seen["n"] += 1
        return seen["n"] >= count

    return hit


# Where to kill, in run order. Each predicate sees every event of the stream.
KILL_POINTS: dict[str, Callable[[], Callable[[Event], bool]]] = {
    "after-network": lambda: _created("network"),
    "mid-server-creation": lambda: _created("server", 2),
    "server-booting": lambda: _phase("-cp-1", "booting"),
    "mid-first-install": lambda: _phase("-cp-1", "installing"),
    "mid-join-worker": lambda: _phase("-default-1", "installing"),
    "mid-join-server": lambda: _phase("-cp-2", "installing"),
    "mid-add-ons": lambda: (lambda e: e["kind"] == "StepStarted" and e["step"] == "addons"),
    "writing-kubeconfig": lambda: (lambda e: e["kind"] == "StepStarted" and e["step"] == "kubeconfig"),
}


@pytest.fixture
def sim_thread() -> Iterator[Simulator]:
    """The simulator on its own loop, for the CLI runs in subprocesses (`sim.inspect` reads on that loop)."""
    with SimulatorThread(time_scale=TIME_SCALE, seed=5) as sim:
        yield sim


def write_plan(tmp_path: Path, ssh_keys, name: str, **kwargs: Any) -> Path:
    path = tmp_path / f"{name}.toml"
    data = {"schema_version": 1, **plan_data(name, ssh_keys, **kwargs)}
    path.write_text(tomli_w.dumps(data), encoding="utf-8")
    return path


def start_apply(plan: Path, sim: Simulator) -> subprocess.Popen:
    env = dict(os.environ, HCLOUD_TOKEN=sim.token, PYTHONUNBUFFERED="1")
    return subprocess.Popen(
        [sys.executable, "-m", "khz_tui", "--apply", str(plan), "--endpoint", sim.endpoint, "--output", "json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, env=env, text=True,
    )


def events_until(proc: subprocess.Popen, stop: Callable[[Event], bool] | None, timeout: float) -> tuple[list[Event], bool]:
    """JSON events until `stop` matches (True) or the process's stream ends (False); bounded in time.
    Read as they come (`support.event_stream`), so the kill lands at the event, not at a later one."""
    return EventStream(proc).until(stop, timeout)


def k3s_token(sim: Simulator, cluster: str) -> str | None:
    found = clusters_holding(sim, cluster_servers(sim, cluster))
    return found[0].token if found else None


@pytest.mark.parametrize("point", list(KILL_POINTS))
def test_sigkill_then_rerun_converges(tmp_path, ssh_keys, sim_thread, point: str) -> None:
    name = "crash"
    plan = write_plan(tmp_path, ssh_keys, name, cp=3, workers=2)
    proc = start_apply(plan, sim_thread)
    try:
        events, hit = events_until(proc, KILL_POINTS[point](), RUN_TIMEOUT)
        assert hit, f"the run ended before reaching {point}: {events[-1] if events else proc.stderr.read()}"
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(10) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        proc.stdout.close()
        proc.stderr.close()
    assert not events or events[-1]["kind"] != "RunFinished", "SIGKILL must leave no chance to say goodbye"
    token_before = k3s_token(sim_thread, name)
    # A kill can land mid-write and leave a hidden temporary file: not a key (the next run sweeps it).
    host_keys = sorted(p.name for p in Path.home().rglob("host-keys/*") if not p.name.endswith(".pub") and not p.name.startswith("."))

    rerun = start_apply(plan, sim_thread)
    try:
        events, _ = events_until(rerun, None, RUN_TIMEOUT)
        code = rerun.wait(30)
        err = rerun.stderr.read()
    finally:
        if rerun.poll() is None:
            rerun.kill()
            rerun.wait(10)
        rerun.stdout.close()
        rerun.stderr.close()
    last = events[-1] if events else {}
    assert code == 0, (point, last.get("failed_step"), last.get("message"), err[-2000:])
    assert last["kind"] == "RunFinished" and last["ok"]

    wanted = {f"{name}-cp-{i}" for i in (1, 2, 3)} | {f"{name}-default-{i}" for i in (1, 2)}
    assert duplicates(sim_thread, name) == []
    servers, ready = ready_servers(sim_thread, name)
    assert servers == wanted and ready == wanted, (servers, ready)
    holding = clusters_holding(sim_thread, cluster_servers(sim_thread, name))
    assert len(holding) == 1, "every node must be in one k3s cluster"
    assert {n.name for n in holding[0].nodes.values()} == wanted
    if token_before is not None:
        assert holding[0].token == token_before, "a resumed run must keep the cluster's token"
    for kind in ("networks", "firewalls", "load_balancers"):
        assert len(labeled(sim_thread, kind, name)) == 1, kind
    # The host keys of the first run were reused, not replaced (the pins match the servers' keys).
    after = sorted(p.name for p in Path.home().rglob("host-keys/*") if not p.name.endswith(".pub") and not p.name.startswith("."))
    assert set(host_keys) <= set(after)
    for key_name in host_keys:
        server = sim_thread.inspect.server(key_name)
        pinned = next(Path.home().rglob(f"host-keys/{key_name}.pub")).read_text().split()[1]
        presented = sim_thread.inspect.host_public_key(server.id)
        assert presented is not None and presented.export_public_key("openssh").decode().split()[1] == pinned
