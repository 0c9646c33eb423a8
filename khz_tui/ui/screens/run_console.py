"""The live run: node table, progress, log and, at the end, the outcome with what to do next.

The engine runs in a worker on the app's event loop and hands every event to `sink`, which only
queues it. A timer drains the queue once per frame, so a burst of thousands of log lines costs one
table refresh and one log write instead of thousands of messages.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Iterable
from typing import TYPE_CHECKING

from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from khz_tui.engine.events import (
    ConnectionDropped,
    DeleteRetried,
    EngineEvent,
    LogLine,
    NodePhaseChanged,
    NodePlanned,
    NodeRepaired,
    PlanDiffed,
    ResourceDeleted,
    RunFinished,
    RunMode,
    RunStarted,
    StepFailed,
)
from khz_tui.engine.outcome import Outcome
from khz_tui.engine.run_view import RunView, repair_words
from khz_tui.plan.model import ClusterPlan
from khz_tui.ui.dialogs.confirm import ConfirmDialog
from khz_tui.ui.engine_runs import Runner
from khz_tui.ui.widgets.log_pane import LogPane, log_line
from khz_tui.ui.widgets.node_table import NodeTable
from khz_tui.ui.widgets.outcome_panel import OutcomePanel
from khz_tui.ui.widgets.progress_panel import ProgressPanel
from khz_tui.ui.widgets.sim_banner import SimBanner
from khz_tui.ui.widgets.verify_panel import VerifyPanel

if TYPE_CHECKING:
    from khz_tui.ui.app import KhzApp

#: Below this width the footer is compact and the node table keeps only its most important columns.
NARROW = 100
#: How often queued events are drawn (seconds); ~ one batch per frame.
FLUSH_INTERVAL = 1 / 30
_LEVEL_MARK = {"warning": "! ", "error": "✗ ", "debug": "· "}
TITLES = {"apply": "Applying", "destroy": "Destroying", "dry-run": "Dry run of", "verify": "Verifying"}
#: The title once the run has ended: what happened, not what was going on.
DONE_TITLES = {"apply": "Applied cluster {}", "destroy": "Destroyed cluster {}", "dry-run": "Dry run of {} done",
               "verify": "Verified cluster {}"}
NOUNS = {"apply": "Apply", "destroy": "Destroy", "dry-run": "Dry run", "verify": "Verify"}
_CHANGE_MARK = {"create": "+", "change": "~", "delete": "-", "keep": "="}


def title_for(mode: RunMode, name: str, outcome: Outcome | None) -> str:
    """The console's title: the run going on, or how it ended."""
    if outcome is None:
        return f"{TITLES[mode]} cluster [b]{name}[/]"
    if outcome is Outcome.SUCCEEDED:
        return DONE_TITLES[mode].format(f"[b]{name}[/]")
    how = "cancelled" if outcome is Outcome.INTERRUPTED else "failed"
    return f"{NOUNS[mode]} of [b]{name}[/] {how}"


def log_lines(batch: Iterable[EngineEvent], view: RunView) -> list[tuple[str | None, str]]:
    """The log pane's (node, line) pairs for a batch of events; `view` is the run as of the batch's end."""
    lines: list[tuple[str | None, str]] = []
    for event in batch:
        if isinstance(event, LogLine):  # most events by far: handled here, without a call per line
            if event.level == "debug" or not event.text.strip():
                continue  # command echoes and blank lines: in the run log, not worth a line here
            lines.append((event.node, log_line(event.elapsed, event.node, _LEVEL_MARK.get(event.level, "") + event.text)))
        else:
            lines += _event_lines(event, view)
    return lines


