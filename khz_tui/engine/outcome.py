"""How a run ended, decided once: the engine puts an `Outcome` on RunFinished, and every front end (headless,
the CLI, the TUI) reads it instead of re-deriving it from the failed step.

    Outcome      exit code   meaning
    succeeded    0           the run did what it was asked
    failed       1           provisioning (or a verify check) failed; rerunning continues where it stopped
    bad-input    2           the plan, token, endpoint, SSH key or a missing confirmation must be fixed first
    locked       75          another run holds the cluster (sysexits' EX_TEMPFAIL: try again later)
    interrupted  130 / 143   Ctrl-C (130) or SIGTERM (143, 128 + 15); the state is resumable

Which signal stopped a run only the front end knows, so `exit_code` takes it as an argument.
"""

from __future__ import annotations

import signal
from enum import IntEnum, StrEnum


class Outcome(StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    BAD_INPUT = "bad-input"
    LOCKED = "locked"
    INTERRUPTED = "interrupted"


class ExitCode(IntEnum):
    OK = 0
    FAILED = 1
    BAD_INPUT = 2
    LOCKED = 75
    INTERRUPTED = 130
    TERMINATED = 128 + signal.SIGTERM


_EXIT = {
    Outcome.SUCCEEDED: ExitCode.OK,
    Outcome.FAILED: ExitCode.FAILED,
    Outcome.BAD_INPUT: ExitCode.BAD_INPUT,
    Outcome.LOCKED: ExitCode.LOCKED,
    Outcome.INTERRUPTED: ExitCode.INTERRUPTED,
}


def exit_code(outcome: Outcome | None, *, terminated: bool = False) -> ExitCode:
    """The process exit code for a run that ended with `outcome` (None: it never finished, a failure).
    `terminated`: the interruption was SIGTERM rather than Ctrl-C."""
    if outcome is None:
        return ExitCode.FAILED
    if outcome is Outcome.INTERRUPTED and terminated:
        return ExitCode.TERMINATED
    return _EXIT[outcome]


def outcome_of(*, ok: bool, failed_step: str | None, bad_input: bool) -> Outcome:
    """The outcome a RunFinished written without one stands for (run logs of earlier versions)."""
    if ok:
        return Outcome.SUCCEEDED
    if failed_step == "interrupted":
        return Outcome.INTERRUPTED
    if failed_step == "locked":
        return Outcome.LOCKED
    return Outcome.BAD_INPUT if bad_input else Outcome.FAILED
