"""How a run ends, decided in one place: what a mode returned, or what it raised, becomes an `Ending`
(outcome, message, where it stopped, what to do), which the runner sends as the run's RunFinished.

    the run                                        outcome       failed_step
    a mode's body returned                         its Ending    its Ending's (None, or "verify")
    a pre-flight check refused it (`Refused`)      its outcome   the check: ssh-key, connect, catalog,
                                                                 caller-address, firewall, locked, no-cluster
    another run holds the cluster (`RunLocked`)    locked        locked
    a destructive step was not confirmed           bad-input     confirm
    a step failed (`StepError`)                    failed, or bad-input when the person's input
                                                   caused it (a refused token)                   the step
    Ctrl-C or SIGTERM (the task was cancelled)     interrupted   interrupted
    anything else (a bug, an unexpected error)     failed, or bad-input for a refused token      internal
"""

from __future__ import annotations

from dataclasses import dataclass

from khz_tui.engine.cloud.client import CloudError
from khz_tui.engine.context import NotConfirmed
from khz_tui.engine.events import FailedStep, RunMode
from khz_tui.engine.outcome import Outcome
from khz_tui.engine.run_lock import RunLocked
from khz_tui.engine.steps import StepError, describe_failure, first_failure, interrupted_advice

CONFIRM_HINT = "confirm with --yes (headless) or answer yes when asked"


@dataclass(frozen=True)
class Ending:
    """How one run ended, before it is sent as RunFinished."""

    outcome: Outcome
    message: str
    failed_step: FailedStep | None = None
    hint: str = ""
    nodes_ready: int = 0

    @classmethod
    def succeeded(cls, message: str, *, nodes_ready: int = 0) -> Ending:
        return cls(Outcome.SUCCEEDED, message, nodes_ready=nodes_ready)


class Refused(Exception):
    """The run stops before it changes anything, on something the person must fix (or wait for)."""

    def __init__(self, failed_step: FailedStep, message: str, hint: str = "", *,
                 outcome: Outcome = Outcome.BAD_INPUT) -> None:
        super().__init__(message)
        self.ending = Ending(outcome, message, failed_step, hint)


def _cloud_outcome(exc: CloudError) -> Outcome:
    return Outcome.BAD_INPUT if exc.bad_input else Outcome.FAILED


def refused_by_cloud(failed_step: FailedStep, exc: CloudError) -> Refused:
    """A pre-flight request the API refused: bad input for a refused token or a wrong endpoint."""
    return Refused(failed_step, exc.message, exc.hint, outcome=_cloud_outcome(exc))


def ending_of(exc: Exception) -> Ending:
    """The Ending for what a run raised (the first real error inside a group of concurrent tasks)."""
    err = first_failure(exc)
    if isinstance(err, Refused):
        return err.ending
    if isinstance(err, RunLocked):
        return Ending(Outcome.LOCKED, err.message, "locked", err.hint)
    if isinstance(err, StepError):
        return Ending(Outcome.BAD_INPUT if err.bad_input else Outcome.FAILED, err.message, err.step, err.hint)
    if isinstance(err, NotConfirmed):
        return Ending(Outcome.BAD_INPUT, str(err), "confirm", CONFIRM_HINT)
    message, hint = describe_failure(err)
    outcome = _cloud_outcome(err) if isinstance(err, CloudError) else Outcome.FAILED
    return Ending(outcome, message, "internal", hint)


def interrupted(mode: RunMode) -> Ending:
    """The Ending of a run stopped by Ctrl-C or SIGTERM; the advice fits the mode (after a destroy,
    "apply again" would rebuild the cluster being deleted)."""
    message, hint = interrupted_advice(mode)
    return Ending(Outcome.INTERRUPTED, message, "interrupted", hint)
