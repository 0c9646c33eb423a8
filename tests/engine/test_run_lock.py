"""The run-lock marker's life: label encoding, renewal while the run lasts, deletion on success and on
Ctrl-C, and no marker at all for dry-run or a no-op rerun."""

from __future__ import annotations

import asyncio
import re

import pytest

from khz_tui.engine import run_lock
from khz_tui.engine.api import run
from khz_tui.engine.events import RunLockTaken
from khz_tui.engine.options import RunOptions
from khz_tui.engine.run_lock import Claim, label_value
from khz_tui.sim.inspection import PlacementGroup

# The spec's rule for label values: "must be a string of 63 characters or less and must be empty or
# begin and end with an alphanumeric character ([a-z0-9A-Z]) with dashes (-), underscores (_), dots
# (.), and alphanumerics between."
LABEL_VALUE = re.compile(r"^([a-z0-9A-Z]((?:[\-_.]|[a-z0-9A-Z]){0,61}[a-z0-9A-Z])?)?$")


@pytest.mark.parametrize("host", ["vm", "build-7.example.org", "my host (eu)", "-x-", "ü" * 5, "a" * 200, "ci_runner."])
def test_marker_labels_are_valid_label_values(host) -> None:
    claim = Claim(owner="ab" * 16, pid=12345, host=host, started=1_700_000_000, expires=1_700_000_300, mode="apply")
    labels = claim.labels("demo")
    assert all(LABEL_VALUE.match(v) for v in labels.values()), labels
    back = Claim.from_labels(labels, "demo")
    assert back.pid == 12345 and back.expires == 1_700_000_300 and back.started == 1_700_000_000
    assert back.holder().since == "2023-11-14 22:13:20 UTC"
    assert label_value(host) == back.host
    assert Claim.from_labels(labels, "other") is None, "a marker of another cluster is not ours"


def _marker(sim, cluster: str) -> PlacementGroup | None:
    return next((g for g in sim.inspect.placement_groups() if g.name == f"{cluster}-run-lock"), None)


async def test_the_marker_is_renewed_while_the_run_lasts_and_deleted_at_its_end(sim, make_plan, monkeypatch) -> None:
    monkeypatch.setattr(run_lock, "TTL", 10.0)  # 0.2 s at the test's time scale: many renewals per run
    monkeypatch.setattr(run_lock, "MIN_TTL", 0.2)
    seen: list[str] = []

    def sink(event) -> None:
        marker = _marker(sim, "renew")
        if marker is not None:
            seen.append(marker.labels[run_lock.EXPIRES_LABEL])

    plan = make_plan("renew", cp=1, workers=1, lb=False)
    finished = await run("apply", plan, _target(sim), sink=sink, options=RunOptions())
    assert finished.ok, finished.message
    expiries = [float(v) for v in seen]
    assert len(set(expiries)) >= 2, "the expiry moved forward while the run lasted"
    assert expiries == sorted(expiries)
    assert _marker(sim, "renew") is None


async def test_ctrl_c_deletes_the_marker(sim, make_plan) -> None:
    plan = make_plan("halt", cp=1, workers=1, lb=False)
    taken = asyncio.Event()

    def sink(event) -> None:
        if isinstance(event, RunLockTaken) and event.scope == "cloud":
            taken.set()

    task = asyncio.create_task(run("apply", plan, _target(sim), sink=sink, options=RunOptions()))
    await asyncio.wait_for(taken.wait(), 60)
    assert _marker(sim, "halt") is not None
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert _marker(sim, "halt") is None, "an interrupted run does not leave its marker behind"


async def test_dry_run_and_a_no_op_rerun_take_no_marker(sim, make_plan, engine_run) -> None:
    plan = make_plan("quiet", cp=1, workers=0, lb=False)
    dry = await engine_run("dry-run", plan, sim)
    assert not dry.of("RunLockTaken")
    first = await engine_run("apply", plan, sim)
    assert first.finished.ok and [e.scope for e in first.of("RunLockTaken")] == ["local", "cloud"]
    before = sim.mutating_request_count
    again = await engine_run("apply", plan, sim)
    assert again.finished.ok and [e.scope for e in again.of("RunLockTaken")] == ["local"]
    assert sim.mutating_request_count == before


def _target(sim):
    from support.simulator import target_of

    return target_of(sim)


async def test_destroy_removes_a_marker_left_behind(api_sim, make_plan, engine_run) -> None:
    # The only remnant of a run killed long ago: destroy takes it over (expired) and deletes it.
    import time

    from hcloud import Client

    now = time.time()
    claim = Claim(owner="dead", pid=99, host="gone", started=now - 900, expires=now - 300, mode="apply")
    hc = Client(token=api_sim.token, api_endpoint=api_sim.endpoint)
    await asyncio.to_thread(hc.placement_groups.create, name="left-run-lock", type="spread", labels=claim.labels("left"))
    out = await engine_run("destroy", make_plan("left", cp=1), api_sim, yes=True)
    assert out.finished.ok, out.finished.message
    assert _marker(api_sim, "left") is None
    taken = out.of("RunLockTaken")[-1]
    assert "pid 99 on host gone" in taken.took_over and taken.takeover == "expired"
