"""How a run ended, decided once: the Outcome the engine puts on RunFinished, what it raised mapped to one
(`run_ending.ending_of`), and the exit code every front end gives for it (`outcome.exit_code`).

Pure: no cloud, no simulator. The end-to-end cases (a real locked, refused, interrupted and failed run
and their exit codes) are in test_headless.py, test_verify.py and reliability/test_{signals,concurrency}.py.
"""

from __future__ import annotations

import signal

import pytest

from khz_tui.engine.cloud.client import BAD_ENDPOINT, CloudError
from khz_tui.engine.cluster_files import LockHolder
from khz_tui.engine.context import NotConfirmed
from khz_tui.engine.events import RunFinished
from khz_tui.engine.outcome import ExitCode, Outcome, exit_code
from khz_tui.engine.run_ending import Ending, Refused, ending_of, interrupted, refused_by_cloud
from khz_tui.engine.run_lock import RunLocked
from khz_tui.engine.steps import StepError


@pytest.mark.parametrize(("outcome", "code"), [
    (Outcome.SUCCEEDED, 0),
    (Outcome.FAILED, 1),
    (Outcome.BAD_INPUT, 2),
    (Outcome.LOCKED, 75),
    (Outcome.INTERRUPTED, 130),
    (None, 1),
])
def test_each_outcome_has_its_exit_code(outcome: Outcome | None, code: int) -> None:
    assert exit_code(outcome) == code


def test_sigterm_is_143_and_only_for_an_interrupted_run() -> None:
    assert exit_code(Outcome.INTERRUPTED, terminated=True) == ExitCode.TERMINATED == 128 + signal.SIGTERM == 143
    assert exit_code(Outcome.SUCCEEDED, terminated=True) == ExitCode.OK, "a run that finished is not interrupted"


def test_every_outcome_is_mapped() -> None:
    assert {exit_code(o) for o in Outcome} == {ExitCode.OK, ExitCode.FAILED, ExitCode.BAD_INPUT, ExitCode.LOCKED,
                                               ExitCode.INTERRUPTED}


def _locked() -> RunLocked:
    return RunLocked("demo", LockHolder(pid=42, host="elsewhere", since="2025-01-01 00:00:00 UTC"), hint="wait")


@pytest.mark.parametrize(("raised", "outcome", "failed_step"), [
    (Refused("ssh-key", "no key"), Outcome.BAD_INPUT, "ssh-key"),
    (Refused("locked", "held here", outcome=Outcome.LOCKED), Outcome.LOCKED, "locked"),
    (refused_by_cloud("connect", CloudError("unauthorized", code="unauthorized")), Outcome.BAD_INPUT, "connect"),
    (refused_by_cloud("connect", CloudError("no such host", code=BAD_ENDPOINT)), Outcome.BAD_INPUT, "connect"),
    (refused_by_cloud("connect", CloudError("server error", code="server_error")), Outcome.FAILED, "connect"),
    (_locked(), Outcome.LOCKED, "locked"),
    (StepError("cluster", "Servers", "k3s did not start", "apply again"), Outcome.FAILED, "cluster"),
    (StepError("infrastructure", "Net", "token refused", "fix it", bad_input=True), Outcome.BAD_INPUT,
     "infrastructure"),
    (NotConfirmed("not confirmed"), Outcome.BAD_INPUT, "confirm"),
    (CloudError("token is read-only", code="token_readonly"), Outcome.BAD_INPUT, "internal"),
    (CloudError("locked", code="locked"), Outcome.FAILED, "internal"),
    (RuntimeError("a bug"), Outcome.FAILED, "internal"),
])
def test_what_a_run_raised_becomes_one_outcome(raised: Exception, outcome: Outcome, failed_step: str) -> None:
    ending = ending_of(raised)
    assert (ending.outcome, ending.failed_step) == (outcome, failed_step)
    assert ending.message


def test_the_first_error_inside_a_group_of_tasks_decides() -> None:
    group = ExceptionGroup("tasks", [StepError("cluster", "Servers", "one failed", "apply again"), RuntimeError("x")])
    assert ending_of(group).failed_step == "cluster"
    nested = ExceptionGroup("outer", [ExceptionGroup("inner", [NotConfirmed("no")])])
    assert ending_of(nested).failed_step == "confirm"


def test_an_internal_error_says_it_looks_like_a_bug() -> None:
    ending = ending_of(RuntimeError("boom"))
    assert "RuntimeError: boom" in ending.message and "bug" in ending.hint


@pytest.mark.parametrize(("mode", "advice"), [("apply", "apply again"), ("destroy", "destroy again"),
                                              ("dry-run", "nothing to resume"), ("verify", "nothing to resume")])
def test_an_interrupted_run_says_how_to_go_on_for_its_mode(mode, advice: str) -> None:
    ending = interrupted(mode)
    assert (ending.outcome, ending.failed_step) == (Outcome.INTERRUPTED, "interrupted")
    assert advice in f"{ending.message} {ending.hint}"
    if mode == "destroy":
        assert "apply again" not in ending.hint, "applying would rebuild the cluster being deleted"


def test_a_succeeded_ending_has_no_failed_step() -> None:
    ending = Ending.succeeded("cluster demo is up", nodes_ready=3)
    assert (ending.outcome, ending.failed_step, ending.nodes_ready) == (Outcome.SUCCEEDED, None, 3)


@pytest.mark.parametrize(("fields", "outcome"), [
    ({"ok": True}, Outcome.SUCCEEDED),
    ({"ok": False, "failed_step": "interrupted"}, Outcome.INTERRUPTED),
    ({"ok": False, "failed_step": "locked"}, Outcome.LOCKED),
    ({"ok": False, "failed_step": "ssh-key", "bad_input": True}, Outcome.BAD_INPUT),
    ({"ok": False, "failed_step": "cluster"}, Outcome.FAILED),
])
def test_run_logs_written_before_the_outcome_existed_still_read(fields: dict[str, object], outcome: Outcome) -> None:
    finished = RunFinished.model_validate({"mode": "apply", "message": "m", **fields})
    assert finished.outcome is outcome
