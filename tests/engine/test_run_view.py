"""RunView folds a run's events into what the headless printer and the run console show: the nodes in planned
order with their phases and addresses, the steps, the diff, verify, locks, repairs, counters and the outcome.
Streams are the engine's own, recorded against the simulator (tests/support/recorded), or events built here."""

from __future__ import annotations

import io
from collections.abc import Iterable

from support.recorded_runs import recorded_events

from khz_tui.engine.events import (
    Change,
    ConnectionDropped,
    DeleteRetried,
    EngineEvent,
    NodePhaseChanged,
    NodePlanned,
    NodeRepaired,
    PlanDiffed,
    ResourceDeleted,
    RunFinished,
    RunLockReleased,
    RunLockTaken,
    StepFailed,
    StepFinished,
    StepStarted,
    VerifyCheckFinished,
    VerifyFinished,
)
from khz_tui.engine.outcome import Outcome
from khz_tui.engine.run_view import RunView, repair_words
from khz_tui.headless.printer import Printer, describe

PLANNED = ["demo-cp-1", "demo-cp-2", "demo-cp-3", "demo-default-1", "demo-default-2"]


def fold(events: Iterable[EngineEvent]) -> RunView:
    view = RunView()
    for event in events:
        view = view.apply(event)
    return view


def test_an_apply_lists_the_planned_nodes_in_order_with_phases_addresses_and_times() -> None:
    events = recorded_events("apply")
    view = fold(events)
    assert list(view.nodes) == PLANNED
    assert view.mode == "apply" and view.run is not None and view.run.cluster == "demo"
    for node in view.nodes.values():
        assert node.phase == "ready" and node.public_ip and node.private_ip and node.server_id
        assert [mark.phase for mark in node.history][:2] == ["creating", "booting"]
        assert node.started is not None and node.finished is not None and node.finished >= node.started
        assert node.seconds(now=10_000) == node.finished - node.started  # a finished node's clock has stopped
    cp = view.nodes["demo-cp-1"]
    assert (cp.role, cp.pool, cp.server_type, cp.location) == ("control-plane", "control-plane", "cpx22", "fsn1")
    assert view.node_progress() == 1.0
    assert view.kubeconfig is not None and view.kubeconfig.command.startswith("kubectl --kubeconfig")
    assert view.verify is not None and view.verify.ok and len(view.checks) == view.verify.passed


def test_steps_are_listed_in_order_with_their_end_and_the_failed_one_says_why() -> None:
    events = recorded_events("apply-node-unreachable")
    view = fold(events)
    titles = [s.title for s in view.steps]
    assert titles[0] == "Finding what already exists"
    assert all(s.state != "running" for s in view.steps) and view.current_step is None
    failed = view.failed_step
    stepped = next(e for e in events if isinstance(e, StepFailed))
    assert failed is not None and (failed.step, failed.message, failed.hint) == (stepped.step, stepped.message, stepped.hint)
    assert view.steps_done == len(view.steps)
    assert view.failed_node == "demo-default-1" and view.nodes["demo-default-1"].phase == "failed"
    went = next(e for e in events if isinstance(e, NodePhaseChanged) and e.phase == "failed")
    assert view.nodes["demo-default-1"].reason == went.reason and "did not accept SSH" in went.reason
    assert view.outcome is Outcome.FAILED and not view.succeeded


def test_mid_run_the_view_knows_the_steps_running_now() -> None:
    events = recorded_events("apply")
    started = next(i for i, e in enumerate(events) if isinstance(e, StepStarted) and e.step == "cluster")
    view = fold(events[: started + 1])
    assert view.current_step is not None and view.current_step.step == "cluster"
    assert view.finished is None and view.outcome is None
    view = view.apply(StepFinished(step="cluster", title="Servers and k3s bootstrap", duration=1.5, elapsed=9.0))
    cluster = next(s for s in view.steps if s.step == "cluster")
    assert (cluster.state, cluster.duration) == ("finished", 1.5)


def test_counters_are_the_latest_the_engine_reported() -> None:
    events = recorded_events("apply")
    view = fold(events)
    assert view.elapsed == max(e.elapsed for e in events)
    assert view.api_requests == max(e.api_requests for e in events)
    assert view.rate_limit_remaining == [e.rate_limit_remaining for e in events if e.rate_limit_remaining is not None][-1]
    finished = events[-1]
    assert isinstance(finished, RunFinished) and view.finished == finished and view.outcome is Outcome.SUCCEEDED


def test_a_batch_folds_to_the_same_view_as_one_event_at_a_time() -> None:
    for name in ("apply", "apply-node-unreachable", "destroy", "dry-run", "verify"):
        events = recorded_events(name)
        assert RunView().apply_all(events) == fold(events), name


def test_a_view_is_never_changed_by_folding_more() -> None:
    planned = NodePlanned(node="demo-cp-1", role="control-plane", pool="control-plane", server_type="cpx22",
                          location="fsn1")
    before = RunView().apply(planned)
    after = before.apply(NodePhaseChanged(node="demo-cp-1", phase="creating", elapsed=1.0))
    assert before.nodes["demo-cp-1"].phase == "planned" and after.nodes["demo-cp-1"].phase == "creating"
    assert before.elapsed == 0.0 and after.elapsed == 1.0


