"""The live run: node table, progress, log and, at the end, the outcome with what to do next.

The engine runs in a worker on the app's event loop and hands every event to `sink`, which only
queues it. A timer drains the queue once per frame, so a burst of thousands of log lines costs one
table refresh and one log write instead of thousands of messages.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import TYPE_CHECKING

from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from khz_tui.engine.events import (
    EngineEvent,
    KubeconfigWritten,
    LogLine,
    NodePhaseChanged,
    NodePlanned,
    PlanDiffed,
    ResourceDeleted,
    RunFinished,
    RunMode,
    RunStarted,
    StepFailed,
    StepFinished,
    StepStarted,
    VerifyCheckFinished,
    VerifyFinished,
    VerifyWillCreate,
)
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


def title_for(mode: RunMode, name: str, finished: RunFinished | None) -> str:
    """The console's title: the run going on, or how it ended."""
    if finished is None:
        return f"{TITLES[mode]} cluster [b]{name}[/]"
    if finished.ok:
        return DONE_TITLES[mode].format(f"[b]{name}[/]")
    how = "cancelled" if finished.message.startswith("cancelled") else "failed"
    return f"{NOUNS[mode]} of [b]{name}[/] {how}"
#: What a retry of each mode does, said before it starts: retrying never turns into another mode.
RETRY_SAYS = {
    "apply": "applying again: creates what is missing and continues from where it stopped",
    "destroy": "destroying again: deletes what is left of the cluster",
    "dry-run": "asking again what applying would change; nothing is changed",
    "verify": "verifying again; nothing at Hetzner is changed",
}


