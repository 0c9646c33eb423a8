"""Headless runs (`--apply`, `--destroy`, `--dry-run`, `verify`): the engine's event stream on a terminal or a pipe
(see `printer.py` for what is printed).
Exit codes: 0 success, 1 provisioning failed, 2 bad input (plan, token, endpoint, SSH key, missing --yes),
75 another run of the cluster is in progress (EX_TEMPFAIL: try again later),
130 interrupted (Ctrl-C), 143 terminated (SIGTERM, e.g. a CI job cancelled): both stop the run the same way,
with its last event written and the state resumable.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path
from typing import TextIO

from khz_tui.engine.events import RunFinished
from khz_tui.engine.options import RunOptions
from khz_tui.headless.printer import Printer, sim_instructions

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130
#: sysexits' EX_TEMPFAIL: another run holds the cluster; the same command works once it has finished.
EXIT_LOCKED = 75
#: 128 + SIGTERM, what a shell reports for a process SIGTERM ended.
EXIT_TERMINATED = 128 + signal.SIGTERM


def exit_code(finished: RunFinished | None) -> int:
    """The process exit code for a run that ended with `finished` (None: it never finished)."""
    if finished is None:
        return EXIT_FAILED
    if finished.ok:
        return EXIT_OK
    if finished.failed_step == "interrupted":
        return EXIT_INTERRUPTED
    from khz_tui.engine.run_lock import LOCKED_STEP  # here: the module pulls in the cloud client

    if finished.failed_step == LOCKED_STEP:
        return EXIT_LOCKED
    return EXIT_BAD_INPUT if finished.bad_input else EXIT_FAILED


class _Termination:
    """SIGTERM cancels the run like Ctrl-C does (the engine then writes its last event and stops
    with a resumable state) instead of killing the process mid-step."""

    def __init__(self) -> None:
        self.received = False

    def install(self) -> None:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None

        def on_sigterm() -> None:
            self.received = True
            task.cancel()

        try:
            loop.add_signal_handler(signal.SIGTERM, on_sigterm)
        except (NotImplementedError, RuntimeError, ValueError):  # not the main thread, or no signals here
            pass

    def remove(self) -> None:
        try:
            asyncio.get_running_loop().remove_signal_handler(signal.SIGTERM)
        except (NotImplementedError, RuntimeError, ValueError):
            pass


async def _headless(mode: str, plan, options: RunOptions, out: TextIO, termination: _Termination) -> int:
    from khz_tui.engine.api import connect, run

    printer = Printer(options.output, out)

    async def confirm(question: str) -> bool:
        # Headless runs never prompt: a script must say --yes, so nothing is deleted by accident.
        print(f"khz-tui: {question}\nkhz-tui: not confirmed; run again with --yes to go ahead.", file=sys.stderr)
        return False

    termination.install()
    try:
        async with connect(plan, options) as target:
            if mode == "verify":  # a run of its own: reads the cluster, takes no lock, needs no catalog
                from khz_tui.engine.verify import execute_verify

                await execute_verify(plan, target, sink=printer, options=options, state_dir=target.state_dir)
            else:
                await run(mode, plan, target, sink=printer, confirm=confirm, options=options)
            printer.summary()
            if target.simulated and options.output == "text" and mode == "apply":
                sim_instructions(printer, out)
    finally:
        termination.remove()
    return exit_code(printer.finished)


def _stopped(mode: str, how: str) -> str:
    """The last line of a run stopped by a signal: what to run next, for this mode."""
    from khz_tui.engine.steps import interrupted_advice

    _, hint = interrupted_advice(mode)
    return f"\nkhz-tui: {how}. {hint[0].upper()}{hint[1:]}."


def run_headless(mode: str, plan_path: Path, options: RunOptions, *, out: TextIO | None = None) -> int:
    """Load the plan, resolve the token, run `mode` ("apply", "destroy", "dry-run", "verify"); return the exit code."""
    from khz_tui.engine.credentials import CredentialsError
    from khz_tui.plan.toml_io import PlanError, parse_plan, read_plan_text

    out = out or sys.stdout
    try:
        plan, warnings = parse_plan(read_plan_text(Path(plan_path)), str(plan_path))
    except PlanError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_BAD_INPUT
    for warning in warnings:  # what validate and the review screen say, a headless run says too
        print(f"khz-tui: {warning.describe()}", file=sys.stderr)
    termination = _Termination()
    try:
        return asyncio.run(_headless(mode, plan, options, out, termination))
    except CredentialsError as exc:
        print(f"khz-tui: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print(_stopped(mode, "interrupted"), file=sys.stderr)
        return EXIT_INTERRUPTED
    except asyncio.CancelledError:
        if not termination.received:
            raise
        print(_stopped(mode, "terminated (SIGTERM)"), file=sys.stderr)
        return EXIT_TERMINATED
