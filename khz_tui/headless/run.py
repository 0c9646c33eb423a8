"""Headless runs (`--apply`, `--destroy`, `--dry-run`, `verify`): the engine's event stream on a terminal or a pipe
(see `printer.py` for what is printed).
The exit code is the run's Outcome (`engine/outcome.py`): 0 success, 1 provisioning failed, 2 bad input (plan,
token, endpoint, SSH key, missing --yes), 75 another run of the cluster is in progress (EX_TEMPFAIL: try again
later), 130 interrupted (Ctrl-C), 143 terminated (SIGTERM, e.g. a CI job cancelled): both stop the run the same
way, with its last event written and the state resumable.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path
from typing import TextIO

from khz_tui.engine.api import Connect
from khz_tui.engine.events import RunFinished, RunMode
from khz_tui.engine.options import RunOptions
from khz_tui.engine.outcome import Outcome, exit_code
from khz_tui.headless.printer import Printer, sim_instructions
from khz_tui.plan.model import ClusterPlan


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


async def _headless(mode: RunMode, plan: ClusterPlan, options: RunOptions, connect: Connect, printer: Printer,
                    termination: _Termination) -> None:
    from khz_tui.engine.api import run

    async def confirm(question: str) -> bool:
        # Headless runs never prompt: a script must say --yes, so nothing is deleted by accident.
        print(f"khz-tui: {question}\nkhz-tui: not confirmed; run again with --yes to go ahead.", file=sys.stderr)
        return False

    termination.install()
    try:
        async with connect(plan, options) as target:
            await run(mode, plan, target, sink=printer, confirm=confirm, options=options)
            printer.summary()
            if target.simulated and options.output == "text" and mode == "apply":
                sim_instructions(printer, printer.out)
    finally:
        termination.remove()


def _exit(mode: RunMode, finished: RunFinished | None, *, stopped: str = "", terminated: bool = False) -> int:
    """The exit code of the run's Outcome. A run `stopped` by a signal before its RunFinished was
    interrupted; a signal that came after it changes nothing (the run had done its work)."""
    outcome = finished.outcome if finished is not None else Outcome.INTERRUPTED if stopped else None
    if stopped and outcome is Outcome.INTERRUPTED:
        from khz_tui.engine.steps import interrupted_advice

        _, hint = interrupted_advice(mode)  # what to run next, for this mode
        print(f"\nkhz-tui: {stopped}. {hint[0].upper()}{hint[1:]}.", file=sys.stderr)
    return exit_code(outcome, terminated=terminated)


def run_headless(mode: RunMode, plan_path: Path, options: RunOptions, *, connect: Connect,
                 out: TextIO | None = None) -> int:
    """Load the plan, connect with `connect` (the command line's: the simulated project for --sim), run
    `mode` ("apply", "destroy", "dry-run", "verify"); return the exit code."""
    from khz_tui.engine.credentials import CredentialsError
    from khz_tui.plan.toml_io import PlanError, parse_plan, read_plan_text

    try:
        plan, warnings = parse_plan(read_plan_text(Path(plan_path)), str(plan_path))
    except PlanError as exc:
        print(str(exc), file=sys.stderr)
        return exit_code(Outcome.BAD_INPUT)
    for warning in warnings:  # what validate and the review screen say, a headless run says too
        print(f"khz-tui: {warning.describe()}", file=sys.stderr)
    printer = Printer(options.output, out or sys.stdout)
    termination = _Termination()
    try:
        asyncio.run(_headless(mode, plan, options, connect, printer, termination))
    except CredentialsError as exc:
        print(f"khz-tui: {exc}", file=sys.stderr)
        return exit_code(Outcome.BAD_INPUT)
    except KeyboardInterrupt:  # Ctrl-C: asyncio.run cancelled the run, which wrote its last event
        return _exit(mode, printer.finished, stopped="interrupted")
    except asyncio.CancelledError:
        if not termination.received:
            raise
        return _exit(mode, printer.finished, stopped="terminated (SIGTERM)", terminated=True)
    return _exit(mode, printer.finished)