def test_destroy_ends_each_node_and_keeps_what_the_plan_says_of_servers_it_found() -> None:
    described = [NodePlanned(node=name, role="worker" if "default" in name else "control-plane",
                             pool="default" if "default" in name else "control-plane",
                             server_type="cpx32" if "default" in name else "cpx22", location="fsn1")
                 for name in PLANNED]
    view = RunView.of_plan(described)
    for event in recorded_events("destroy"):
        view = view.apply(event)
    assert list(view.nodes) != [] and {n.phase for n in view.nodes.values()} == {"deleted"}
    worker = view.nodes["demo-default-1"]
    assert (worker.role, worker.pool, worker.server_type) == ("worker", "default", "cpx32")
    assert [d.resource_type for d in view.deleted].count("server") == 5
    assert view.mode == "destroy" and view.succeeded
    # A deleted server ends its node also when no phase event said so.
    found = RunView().apply(NodePhaseChanged(node="x-cp-1", phase="deleting", elapsed=1.0))
    gone = found.apply(ResourceDeleted(resource_type="server", name="x-cp-1", id=7, elapsed=2.0))
    assert (gone.nodes["x-cp-1"].phase, gone.nodes["x-cp-1"].finished) == ("deleted", 2.0)


def test_dry_run_keeps_the_diff() -> None:
    view = fold(recorded_events("dry-run"))
    assert view.diff is not None and {c.action for c in view.diff.changes} == {"create"}
    assert "server" in {c.resource_type for c in view.diff.changes} and view.nodes == {}
    diff = PlanDiffed(changes=[Change(action="delete", resource_type="server", name="demo-default-3")])
    assert view.apply(diff).diff == diff


def test_a_failed_check_names_the_node_to_look_at() -> None:
    view = fold([
        VerifyCheckFinished(check="dns", title="DNS", ok=True, status="pass", detail="resolves"),
        VerifyCheckFinished(check="nodes", title="Nodes", ok=False, status="fail", detail="demo-default-1 is not Ready",
                            nodes=["demo-default-1"]),
        VerifyFinished(ok=False, deep=False, passed=1, failed=1, skipped=0, failed_checks=["nodes"]),
    ])
    assert [c.check for c in view.checks] == ["dns", "nodes"]
    assert view.failed_node == "demo-default-1" and view.verify is not None and not view.verify.ok
    assert [c.check for c in fold(recorded_events("verify")).checks] == ["kubeconfig", "nodes", "addons", "dns"]


def test_locks_and_repairs_are_kept_in_order() -> None:
    taken = RunLockTaken(cluster="demo", scope="local")
    repaired = NodeRepaired(node="demo-default-1", repair="server-recreated", reason=(
        "creating server demo-default-1 failed: no capacity; deleting server demo-default-1 and creating it again"))
    retried = DeleteRetried(resource_type="firewall", name="demo", attempt=2, reason="still in use")
    dropped = ConnectionDropped(node="demo-cp-2", attempt=1,
                                reason="the SSH connection to demo-cp-2 dropped during the k3s install")
    released = RunLockReleased(cluster="demo", scope="local")
    view = fold([taken, repaired, retried, dropped, released])
    assert view.locks == (taken, released)
    assert view.repairs == (repaired, retried, dropped)
    assert [lock.scope for lock in fold(recorded_events("apply")).locks] == ["local", "cloud", "cloud", "local"]


def test_repairs_read_as_the_engines_log_said_them() -> None:
    recreated = NodeRepaired(node="demo-default-1", repair="server-recreated", reason=(
        "creating server demo-default-1 failed: no capacity; deleting server demo-default-1 and creating it again "
        "(attempt 2 of 5)"))
    retried = DeleteRetried(resource_type="firewall", name="demo", attempt=2,
                            reason="still detaching from deleted servers; retrying in 0.4s")
    dropped = ConnectionDropped(node="demo-cp-2", attempt=1, reason=(
        "the SSH connection to demo-cp-2 (127.0.0.1:2222) dropped during the k3s install. The node may be "
        "rebooting; the step is retried after reconnecting."))
    assert repair_words(recreated) == recreated.reason
    assert repair_words(retried) == "firewall demo is still detaching from deleted servers; retrying in 0.4s"
    assert repair_words(dropped) == dropped.reason
    # Headless prints them as it printed the log lines they replace: "<node>: <words>", or the words alone.
    assert describe(recreated) == f"[    0.0s]   demo-default-1: {recreated.reason}"
    assert describe(retried) == "[    0.0s]   firewall demo is still detaching from deleted servers; retrying in 0.4s"
    assert describe(dropped) == f"[    0.0s]   demo-cp-2: {dropped.reason}"


def test_the_headless_summary_is_drawn_from_the_view() -> None:
    out = io.StringIO()
    printer = Printer("text", out)
    for event in recorded_events("apply"):
        printer(event)
    printer.summary()
    table = out.getvalue().split("\n\n")[-2].splitlines()
    assert table[0].split() == ["NODE", "ROLE", "TYPE", "LOCATION", "PUBLIC", "IP", "PRIVATE", "IP", "PHASE"]
    assert [row.split()[0] for row in table[1:]] == PLANNED
    assert all(row.split()[-1] == "ready" for row in table[1:])
    view = printer.view
    assert out.getvalue().rstrip().endswith(
        f"elapsed {view.elapsed:.1f}s, {view.api_requests} API requests, rate limit remaining {view.rate_limit_remaining}")
    assert printer.finished is view.finished and view.outcome is Outcome.SUCCEEDED
