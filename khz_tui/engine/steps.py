"""Named steps of a run and how failures become StepFailed events with a message and a hint."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from khz_tui.engine.bus import EventBus
from khz_tui.engine.cloud.client import CloudError
from khz_tui.engine.context import NotConfirmed
from khz_tui.engine.events import FailedStep, RunMode, StepFailed, StepFinished, StepName, StepStarted
from khz_tui.engine.nodes.session import (
    ClientKeyUnusable,
    CommandFailed,
    HostKeyMismatch,
    NodeError,
    NodeUnreachable,
)


class StepError(Exception):
    """A step failed; its StepFailed event has been emitted already."""

    def __init__(self, step: FailedStep, title: str, message: str, hint: str, *, bad_input: bool = False) -> None:
        super().__init__(message)
        self.step = step
        self.title = title
        self.message = message
        self.hint = hint
        self.bad_input = bad_input


def first_failure(exc: BaseException) -> BaseException:
    """The first real error inside (nested) exception groups from concurrent tasks."""
    while isinstance(exc, BaseExceptionGroup):
        inner = [e for e in exc.exceptions if not isinstance(e, asyncio.CancelledError)]
        exc = (inner or list(exc.exceptions))[0]
    return exc


def describe_failure(exc: BaseException) -> tuple[str, str]:
    """(message, hint) for any exception the engine lets out of a step."""
    exc = first_failure(exc)
    if isinstance(exc, StepError):
        return exc.message, exc.hint
    if isinstance(exc, CloudError):
        return exc.message, exc.hint
    if isinstance(exc, HostKeyMismatch):
        return str(exc), (
            "delete that server in the Hetzner console (or with --destroy) and apply again; "
            "khz-tui will not talk to a node it cannot verify"
        )
    if isinstance(exc, ClientKeyUnusable):
        return str(exc), exc.hint
    if isinstance(exc, NodeUnreachable):
        return str(exc), (
            "check that ssh.allowed_cidrs includes the address you run khz-tui from and that the server is "
            "running; apply again to continue"
        )
    if isinstance(exc, CommandFailed):
        return str(exc), "the node's output is in the log above; apply again to retry from here"
    if isinstance(exc, NodeError):
        return str(exc), "apply again to continue where this run stopped"
    return f"{type(exc).__name__}: {exc}", "this looks like a bug in khz-tui; the run log has the details"


@asynccontextmanager
async def step(bus: EventBus, name: StepName, title: str) -> AsyncIterator[None]:
    """Emit StepStarted, then StepFinished with the duration, or StepFailed and raise StepError."""
    started = bus.elapsed
    bus.emit(StepStarted(step=name, title=title))
    try:
        yield
    except Exception as exc:  # noqa: BLE001 - every failure becomes one StepFailed with a hint
        inner = first_failure(exc)
        if isinstance(inner, (StepError, NotConfirmed)):
            raise inner from None
        message, hint = describe_failure(inner)
        bus.emit(StepFailed(step=name, title=title, message=message, hint=hint))
        bad = isinstance(inner, CloudError) and inner.bad_input
        raise StepError(name, title, message, hint, bad_input=bad) from inner
    bus.emit(StepFinished(step=name, title=title, duration=round(bus.elapsed - started, 3)))


def interrupted_advice(mode: RunMode) -> tuple[str, str]:
    """(message, hint) for a run stopped by Ctrl-C or SIGTERM: how to finish what *this* mode began.

    Advice to apply after an interrupted destroy would rebuild the cluster being deleted."""
    if mode == "destroy":
        return ("interrupted; part of the cluster may be left: run the destroy again to finish deleting it",
                "run the same destroy again to finish deleting the cluster (applying would rebuild it)")
    if mode in ("dry-run", "verify"):
        return (f"interrupted; a {mode} changes nothing, so there is nothing to resume",
                f"nothing to resume: run the {mode} again to see its full result")
    return ("interrupted; the state is resumable: run the same command again to continue",
            "apply again to continue where this run stopped")