def _event_lines(event: EngineEvent, view: RunView) -> list[tuple[str | None, str]]:
    match event:
        case NodePhaseChanged() if event.reason:
            return [(event.node, log_line(event.elapsed, event.node, f"→ {event.phase}: {event.reason}"))]
        case StepFailed():
            return [(None, log_line(event.elapsed, None, f"✗ {event.title}: {event.message}"))]
        case ResourceDeleted():
            ident = f" (id {event.id})" if event.id is not None else ""
            node = event.name if event.name in view.nodes else None
            return [(node, log_line(event.elapsed, node, f"deleted {event.resource_type} {event.name}{ident}"))]
        case PlanDiffed():
            return [(None, log_line(event.elapsed, None, f"{_CHANGE_MARK.get(change.action, '?')} {change.action} "
                                    f"{change.resource_type} {change.name}" + (f" ({change.detail})" if change.detail else "")))
                    for change in event.changes]
        case RunStarted():
            where = "simulator" if event.simulated else event.endpoint
            return [(None, log_line(event.elapsed, None, f"{event.mode} started against {where}"))]
        case NodeRepaired() | ConnectionDropped():
            return [(event.node, log_line(event.elapsed, event.node, _LEVEL_MARK["warning"] + repair_words(event)))]
        case DeleteRetried():
            return [(None, log_line(event.elapsed, None, repair_words(event)))]
    return []


#: What a retry of each mode does, said before it starts: retrying never turns into another mode.
RETRY_SAYS = {
    "apply": "applying again: creates what is missing and continues from where it stopped",
    "destroy": "destroying again: deletes what is left of the cluster",
    "dry-run": "asking again what applying would change; nothing is changed",
    "verify": "verifying again; nothing at Hetzner is changed",
}


