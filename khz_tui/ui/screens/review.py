"""Step 5: the whole plan as TOML, what the engine's dry-run says would change, cost and warnings."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text
from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import Button, Footer, Static

from khz_tui.engine.events import EngineEvent, PlanDiffed
from khz_tui.plan.toml_io import dumps_plan
from khz_tui.ui.ssh_keys import missing_key
from khz_tui.ui.widgets.cost_panel import CostPanel
from khz_tui.ui.widgets.fieldless_problems import FieldlessProblems
from khz_tui.ui.widgets.problem_list import ProblemList
from khz_tui.ui.widgets.step_indicator import StepIndicator
from khz_tui.ui.widgets.target_line import target_bar
from khz_tui.ui.wizard_fields import has_field, readable_path

if TYPE_CHECKING:
    from khz_tui.plan.model import ClusterPlan
    from khz_tui.ui.app import KhzApp

_ACTION_STYLE = {"create": ("+", "green"), "keep": ("=", "dim"), "change": ("~", "yellow"), "delete": ("-", "red")}


class ReviewScreen(Screen[None]):
    app: KhzApp
    STEP = "review"
    HELP = (
        "Everything the plan says, as the TOML file it saves to, and what applying it would change (the engine's "
        "dry-run against your project, or the simulator). ctrl+s saves the plan; a applies it and opens the run "
        "console; D destroys the cluster (after you type its name); escape goes back to change something. "
        "A problem on a key the wizard has no field for is listed with its line: x removes that key. v shows what "
        "changed since the plan was last saved, as a diff of the file; h lists the cluster's past runs on "
        "this machine (mode, when, how each ended)."
    )
    BINDINGS = [
        Binding("a", "apply", "Apply"),
        Binding("ctrl+s", "app.save_plan", "Save plan"),
        Binding("d", "dry_run", "Dry-run again"),
        Binding("D", "app.destroy", "Destroy"),
        Binding("h", "history", "Run history", show=False),
        Binding("v", "changes", "Changes since save", show=False),  # the footer is full at 80 columns; in f1 help
        Binding("escape,ctrl+b", "back", "Back"),
    ]

    def compose(self) -> ComposeResult:
        yield target_bar(self.app)
        yield StepIndicator("review")
        with Horizontal(id="step-body"):
            with VerticalScroll(id="plan-toml"):
                yield Static(id="toml")
            with VerticalScroll(id="side"):
                yield CostPanel(id="cost")
                yield Static(id="changes")
                yield Static(id="access")
                yield Static(id="warnings")
        yield FieldlessProblems(id="fieldless")
        yield ProblemList(id="problems")
        with Horizontal(id="step-buttons"):
            yield Button("← Back", id="back", compact=True)
            yield Button("Dry-run again (d)", id="dry-run", compact=True)
            yield Button("Save (ctrl+s)", id="save", compact=True)
            yield Button("Apply (a)", id="apply", variant="primary", compact=True)
        yield Footer()

    shown_at = float("inf")

    def on_screen_resume(self, event: events.ScreenResume) -> None:
        self.shown_at = event.time

    def action_apply(self) -> None:
        """Apply on a deliberate key: one typed before this screen was on show (Next hammered
        through the wizard, keys queued behind it) is ignored."""
        if self.app.last_input_time < self.shown_at:
            self.notify("Look over the plan first: press a again to apply it", severity="warning")
            return
        self.app.action_apply()

    def on_mount(self) -> None:
        self.query_one("#plan-toml").border_title = "Plan"
        self.show_plan()
        self.watch(self.app, "theme", lambda _theme: self.show_plan(), init=False)
        self.action_dry_run()
        self._look_up_caller()

    def show_plan(self) -> None:
        self.query_one(StepIndicator).modified = self.app.modified
        draft = self.app.draft
        problems = self.app.with_lines(draft.check())
        plan = draft.plan
        fieldless = [p for p in problems if not has_field(p.path)]
        self.query_one(FieldlessProblems).show(fieldless, self.app.plan_source())
        self.query_one(ProblemList).show(
            problems, [p for p in problems if p.severity == "error" and has_field(p.path)], draft.data)
        self.query_one(CostPanel).show_plan(plan)
        self.show_access()
        warnings = [p for p in problems if p.severity == "warning" and has_field(p.path)]
        text = Text()
        key = missing_key(draft)
        if warnings or key:
            text.append("Warnings\n", style="bold")
        if key:
            text.append(f"⚠ ssh.public_key: {key}\n")
        for p in warnings:
            text.append(f"⚠ {readable_path(p.path, draft.data)}: {p.message}\n")
        self.query_one("#warnings", Static).update(text)
        if plan is None:
            self.query_one("#toml", Static).update("The plan has problems: go back (escape) to fix them.")
            return
        dark = self.app.current_theme.dark
        self.query_one("#toml", Static).update(
            Syntax(dumps_plan(plan), "toml", theme="monokai" if dark else "default", background_color="default",
                   word_wrap=True)
        )

    def action_dry_run(self) -> None:
        plan = self.app.draft.plan
        if plan is None:
            self.query_one("#changes", Static).update("")
            return
        self.query_one("#changes", Static).update(Text("Asking what exists…", style="dim"))
        self._dry_run(plan)

    @work(exclusive=True, group="dry-run")
    async def _dry_run(self, plan: ClusterPlan) -> None:
        seen: list[EngineEvent] = []
        changes = self.query_one("#changes", Static)
        runner = self.app.runner_factory("dry-run", plan)
        try:
            finished = await runner(seen.append, _decline)
        except Exception as exc:  # noqa: BLE001 - e.g. no token: say so, the review itself still stands
            changes.update(Text(f"Changes unknown: {exc}", style="yellow"))
            return
        diff = next((e for e in seen if isinstance(e, PlanDiffed)), None)
        if diff is None:
            changes.update(Text(f"Changes unknown: {finished.message}", style="yellow"))
            return
        changes.update(render_diff(diff))

    def action_back(self) -> None:
        self.app.show_step_before(self.STEP)

    def action_history(self) -> None:
        """The runs of this cluster (by the plan's name) the engine logged on this machine, for this target."""
        from khz_tui.ui.dialogs.run_history import RunHistory
        from khz_tui.ui.run_history import cluster_state_dir

        name = self.app.draft.name
        self.app.push_screen(RunHistory(name, cluster_state_dir(name, simulated=self.app.options.sim)))

    def action_changes(self) -> None:
        """The saved file against the plan as ctrl+s would write it now."""
        from khz_tui.ui.dialogs.plan_changes import PlanChanges

        plan = self.app.draft.plan
        if plan is None:
            self.notify("The plan has problems: fix them first, then v shows what changed", severity="warning")
            return
        self.app.push_screen(PlanChanges(self.app.plan_path, dumps_plan(plan)))

    # -- who can connect --------------------------------------------------------------------------

    def show_access(self) -> None:
        """Who the firewall lets in, per port: an empty list is this machine's address (named once known),
        a world-open range is said in so many words."""
        draft, caller = self.app.draft, self.app.caller
        text = Text("Who can connect\n", style="bold")
        mine = ", ".join(a.cidr for a in caller.found) if caller.found else ("unknown" if caller.error else "…")
        for key, what in (("ssh.allowed_cidrs", "SSH"), ("ssh.api_allowed_cidrs", "API")):
            ranges = draft.get(key, []) or []
            text.append(f"{what}: ", style="bold")
            if not ranges:
                text.append(f"this machine only ({mine})\n")
                continue
            open_world = [r for r in ranges if str(r).endswith("/0")]
            text.append(", ".join(map(str, ranges)))
            text.append("  ⚠ the whole internet\n" if open_world else "\n",
                        style="bold reverse" if open_world else "")
        self.query_one("#access", Static).update(text)

    @work(exclusive=True, group="caller-address")
    async def _look_up_caller(self) -> None:
        draft = self.app.draft
        if draft.get("ssh.allowed_cidrs") and draft.get("ssh.api_allowed_cidrs"):
            return
        await self.app.look_up_caller()
        if self.is_attached:
            self.show_access()

    # -- keys the wizard has no field for ---------------------------------------------------------

    @on(FieldlessProblems.RemoveAsked)
    def _remove_key(self, event: FieldlessProblems.RemoveAsked) -> None:
        from khz_tui.ui.wizard_fields import remove_key

        path = event.problem.path
        if not remove_key(self.app.draft.data, path):
            self.notify(f"{path} is not written in the plan, so there is nothing to remove: add it in the file",
                        severity="warning")
            return
        self.show_plan()
        self.notify(f"Removed {path} from the plan (ctrl+s saves the change)")
        if self.app.draft.plan is not None:
            self.action_dry_run()

    @on(Button.Pressed, "#back")
    def _back(self) -> None:
        self.action_back()

    @on(Button.Pressed, "#dry-run")
    def _dry(self) -> None:
        self.action_dry_run()

    @on(Button.Pressed, "#save")
    def _save(self) -> None:
        self.app.action_save_plan()

    @on(Button.Pressed, "#apply")
    def _apply(self) -> None:
        self.action_apply()


def render_diff(diff: PlanDiffed) -> Table:
    table = Table(box=None, expand=True, show_header=False, padding=(0, 1), title_justify="left")
    counts = {kind: sum(1 for c in diff.changes if c.action == kind) for kind in _ACTION_STYLE}
    if diff.changes and counts["create"] == len(diff.changes):
        table.title = f"Nothing exists yet: apply creates {counts['create']} resources"
    else:
        table.title = "Changes: " + ", ".join(f"{n} {kind}" for kind, n in counts.items() if n) if diff.changes \
            else "Changes: none, the cluster matches the plan"
    table.add_column(no_wrap=True)
    table.add_column(ratio=1, overflow="fold")
    for change in diff.changes:
        mark, style = _ACTION_STYLE.get(change.action, ("?", ""))
        detail = f" ({change.detail})" if change.detail else ""
        table.add_row(Text(mark, style=style), Text(f"{change.resource_type} {change.name}{detail}", style=style))
    table.add_row("", Text(f"monthly change {diff.monthly_cost_delta} {diff.currency}", style="bold"))
    return table


async def _decline(question: str) -> bool:
    return False
