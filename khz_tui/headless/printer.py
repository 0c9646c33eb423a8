"""What a headless run prints: one readable line per event, then the node table (text), or every event as a
JSON line (`--output json`, the same objects the run log holds). The table and the summary are drawn from the
run's `RunView`, the picture the run console shows too."""

from __future__ import annotations

from typing import TextIO

from khz_tui.engine.events import (
    ConnectionDropped,
    DeleteRetried,
    DriftDetected,
    EngineEvent,
    KubeconfigWritten,
    LogLine,
    NodePhaseChanged,
    NodePlanned,
    NodeRepaired,
    PlanDiffed,
    ResourceCreated,
    ResourceDeleted,
    ResourceFound,
    RunFinished,
    RunStarted,
    StepFailed,
    StepFinished,
    StepStarted,
    VerifyCheckFinished,
    VerifyFinished,
    VerifyWillCreate,
)
from khz_tui.engine.outcome import Outcome
from khz_tui.engine.run_view import RunView, repair_words


def describe(event: EngineEvent) -> str | None:
    """One readable line for an event (None for events not worth a line, e.g. debug output)."""
    t = f"[{event.elapsed:7.1f}s]"
    match event:
        case RunStarted():
            where = "the simulator" if event.simulated else event.endpoint
            return f"{t} {event.mode} {event.cluster} ({event.node_count} nodes) against {where}"
        case StepStarted():
            return f"{t} ▶ {event.title}"
        case StepFinished():
            return f"{t} ✓ {event.title} ({event.duration:.1f}s)"
        case StepFailed():
            hint = f"\n           hint: {event.hint}" if event.hint else ""
            return f"{t} ✗ {event.title}: {event.message}{hint}"
        case ResourceCreated():
            return f"{t}   created {event.resource_type} {event.name}"
        case ResourceFound():
            return f"{t}   found {event.resource_type} {event.name}"
        case ResourceDeleted():
            return f"{t}   deleted {event.resource_type} {event.name}"
        case DriftDetected():
            return (f"{t} ! {event.resource_type} {event.name}: {event.field} is {event.actual}, the plan says "
                    f"{event.expected} (not changed)")
        case NodePlanned():
            return None
        case NodePhaseChanged():
            why = f" ({event.reason})" if event.reason else ""
            return f"{t}   {event.node}: {event.phase}{why}"
        case NodeRepaired() | ConnectionDropped():
            return f"{t}   {event.node}: {repair_words(event)}"  # as the log line it replaces read
        case DeleteRetried():
            return f"{t}   {repair_words(event)}"
        case LogLine():
            if event.level == "debug" or not event.text.strip():
                return None
            who = f"{event.node}: " if event.node else ""
            return f"{t}   {who}{event.text}"
        case PlanDiffed():
            lines = [f"{t} changes:"]
            for c in event.changes:
                mark = {"create": "+", "keep": "=", "change": "~", "delete": "-"}[c.action]
                cost = f"  {c.monthly_cost_delta} {event.currency}/month" if c.monthly_cost_delta not in ("0.00", "0") else ""
                detail = f"  ({c.detail})" if c.detail else ""
                lines.append(f"    {mark} {c.resource_type} {c.name}{detail}{cost}")
            lines.append(f"    monthly cost change: {event.monthly_cost_delta} {event.currency}")
            return "\n".join(lines)
        case VerifyWillCreate():
            lines = [f"{t} verify --deep will create (and then remove):"] + [f"    + {r}" for r in event.resources]
            return "\n".join(lines + [f"    {event.note}"])
        case VerifyCheckFinished():
            mark = {"pass": "✓", "fail": "✗", "skipped": "-"}[event.status]
            hint = f"\n           what to do: {event.hint}" if event.hint and not event.ok else ""
            return f"{t} {mark} check {event.check}: {event.detail}{hint}"
        case VerifyFinished():
            skipped = f", {event.skipped} skipped" if event.skipped else ""
            return f"{t} verify: {event.passed} passed, {event.failed} failed{skipped}"
        case KubeconfigWritten():
            return f"{t} kubeconfig written to {event.path}\n           use it: {event.command}"
        case RunFinished():
            if event.outcome is Outcome.SUCCEEDED:
                return f"{t} done: {event.message}"
            # Repeated from StepFailed on purpose: the last lines are the ones a person reads.
            step = f" ({event.failed_step})" if event.failed_step else ""
            hint = f"\n           what to do: {event.hint}" if event.hint else ""
            return f"{t} FAILED{step}: {event.message}{hint}"
    return None


class Printer:
    """Consumes the event stream: prints it and folds it into the view the final table is drawn from."""

    def __init__(self, output: str, out: TextIO) -> None:
        self.output = output
        self.out = out
        self.view = RunView()

    @property
    def finished(self) -> RunFinished | None:
        """The run's last event, once it has come."""
        return self.view.finished

    def __call__(self, event: EngineEvent) -> None:
        self.view = self.view.apply(event)
        if self.output == "json":
            print(event.model_dump_json(), file=self.out, flush=True)
        else:
            line = describe(event)
            if line:
                print(line, file=self.out, flush=True)

    def summary(self) -> None:
        """The node table, elapsed time and API requests (text mode only)."""
        view = self.view
        if self.output == "json" or view.finished is None:
            return
        if view.nodes:
            rows = [("NODE", "ROLE", "TYPE", "LOCATION", "PUBLIC IP", "PRIVATE IP", "PHASE")]
            rows += [(n.name, n.role, n.server_type, n.location, n.public_ip, n.private_ip, n.phase)
                     for n in view.nodes.values()]
            widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
            print(file=self.out)
            for row in rows:
                print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip(), file=self.out)
        print(f"\nelapsed {view.elapsed:.1f}s, {view.api_requests} API requests"
              + (f", rate limit remaining {view.rate_limit_remaining}" if view.rate_limit_remaining is not None else ""),
              file=self.out)


def sim_instructions(printer: Printer, out: TextIO) -> None:
    kubeconfig = printer.view.kubeconfig
    path = kubeconfig.path if kubeconfig is not None else "<kubeconfig>"
    print(
        "\nThis run used the simulated project khz-tui keeps for you (khz-tui sim reset empties it): run the same\n"
        "command again, or --dry-run, verify or --destroy, to work on this cluster. Its simulator answers only\n"
        "while khz-tui runs; to keep one running and look around with the official tools:\n"
        "  khz-tui sim serve                       # prints export HCLOUD_ENDPOINT=... HCLOUD_TOKEN=...\n"
        "  khz-tui --apply PLAN --endpoint \"$HCLOUD_ENDPOINT\"\n"
        "  hcloud server list                      # the hcloud CLI reads HCLOUD_ENDPOINT and HCLOUD_TOKEN\n"
        f"  kubectl --kubeconfig {path} get nodes   # the simulated cluster's API answers over TLS\n"
        "  khz-tui verify PLAN --endpoint \"$HCLOUD_ENDPOINT\"   # nodes, add-ons, DNS, kubeconfig; --deep: LB, volume",
        file=out,
    )