class RunConsole(Screen[None]):
    app: KhzApp
    HELP = (
        "The engine is working. The table shows each node's phase; enter on a row shows only that node's log "
        "lines (l shows all again); i inspects the node: its phases with times, its log, and ssh, kubectl "
        "and hcloud commands to copy with c. / searches the log and marks each match, n and N go to the next "
        "and the previous; w wraps every log line (error lines always wrap). escape asks before cancelling: a "
        "cancelled run leaves its state behind, and applying again continues from there. When the run ends: "
        "c copies the kubectl command; after a failure r retries and D destroys. A bell and a notification "
        "say when a run ends."
    )
    #: Small terminals get the compact layout: fewer node columns, a shorter table, the log kept in view.
    VERTICAL_BREAKPOINTS = [(0, "-short"), (30, "-tall")]
    #: Short terminals keep the log in view after a run: the outcome shows its first lines (a failure's message
    #: and hint; the kubectl command; the keys are in the footer) and verify only its tally, which names what
    #: failed.
    DEFAULT_CSS = """
    RunConsole.-short #outcome { max-height: 5; }
    RunConsole.-short #outcome.-failed { max-height: 6; }
    RunConsole.-short #verify { max-height: 1; border: none; padding: 0 2; }
    """
    #: Footer entries are few and short, most important first, so `f1 Help` and `D Destroy` fit in 80
    #: columns; the log's own keys are on the log's border instead.
    BINDINGS = [
        Binding("escape", "leave('cancel')", "Cancel"),
        Binding("escape", "leave('back')", "Back"),
        Binding("slash", "search", "Search"),
        Binding("l", "all_lines", "All lines", show=False),
        Binding("i", "inspect", "Inspect node", show=False),
        Binding("w", "wrap", "Wrap log", show=False),
        Binding("n", "step_match(1)", "Next match", show=False),
        Binding("N", "step_match(-1)", "Previous match", show=False),
        Binding("c", "copy_command", "Copy kubectl"),
        # One binding per mode, so the footer says what r will do; check_action shows the run's own.
        Binding("r", "retry('apply')", "Retry apply"),
        Binding("r", "retry('destroy')", "Retry destroy"),
        Binding("r", "retry('dry-run')", "Retry dry-run"),
        Binding("D", "destroy", "Destroy"),
        Binding("e", "fix_field", "Fix in the wizard"),
    ]

    def __init__(self, mode: RunMode, plan: ClusterPlan, runner: Runner, *, flush_interval: float = FLUSH_INTERVAL):
        super().__init__(classes="run-console")
        self.mode = mode
        self.plan = plan
        self.runner = runner
        self.pending: deque[EngineEvent] = deque()
        self.view = self._new_view()
        self.flush_interval = flush_interval

    def compose(self) -> ComposeResult:
        if self.app.options.sim:
            yield SimBanner()
        yield Static(title_for(self.mode, self.plan.name, None), id="run-title")
        yield ProgressPanel(id="progress")
        yield NodeTable(id="nodes")
        yield OutcomePanel(id="outcome")
        yield VerifyPanel(id="verify")
        yield LogPane(id="log-pane")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(Footer).compact = self.size.width < NARROW
        self.query_one(Footer).show_command_palette = self.size.width >= NARROW  # ctrl+p still opens it
        self.set_interval(self.flush_interval, self.flush)
        self.query_one(NodeTable).focus()
        self.start()

    def on_resize(self, event: events.Resize) -> None:
        narrow = event.size.width < NARROW
        footer = self.query_one(Footer)
        footer.compact, footer.show_command_palette = narrow, not narrow
        self.query_one(NodeTable).fit_width(event.size.width)

    def start(self) -> None:
        self.view = self._new_view()
        self.query_one(OutcomePanel).set_class(False, "-shown")
        self.query_one(VerifyPanel).show(self.view)
        self._run()

    @property
    def finished(self) -> RunFinished | None:
        return self.view.finished

    # -- the run ----------------------------------------------------------------------------------

    def sink(self, event: EngineEvent) -> None:
        """The engine's sink: queue only; `flush` draws."""
        self.pending.append(event)

    async def confirm(self, question: str) -> bool:
        # The engine asks before a scale-down or a destroy: say where, as every destructive dialog does.
        return await self.app.push_screen_wait(ConfirmDialog(f"{question}\n\nIn {self.app.target().place}."))

    @work(exclusive=True, group="run")
    async def _run(self) -> None:
        try:
            await self.runner(self.sink, self.confirm)
        except asyncio.CancelledError:
            self.sink(RunFinished(mode=self.mode, ok=False, outcome=Outcome.INTERRUPTED,
                                  message="cancelled; the state so far is kept",
                                  hint="apply again to continue where it stopped, or destroy"))
            raise
        except Exception as exc:  # noqa: BLE001 - e.g. CredentialsError: shown in the engine's words
            self.sink(RunFinished(mode=self.mode, ok=False, outcome=Outcome.FAILED,
                                  message=str(exc) or type(exc).__name__))
        finally:
            self.flush()

    def flush(self) -> None:
        """Draw every queued event: one fold into the view, one table refresh and one log write per batch."""
        if not self.pending or not self.is_attached:  # a run cancelled as the app closes has no screen
            return
        batch = list(self.pending)
        self.pending.clear()
        was_finished = self.view.finished is not None
        view = self.view = self.view.apply_all(batch)
        table, progress = self.query_one(NodeTable), self.query_one(ProgressPanel)
        table.refresh_rows(view)
        self.query_one(LogPane).add_lines(log_lines(batch, view))
        progress.show(view)
        self.query_one(VerifyPanel).show(view)
        if view.finished is not None:
            if not was_finished:
                self._announce(next(e for e in batch if isinstance(e, RunFinished)))
            self.query_one("#run-title", Static).update(title_for(self.mode, self.plan.name, view.outcome))
            self.query_one(OutcomePanel).show(view)
            failed_node = view.failed_node
            if not view.succeeded and failed_node is not None and failed_node in table.nodes:
                # The cursor goes where the person looks next: enter shows that node's lines only.
                table.move_cursor(row=table.get_row_index(failed_node))
            self.refresh_bindings()

    def _announce(self, finished: RunFinished) -> None:
        """A bell and a notification: a run takes minutes, and the person may be looking elsewhere."""
        self.app.bell()
        title = title_for(self.mode, self.plan.name, finished.outcome).replace("[b]", "").replace("[/]", "")
        self.notify(finished.message, title=title, severity="information" if finished.outcome is Outcome.SUCCEEDED
                    else "error", markup=False)

    def _new_view(self) -> RunView:
        """An empty view that knows the plan's nodes, for rows of servers the engine finds rather than plans
        (destroy)."""
        from khz_tui.engine.cloud.names import planned_nodes

        return RunView.of_plan(
            NodePlanned(node=slot.name, role=slot.role, pool=slot.pool, server_type=slot.server_type,
                        location=slot.location)
            for slot in planned_nodes(self.plan)
        )

    # -- actions ----------------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self.finished is None

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "copy_command":
            return self.view.kubeconfig is not None and not self.running
        if action == "retry":
            return parameters == (self.mode,) and not self.running and not self.view.succeeded
        if action == "leave":
            return parameters == (("cancel",) if self.running else ("back",))
        if action == "destroy":
            return not self.running
        if action == "fix_field":
            return self._failed_field() is not None
        return True

    def _failed_field(self) -> str | None:
        """The wizard field that holds what the failed step asks to change (the SSH key, the ranges)."""
        from khz_tui.ui.wizard_fields import FAILED_STEP_FIELDS

        finished = self.view.finished
        if finished is None or self.view.succeeded:
            return None
        return FAILED_STEP_FIELDS.get(finished.failed_step or "")

    def action_fix_field(self) -> None:
        if (path := self._failed_field()) is not None:
            self.app.action_fix_field(path)

    @work(group="leave")
    async def action_leave(self, _label: str = "") -> None:
        pane = self.query_one(LogPane)
        if pane.has_class("-searching"):
            pane.close_search()
            return
        if not self.running:
            self.app.pop_screen()
            return
        if await self.app.push_screen_wait(ConfirmDialog(
            f"Cancel the run in {self.app.target().place}? What exists stays; applying again continues from there.",
            yes="Cancel run", no="Keep going"
        )):
            self.workers.cancel_group(self, "run")

    def action_search(self) -> None:
        self.query_one(LogPane).open_search()

    def action_step_match(self, step: int) -> None:
        self.query_one(LogPane).step_match(step)

    def action_wrap(self) -> None:
        self.query_one(LogPane).toggle_wrap()

    def action_all_lines(self) -> None:
        self.query_one(LogPane).set_filter(None)

    def action_copy_command(self) -> None:
        kubeconfig = self.view.kubeconfig
        if kubeconfig is not None:
            # OSC 52: many terminals (and tmux without set-clipboard) ignore it and nothing tells us, so
            # the command is shown in full either way rather than claiming it was copied.
            self.app.copy_to_clipboard(kubeconfig.command)
            self.notify(kubeconfig.command, title="Sent to the clipboard if your terminal allows it (OSC 52)",
                        timeout=15)

    def action_inspect(self) -> None:
        """The highlighted node's whole history and commands for it (a modal; escape closes it)."""
        from khz_tui.ui.dialogs.node_inspect import NodeInspect, node_commands
        from khz_tui.ui.run_history import cluster_state_dir

        table = self.query_one(NodeTable)
        if not table.row_count:
            return
        name = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        node = self.view.nodes.get(name or "")
        if node is None:
            return
        lines = [line for who, line in self.query_one(LogPane).history if who == node.name]
        state_dir = cluster_state_dir(self.plan.name, simulated=self.app.options.sim)
        kubeconfig = self.view.kubeconfig.path if self.view.kubeconfig is not None else None
        self.app.push_screen(NodeInspect(node, lines, node_commands(node, self.plan, state_dir, kubeconfig)))

    def action_retry(self, mode: RunMode) -> None:
        """Run the same mode again (a failed destroy is never retried as an apply) and say what it does."""
        if mode != self.mode:
            return
        self.notify(RETRY_SAYS[mode].capitalize(), title=f"Retrying {mode} of {self.plan.name}")
        self.app.start_run(mode, self.plan, replace=True)

    def action_destroy(self) -> None:
        self.app.action_destroy()

    @on(DataTable.RowSelected, "#nodes")
    def _node_selected(self, event: DataTable.RowSelected) -> None:
        node = event.row_key.value
        pane = self.query_one(LogPane)
        pane.set_filter(None if pane.node == node else node)
