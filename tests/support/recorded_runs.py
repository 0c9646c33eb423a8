"""Engine runs recorded against the simulator, played back: the scripted runs of the UI tests, the run console
snapshots, the screenshots and the TUI benchmark. `record_runs.py` makes the recordings (and says which
there are and how to make them again); nothing here has a clock, so a recording plays the same every time.

A recording is of cluster `demo`. Played for a plan of another name, every `demo` in it reads as that name;
its nodes must be the plan's (`ClusterPlan`'s default 3 control planes and 2 workers), or playing it fails
saying so.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from khz_tui.engine.api import Confirm, EventSink
from khz_tui.engine.cloud.names import planned_nodes
from khz_tui.engine.events import EngineEvent, NodePhaseChanged, NodePlanned, RunFinished, RunMode, event_from_json
from khz_tui.engine.outcome import Outcome
from khz_tui.plan.model import ClusterPlan
from khz_tui.ui.engine_runs import Runner, RunnerFactory

RECORDED = Path(__file__).resolve().with_name("recorded")
#: The cluster every recording is of.
RECORDED_CLUSTER = "demo"
_CLUSTER_WORD = re.compile(rf"\b{RECORDED_CLUSTER}\b")


@dataclass(frozen=True)
class Asked:
    """Where the engine asked before going on (a destroy's question), and what it was told."""

    question: str
    answer: bool


Line = EngineEvent | Asked


@cache
def _text(name: str) -> str:
    return (RECORDED / f"{name}.jsonl").read_text(encoding="utf-8")


def recording(name: str, cluster: str = RECORDED_CLUSTER) -> list[Line]:
    """The lines of recording `name` (`apply`, `destroy`, ...), of cluster `cluster`."""
    text = _text(name) if cluster == RECORDED_CLUSTER else _CLUSTER_WORD.sub(cluster, _text(name))
    lines: list[Line] = []
    for raw in text.splitlines():
        data = json.loads(raw)
        lines.append(Asked(data["asked"], data["answer"]) if "asked" in data else event_from_json(raw))
    return lines


def recorded_events(name: str, cluster: str = RECORDED_CLUSTER) -> list[EngineEvent]:
    """The events of recording `name`, without its questions."""
    return [line for line in recording(name, cluster) if not isinstance(line, Asked)]


def question_of(name: str, plan: ClusterPlan) -> str:
    """The question recording `name` asked, for `plan` (what `KhzApp.start_run(confirmed=...)` takes)."""
    return next(line.question for line in recording(name, plan.name) if isinstance(line, Asked))


def scripted_runner(lines: Iterable[Line], *, declined: Sequence[Line] = ()) -> Runner:
    """A runner that sends `lines`' events in order and asks their questions. Told no where the recording was
    told yes, it goes on with what `declined` (a recording of that answer) sent after the same question."""
    script = list(lines)

    async def play(sink: EventSink, confirm: Confirm) -> RunFinished:
        finished = RunFinished(mode="apply", ok=False, outcome=Outcome.FAILED,
                               message="the script ended without RunFinished")
        todo = list(script)
        while todo:
            line = todo.pop(0)
            if isinstance(line, Asked):
                answer = await confirm(line.question)
                if answer != line.answer:
                    if answer or not declined:
                        raise AssertionError(f"no recording of answering {answer} to: {line.question}")
                    after = next(i for i, other in enumerate(declined) if isinstance(other, Asked)) + 1
                    todo = list(declined[after:])
                continue
            sink(line)
            if isinstance(line, RunFinished):
                finished = line
        return finished

    return play


def recorded_runner(name: str, plan: ClusterPlan, *, declined: str | None = None) -> Runner:
    """Recording `name` played for `plan` (see the module's doc); `declined` names the recording of a no."""
    lines = recording(name, plan.name)
    _check_nodes(name, lines, plan)
    return scripted_runner(lines, declined=recording(declined, plan.name) if declined else ())


def _check_nodes(name: str, lines: list[Line], plan: ClusterPlan) -> None:
    wanted = [slot.name for slot in planned_nodes(plan)]
    planned = [line.node for line in lines if isinstance(line, NodePlanned)]
    named = {line.node for line in lines if isinstance(line, NodePlanned | NodePhaseChanged)}
    if (planned and planned != wanted) or not named <= set(wanted):
        raise ValueError(f"recording {name} is of nodes {sorted(named)}, the plan {plan.name!r} has {wanted}: "
                         "play it for a plan of that shape")


def recorded_runner_factory(*, apply: str = "apply") -> RunnerFactory:
    """Runs that play the recording of their mode; `apply` picks which apply (e.g. `apply-node-unreachable`).
    A destroy asks the engine's question first, as a real one does, and deletes nothing when told no."""

    def factory(mode: RunMode, plan: ClusterPlan) -> Runner:
        if mode == "apply":
            return recorded_runner(apply, plan)
        if mode == "destroy":
            return recorded_runner("destroy", plan, declined="destroy-declined")
        return recorded_runner(mode, plan)

    return factory


def first_ready(events: Iterable[EngineEvent]) -> list[EngineEvent]:
    """`events` up to the first node that is Ready: an apply in the middle, the first control plane up and the
    other nodes on their way."""
    out: list[EngineEvent] = []
    for event in events:
        out.append(event)
        if isinstance(event, NodePhaseChanged) and event.phase == "ready":
            break
    return out


def mid_run_runner(plan: ClusterPlan) -> Runner:
    """The recorded apply up to its first Ready node, then a run that never ends (until cancelled)."""
    _check_nodes("apply", list(recording("apply", plan.name)), plan)
    script = scripted_runner(first_ready(recorded_events("apply", plan.name)))

    async def never_ends(sink: EventSink, confirm: Confirm) -> RunFinished:
        await script(sink, confirm)
        await asyncio.Event().wait()
        raise AssertionError("unreachable: the event is never set")

    return never_ends
