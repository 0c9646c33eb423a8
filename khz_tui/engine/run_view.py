"""One picture of a run, folded from its events: what the headless printer, the run console and the tests'
recorded runs all show.

    view = RunView()
    for event in events:
        view = view.apply(event)

A view is immutable: `apply` returns a new one and shares what did not change, so a consumer may keep the
view it drew last. `apply_all` folds a batch (the run console draws one per frame). Nothing here does I/O
or knows how a view is drawn.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Literal

from khz_tui.engine.events import (
    NODE_PHASES,
    ConnectionDropped,
    DeleteRetried,
    DriftDetected,
    EngineEvent,
    KubeconfigWritten,
    LogLine,
    NodePhase,
    NodePhaseChanged,
    NodePlanned,
    NodeRepaired,
    NodeRole,
    PlanDiffed,
    ResourceDeleted,
    RunFinished,
    RunLockRefused,
    RunLockReleased,
    RunLockTaken,
    RunMode,
    RunStarted,
    StepFailed,
    StepFinished,
    StepName,
    StepStarted,
    VerifyCheckFinished,
    VerifyFinished,
    VerifyWillCreate,
)
from khz_tui.engine.outcome import Outcome

#: Phases after which a node's clock stops.
DONE_PHASES: tuple[NodePhase, ...] = ("ready", "failed", "deleted")

LockEvent = RunLockTaken | RunLockRefused | RunLockReleased
#: What apply and destroy repaired or retried on their own.
Repair = NodeRepaired | DeleteRetried | ConnectionDropped


def repair_words(event: Repair) -> str:
    """A repair or retry in the words the engine's log line for it used before it was an event (the printer and
    the console show this): a node's repair and a dropped connection say it all in `reason`; a retried delete
    names the resource first (`firewall demo is still detaching from deleted servers; retrying in 0.4s`)."""
    match event:
        case NodeRepaired() | ConnectionDropped():
            return event.reason
        case DeleteRetried():
            return f"{event.resource_type} {event.name} is {event.reason}"


@dataclass(frozen=True)
class PhaseMark:
    """One phase a node went through."""

    elapsed: float
    phase: NodePhase
    reason: str = ""


@dataclass(frozen=True)
class NodeView:
    """One node: what the plan says it is, how far it got, and where it is reachable."""

    name: str
    role: NodeRole | Literal[""] = ""
    """Empty for a server the engine found that the plan does not describe."""
    pool: str = ""
    server_type: str = ""
    location: str = ""
    public_ip: str = ""
    private_ip: str = ""
    phase: NodePhase = "planned"
    reason: str = ""
    """Why the node is in its phase (a failure's message), when the engine said."""
    server_id: int | None = None
    started: float | None = None
    """Run time at which it left `planned`."""
    finished: float | None = None
    """Run time at which it reached ready, failed or deleted (None again if it moves on)."""
    history: tuple[PhaseMark, ...] = ()

    def seconds(self, now: float) -> float | None:
        """Seconds the node has spent so far (until `now`, the run's time, while it is not done)."""
        if self.started is None:
            return None
        end = self.finished if self.finished is not None else now
        return max(end - self.started, 0.0)


@dataclass(frozen=True)
class StepView:
    step: StepName
    title: str
    state: Literal["running", "finished", "failed"] = "running"
    started: float = 0.0
    duration: float | None = None
    message: str = ""
    """A failed step's message."""
    hint: str = ""
    """What to do about a failed step."""


@dataclass(frozen=True)
class RunView:
    """Everything a run's consumers show, as of the last event folded in."""

    run: RunStarted | None = None
    nodes: Mapping[str, NodeView] = field(default_factory=dict)
    """In the order the engine planned them; servers it found without a plan come after."""
    steps: tuple[StepView, ...] = ()
    """In the order they started."""
    diff: PlanDiffed | None = None
    kubeconfig: KubeconfigWritten | None = None
    checks: tuple[VerifyCheckFinished, ...] = ()
    verify_will_create: VerifyWillCreate | None = None
    verify: VerifyFinished | None = None
    locks: tuple[LockEvent, ...] = ()
    repairs: tuple[Repair, ...] = ()
    drift: tuple[DriftDetected, ...] = ()
    deleted: tuple[ResourceDeleted, ...] = ()
    failed_node: str | None = None
    """The node to look at after a failure: the last to fail, or the first a failed verify check names."""
    elapsed: float = 0.0
    api_requests: int = 0
    rate_limit_remaining: int | None = None
    finished: RunFinished | None = None
    described: Mapping[str, NodePlanned] = field(default_factory=dict)
    """What the plan says of each node, for servers the engine finds rather than plans (destroy): their rows
    show the plan's role, pool, type and location instead of blanks."""

    @classmethod
    def of_plan(cls, described: Iterable[NodePlanned]) -> RunView:
        """A view that knows the plan's nodes (see `described`)."""
        return cls(described={node.node: node for node in described})

    # -- what consumers ask --------------------------------------------------------------------------

    @property
    def mode(self) -> RunMode | None:
        if self.run is not None:
            return self.run.mode
        return self.finished.mode if self.finished is not None else None

    @property
    def outcome(self) -> Outcome | None:
        """How the run ended; None while it is going."""
        return self.finished.outcome if self.finished is not None else None

    @property
    def succeeded(self) -> bool:
        return self.outcome is Outcome.SUCCEEDED

    @property
    def running_steps(self) -> tuple[StepView, ...]:
        return tuple(s for s in self.steps if s.state == "running")

    @property
    def current_step(self) -> StepView | None:
        """The step started last of those still running."""
        running = self.running_steps
        return running[-1] if running else None

    @property
    def steps_done(self) -> int:
        return sum(1 for s in self.steps if s.state != "running")

    @property
    def failed_step(self) -> StepView | None:
        return next((s for s in reversed(self.steps) if s.state == "failed"), None)

    def node_progress(self) -> float:
        """0..1: how far the nodes are along the happy path (or through deletion)."""
        if not self.nodes:
            return 0.0
        last = len(NODE_PHASES) - 1
        total = 0.0
        for node in self.nodes.values():
            if node.phase in ("ready", "deleted"):
                total += 1
            elif node.phase == "deleting":
                total += 0.5
            elif node.phase in NODE_PHASES:
                total += NODE_PHASES.index(node.phase) / last
        return total / len(self.nodes)

    # -- folding -------------------------------------------------------------------------------------

    def apply(self, event: EngineEvent) -> RunView:
        """The view with `event` folded in."""
        return self.apply_all((event,))

    def apply_all(self, events: Iterable[EngineEvent]) -> RunView:
        """The view with `events` folded in, in order. The counters (elapsed, requests, rate limit) are set
        once at the end: a burst of log lines, which change nothing else, costs one new view."""
        view = self
        elapsed, requests, remaining = self.elapsed, self.api_requests, self.rate_limit_remaining
        for event in events:
            elapsed = max(elapsed, event.elapsed)
            requests = max(requests, event.api_requests)
            if event.rate_limit_remaining is not None:
                remaining = event.rate_limit_remaining
            if not isinstance(event, LogLine):  # the most frequent by far, and it moves only the counters
                view = view._folded(event)
        return replace(view, elapsed=elapsed, api_requests=requests, rate_limit_remaining=remaining)

    def _folded(self, event: EngineEvent) -> RunView:
        match event:
            case RunStarted():
                return replace(self, run=event)
            case NodePlanned():
                return self._node_planned(event)
            case NodePhaseChanged():
                return self._phase_changed(event)
            case StepStarted():
                return replace(self, steps=(*self.steps, StepView(event.step, event.title, started=event.elapsed)))
            case StepFinished():
                return self._step_ended(event.step, event.title, "finished", duration=event.duration)
            case StepFailed():
                return self._step_ended(event.step, event.title, "failed", message=event.message, hint=event.hint)
            case ResourceDeleted():
                return self._resource_deleted(event)
            case PlanDiffed():
                return replace(self, diff=event)
            case KubeconfigWritten():
                return replace(self, kubeconfig=event)
            case VerifyCheckFinished():
                failed_node = event.nodes[0] if not event.ok and event.nodes else self.failed_node
                return replace(self, checks=(*self.checks, event), failed_node=failed_node)
            case VerifyWillCreate():
                return replace(self, verify_will_create=event)
            case VerifyFinished():
                return replace(self, verify=event)
            case RunLockTaken() | RunLockRefused() | RunLockReleased():
                return replace(self, locks=(*self.locks, event))
            case NodeRepaired() | DeleteRetried() | ConnectionDropped():
                return replace(self, repairs=(*self.repairs, event))
            case DriftDetected():
                return replace(self, drift=(*self.drift, event))
            case RunFinished():
                return replace(self, finished=event)
        return self

    def _node_planned(self, event: NodePlanned) -> RunView:
        known = self.nodes.get(event.node)
        if known is not None and known.role:
            return self
        base = known or NodeView(event.node)
        node = replace(base, role=event.role, pool=event.pool, server_type=event.server_type, location=event.location)
        return replace(self, nodes={**self.nodes, event.node: node})

    def _phase_changed(self, event: NodePhaseChanged) -> RunView:
        node = self.nodes.get(event.node)
        if node is None:  # a server the engine found rather than planned (destroy): as the plan describes it
            plan = self.described.get(event.node)
            node = NodeView(event.node) if plan is None else NodeView(
                event.node, plan.role, plan.pool, plan.server_type, plan.location)
        started = node.started if node.started is not None or event.phase == "planned" else event.elapsed
        node = replace(
            node,
            phase=event.phase,
            reason=event.reason,
            public_ip=event.public_ip or node.public_ip,
            private_ip=event.private_ip or node.private_ip,
            server_id=event.server_id if event.server_id is not None else node.server_id,
            started=started,
            finished=event.elapsed if event.phase in DONE_PHASES else None,
            history=(*node.history, PhaseMark(event.elapsed, event.phase, event.reason)),
        )
        failed_node = event.node if event.phase == "failed" else self.failed_node
        return replace(self, nodes={**self.nodes, event.node: node}, failed_node=failed_node)

    def _step_ended(self, step: StepName, title: str, state: Literal["finished", "failed"], *,
                    duration: float | None = None, message: str = "", hint: str = "") -> RunView:
        steps = list(self.steps)
        at = next((i for i in range(len(steps) - 1, -1, -1)
                   if steps[i].step == step and steps[i].state == "running"), None)
        if at is None:  # an end without a start (a step failing before it began): listed all the same
            steps.append(StepView(step, title))
            at = len(steps) - 1
        steps[at] = replace(steps[at], state=state, duration=duration, message=message, hint=hint)
        return replace(self, steps=tuple(steps))

    def _resource_deleted(self, event: ResourceDeleted) -> RunView:
        view = replace(self, deleted=(*self.deleted, event))
        node = self.nodes.get(event.name)
        if event.resource_type != "server" or node is None or node.phase == "deleted":
            return view
        # A deleted server is its node's end, also when the engine said nothing of its phase.
        return replace(view, nodes={**self.nodes, event.name: replace(node, phase="deleted", finished=event.elapsed)})
