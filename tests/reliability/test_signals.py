"""Ctrl-C and SIGTERM stop a headless run cleanly, and the advice fits the interrupted mode.

The real CLI runs in a child process (`python -m khz_tui --apply/--destroy/--dry-run PLAN --endpoint URL
--output json`) against a simulator in this process; the signal is sent once the JSON event stream shows
the run at the point under test. A fault profile adds server-side latency to the requests the run is
in, so the signal lands mid-request and not after the run has ended.

The stream is read as it comes (`support.event_stream`): a buffered `readline()` once held the
dry-run's discovery event back until the run had finished, so the signal came too late.
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
from hcloud import Client
from reliability_helpers import duplicates, labeled, plan_data
from support.event_stream import Event, EventStream

from khz_tui.sim.faults import EndpointFaults, FaultProfile
from khz_tui.sim.simulator import SimulatorThread, recording_node_host

ROOT = Path(__file__).resolve().parents[2]
RUN_TIMEOUT = 120.0
LABELS = {"khz-tui.io/managed-by": "khz-tui"}



def write_plan(tmp_path: Path, ssh_keys, name: str, **kwargs: Any) -> Path:
    path = tmp_path / f"{name}.toml"
    path.write_text(tomli_w.dumps({"schema_version": 1, **plan_data(name, ssh_keys, **kwargs)}), encoding="utf-8")
    return path


class Child:
    """A khz-tui process and its JSON event stream (one event a line on stdout, read from its descriptor)."""

    def __init__(self, proc: subprocess.Popen) -> None:
        self.proc = proc
        self.stream = EventStream(proc)

    def events_until(self, stop: Callable[[Event], bool] | None) -> tuple[list[Event], bool]:
        """JSON events until `stop` matches (True) or the stream ends (False); bounded in time."""
        return self.stream.until(stop, RUN_TIMEOUT)

    def finish(self) -> tuple[int, list[Event], str]:
        """Read the rest of the run; (exit code, remaining events, stderr)."""
        proc = self.proc
        try:
            events, _ = self.events_until(None)
            code = proc.wait(30)
            return code, events, proc.stderr.read()
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
            proc.stdout.close()
            proc.stderr.close()

    def interrupt_at(self, stop: Callable[[Event], bool], sig: signal.Signals) -> tuple[int, list[Event], str]:
        events, hit = self.events_until(stop)
        assert hit, f"the run ended before the signal point: {events[-1] if events else self.proc.stderr.read()}"
        self.proc.send_signal(sig)
        code, rest, err = self.finish()
        return code, events + rest, err


def start(mode: str, plan: Path, sim: Any, *extra: str) -> Child:
    env = {**os.environ, "HCLOUD_TOKEN": sim.token, "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(ROOT)}
    return Child(subprocess.Popen(
        [sys.executable, "-m", "khz_tui", f"--{mode}", str(plan), "--endpoint", sim.endpoint, "--output", "json",
         *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, env=env, text=True,
    ))


def slow(pattern: str, ms: float = 4000) -> FaultProfile:
    """Server-side latency on `pattern` (not time-scaled): the window the signal lands in."""
    return FaultProfile(name="slow", endpoints=[EndpointFaults(pattern=pattern, latency_ms=(ms, ms))])


@pytest.fixture
def slow_deletes() -> Iterator[SimulatorThread]:
    loop = SimulatorThread(time_scale=0.02, seed=11, node_host_factory=recording_node_host,
                           faults=slow("DELETE *"))
    with loop:
        yield loop


def test_ctrl_c_during_destroy_advises_destroying_again(tmp_path, ssh_keys, slow_deletes) -> None:
    sim = slow_deletes.sim
    name = "gone"
    hc = Client(token=sim.token, api_endpoint=sim.endpoint)
    labels = {**LABELS, "khz-tui.io/cluster": name}
    hc.placement_groups.create(name=f"{name}-cp", type="spread", labels=labels)
    hc.ssh_keys.create(name=name, public_key=ssh_keys[1].read_text().strip(), labels=labels)
    plan = write_plan(tmp_path, ssh_keys, name, cp=1, workers=0, lb=False)

    code, events, err = start("destroy", plan, sim, "--yes").interrupt_at(
        lambda e: e["kind"] == "StepStarted" and e["step"] == "infrastructure", signal.SIGINT)
    assert code == 130, err
    last = events[-1]
    assert last["kind"] == "RunFinished" and last["failed_step"] == "interrupted"
    said = f"{last['message']} {last['hint']} {err}".lower()
    assert "destroy again" in said, said
    assert "apply again" not in said, "applying would rebuild the cluster being deleted"

    code, events, err = start("destroy", plan, sim, "--yes").finish()
    assert code == 0, err
    assert not hc.placement_groups.get_all(label_selector=f"khz-tui.io/cluster={name}")
    assert not hc.ssh_keys.get_all(label_selector=f"khz-tui.io/cluster={name}")


@pytest.fixture
def slow_reads() -> Iterator[SimulatorThread]:
    # 10 s: a window no loaded CI machine misses between reading the event and sending the signal;
    # the run stops at once when signalled, so the test does not wait it out.
    loop = SimulatorThread(time_scale=0.02, seed=12, node_host_factory=recording_node_host,
                           faults=slow("GET /servers*", ms=10_000))
    with loop:
        yield loop


def test_ctrl_c_during_dry_run_says_there_is_nothing_to_resume(tmp_path, ssh_keys, slow_reads) -> None:
    sim = slow_reads.sim
    plan = write_plan(tmp_path, ssh_keys, "look", cp=1, workers=0, lb=False)
    code, events, err = start("dry-run", plan, sim).interrupt_at(
        lambda e: e["kind"] == "StepStarted" and e["step"] == "discover", signal.SIGINT)
    assert code == 130, err
    last = events[-1]
    assert last["kind"] == "RunFinished" and last["failed_step"] == "interrupted" and last["outcome"] == "interrupted"
    said = f"{last['message']} {last['hint']} {err}".lower()
    assert "nothing to resume" in said and "apply again" not in said, said
    assert sim.mutating_request_count == 0


@pytest.fixture
def nodes_sim() -> Iterator[SimulatorThread]:
    loop = SimulatorThread(time_scale=0.02, seed=13)
    with loop:
        yield loop


def test_sigterm_during_apply_stops_like_ctrl_c_and_the_rerun_finishes(tmp_path, ssh_keys, nodes_sim) -> None:
    sim = nodes_sim.sim
    name = "term"
    plan = write_plan(tmp_path, ssh_keys, name, cp=1, workers=1, lb=False)

    code, events, err = start("apply", plan, sim).interrupt_at(
        lambda e: e["kind"] == "ResourceCreated" and e["resource_type"] == "server", signal.SIGTERM)
    assert code == 143, err
    last = events[-1]
    assert last["kind"] == "RunFinished" and not last["ok"] and last["failed_step"] == "interrupted"
    assert "resumable" in last["message"]
    assert "terminated" in err and "apply again" in err.lower()

    code, events, err = start("apply", plan, sim).finish()
    assert code == 0, (events[-1] if events else None, err[-2000:])
    assert duplicates(sim, name) == []  # sim.inspect reads on the simulator's own loop
    assert {s.name for s in labeled(sim, "servers", name)} == {f"{name}-cp-1", f"{name}-default-1"}