class RunConsole(Screen):
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
        self.finished: RunFinished | None = None
        self.kubeconfig: KubeconfigWritten | None = None
        self.failed_step: StepFailed | None = None
        self.failed_node: str | None = None
        self.deleted: list[ResourceDeleted] = []
        self._planned: dict[str, NodePlanned] | None = None
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
        self.finished = None
        self.query_one(OutcomePanel).set_class(False, "-shown")
        self.query_one(VerifyPanel).reset()
        self._run()

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
            self.sink(RunFinished(mode=self.mode, ok=False, message="cancelled; the state so far is kept",
                                  hint="apply again to continue where it stopped, or destroy"))
            raise
        except NotImplementedError as exc:
            self.sink(RunFinished(mode=self.mode, ok=False, message=f"cannot run: {exc}"))
        except Exception as exc:  # e.g. CredentialsError: shown in the engine's words
            self.sink(RunFinished(mode=self.mode, ok=False, message=str(exc) or type(exc).__name__))
        finally:
            self.flush()

    def flush(self) -> None:
        """Draw every queued event: one table refresh and one log write per batch."""
        if not self.pending or not self.is_attached:  # a run cancelled as the app closes has no screen
            return
        batch = list(self.pending)
        self.pending.clear()
        table, progress = self.query_one(NodeTable), self.query_one(ProgressPanel)
        lines: list[tuple[str | None, str]] = []
        for event in batch:
            progress.counted(event)
            if isinstance(event, LogLine):
                if event.level == "debug" or not event.text.strip():
                    continue  # command echoes and blank lines: in the run log, not worth a line here
                mark = _LEVEL_MARK.get(event.level, "")
                lines.append((event.node, log_line(event.elapsed, event.node, mark + event.text)))
            elif isinstance(event, NodePhaseChanged):
                if event.node not in table.nodes and (known := self._plan_nodes().get(event.node)) is not None:
                    table.node_planned(known)  # destroy finds servers: the plan says what each one was
                table.phase_changed(event)
                if event.phase == "failed":
                    self.failed_node = event.node
                if event.reason:
                    lines.append((event.node, log_line(event.elapsed, event.node, f"→ {event.phase}: {event.reason}")))
            elif isinstance(event, NodePlanned):
                table.node_planned(event)
            elif isinstance(event, StepStarted):
                progress.step_started(event.step, event.title)
            elif isinstance(event, StepFinished):
                progress.step_ended(event.step)
            elif isinstance(event, StepFailed):
                progress.step_ended(event.step)
                self.failed_step = event
                lines.append((None, log_line(event.elapsed, None, f"✗ {event.title}: {event.message}")))
            elif isinstance(event, ResourceDeleted):
                self.deleted.append(event)
                table.resource_deleted(event)
                ident = f" (id {event.id})" if event.id is not None else ""
                node = event.name if event.name in table.nodes else None
                lines.append((node, log_line(event.elapsed, node, f"deleted {event.resource_type} {event.name}{ident}")))
            elif isinstance(event, PlanDiffed):
                for change in event.changes:
                    detail = f" ({change.detail})" if change.detail else ""
                    lines.append((None, log_line(event.elapsed, None, f"{_CHANGE_MARK.get(change.action, '?')} "
                                                 f"{change.action} {change.resource_type} {change.name}{detail}")))
            elif isinstance(event, KubeconfigWritten):
                self.kubeconfig = event
            elif isinstance(event, RunStarted):
                where = "simulator" if event.simulated else event.endpoint
                lines.append((None, log_line(event.elapsed, None, f"{event.mode} started against {where}")))
            elif isinstance(event, (VerifyCheckFinished, VerifyWillCreate, VerifyFinished)):
                self.query_one(VerifyPanel).add(event)
                if isinstance(event, VerifyCheckFinished) and not event.ok and event.nodes:
                    self.failed_node = event.nodes[0]
            elif isinstance(event, RunFinished):
                if self.finished is None:
                    self._announce(event)
                self.finished = event
        table.refresh_rows(progress.elapsed)
        self.query_one(LogPane).add_lines(lines)
        done = self.finished is not None and self.finished.ok
        progress.show(1.0 if done else table.progress(), running=self.finished is None)
        if self.finished is not None:
            self.query_one("#run-title", Static).update(title_for(self.mode, self.plan.name, self.finished))
            self.query_one(OutcomePanel).show(self.finished, self.kubeconfig, self.failed_step, self.deleted)
            if not self.finished.ok and self.failed_node in table.nodes:
                # The cursor goes where the person looks next: enter shows that node's lines only.
                table.move_cursor(row=table.get_row_index(self.failed_node))
            self.refresh_bindings()

    def _announce(self, finished: RunFinished) -> None:
        """A bell and a notification: a run takes minutes, and the person may be looking elsewhere."""
        self.app.bell()
        title = title_for(self.mode, self.plan.name, finished).replace("[b]", "").replace("[/]", "")
        self.notify(finished.message, title=title, severity="information" if finished.ok else "error", markup=False)

    def _plan_nodes(self) -> dict[str, NodePlanned]:
        """The plan's nodes by name, for rows of servers the engine found rather than planned (destroy)."""
        if self._planned is None:
            from khz_tui.engine.cloud.names import planned_nodes

            self._planned = {
                slot.name: NodePlanned(node=slot.name, role=slot.role, pool=slot.pool, server_type=slot.server_type,
                                       location=slot.location)
                for slot in planned_nodes(self.plan)
            }
        return self._planned

    # -- actions ----------------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self.finished is None

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "copy_command":
            return self.kubeconfig is not None and not self.running
        if action == "retry":
            return parameters == (self.mode,) and not self.running and self.finished is not None \
                and not self.finished.ok
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

        if self.running or self.finished is None or self.finished.ok:
            return None
        return FAILED_STEP_FIELDS.get(self.finished.failed_step or "")

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
        if self.kubeconfig is not None:
            # OSC 52: many terminals (and tmux without set-clipboard) ignore it and nothing tells us, so
            # the command is shown in full either way rather than claiming it was copied.
            self.app.copy_to_clipboard(self.kubeconfig.command)
            self.notify(self.kubeconfig.command, title="Sent to the clipboard if your terminal allows it (OSC 52)",
                        timeout=15)

    def action_inspect(self) -> None:
        """The highlighted node's whole history and commands for it (a modal; escape closes it)."""
        from khz_tui.ui.dialogs.node_inspect import NodeInspect, node_commands
        from khz_tui.ui.run_history import cluster_state_dir

        table = self.query_one(NodeTable)
        if not table.row_count:
            return
        name = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        row = table.nodes.get(name or "")
        if row is None:
            return
        lines = [line for node, line in self.query_one(LogPane).history if node == row.name]
        state_dir = cluster_state_dir(self.plan.name, simulated=self.app.options.sim)
        kubeconfig = self.kubeconfig.path if self.kubeconfig is not None else None
        self.app.push_screen(NodeInspect(row, lines, node_commands(row, self.plan, state_dir, kubeconfig)))

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
