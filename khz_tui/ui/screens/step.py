"""What every wizard step shares: step indicator, form beside a side panel, problems, Next and Back.

A step reads its fields from the app's `PlanDraft`, writes them back on every change, and shows the
plan package's problems under its key-path prefixes beside the fields that cause them. Next is
refused while any of those problems is an error.

The first screen can paint before the plan package has loaded (see `PlanDraft.new`): fields get
their help and problems in `plan_ready`, which the app calls once the package is there.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.css.query import NoMatches
from textual.screen import Screen
from textual.widgets import Button, Checkbox, Footer, Input, RadioSet, Select, SelectionList, Switch

from khz_tui.ui.draft import owns
from khz_tui.ui.widgets.field_help import FieldHelp
from khz_tui.ui.widgets.plan_field import PlanField
from khz_tui.ui.widgets.problem_list import ProblemList
from khz_tui.ui.widgets.step_indicator import STEP_ORDER, StepIndicator
from khz_tui.ui.widgets.target_line import TargetLine, target_bar
from khz_tui.ui.wizard_fields import has_field, readable_path

if TYPE_CHECKING:
    from khz_tui.plan.checks import Problem
    from khz_tui.ui.app import KhzApp
    from khz_tui.ui.draft import PlanDraft


class WizardStep(Screen[None]):
    """Base of the wizard's step screens. Subclasses compose fields and read/write the draft."""

    app: KhzApp
    STEP: ClassVar[str] = ""
    PREFIXES: ClassVar[tuple[str, ...]] = ()
    HELP: ClassVar[str] = ""

    #: Typing starts in the first field, not on the scroll container around the form (keys typed there
    #: were lost, and a few Tabs later a drop-down opened).
    AUTO_FOCUS = "#form PlanField > *"

    BINDINGS = [
        Binding("ctrl+n", "next", "Next", priority=True),
        Binding("enter", "next", "Next", show=False),
        Binding("escape,ctrl+b", "back", "Back"),
        Binding("ctrl+z", "undo", "Undo"),
    ]

    def __init__(self) -> None:
        super().__init__(classes=f"wizard-step step-{self.STEP}")
        self.focus_path: str | None = None
        """A key path whose field gets the cursor when the step opens (set by `KhzApp.show_step`)."""
        # Until `load` has filled the fields there is nothing to read: a Changed posted by a field as it
        # mounts (Select announces its first value) may reach the step before its other fields exist.
        self._loading = True

    @property
    def draft(self) -> PlanDraft:
        return self.app.draft

    def compose(self) -> ComposeResult:
        yield target_bar(self.app)
        yield StepIndicator(self.STEP)
        with Horizontal(id="step-body"):
            with VerticalScroll(id="form"):
                yield from self.compose_form()
            yield from self.compose_side()
        yield FieldHelp(id="field-help")
        yield ProblemList(id="problems")
        with Horizontal(id="step-buttons"):
            if STEP_ORDER[0] != self.STEP:  # nothing comes before the first step
                yield Button("← Back", id="back", compact=True)
            yield Button("Next →", id="next", variant="primary", compact=True)
        yield Footer()

    # -- for subclasses ---------------------------------------------------------------------------

    def compose_form(self) -> ComposeResult:
        yield from ()

    def compose_side(self) -> ComposeResult:
        yield from ()

    def load(self) -> None:
        """Fill the fields from the draft."""

    def collect(self) -> dict[str, Any]:
        """The step's values as {dotted path: value}; None removes a key."""
        return {}

    def after_check(self) -> None:
        """React to a fresh verdict (e.g. refresh the cost panel)."""

    # -- flow -------------------------------------------------------------------------------------

    def on_mount(self) -> None:
        self._loading = True
        self.load()
        self.call_after_refresh(self._loaded)

    def _loaded(self) -> None:
        if not self.is_attached:  # left (e.g. Next typed ahead) before its first refresh: nothing to show
            return
        self._loading = False
        if self.draft.ready:
            self.plan_ready()
        if self.focus_path is not None:
            self._focus_field(self.focus_path)

    @property
    def showing(self) -> bool:
        """Whether this step is the screen on show. Events queued before a switch (a key typed ahead,
        a field's Changed, the plan arriving) still reach a step that is leaving, whose fields may
        already be gone: such a step has nothing left to do."""
        return self.is_attached and self.is_current

    def plan_ready(self) -> None:
        """The draft has its defaults and a verdict: describe each field from the plan's docs, check."""
        if self._loading or not self.showing:
            return  # `_loaded` calls this again once the fields hold the draft's values
        helps = self.query(FieldHelp)
        if not helps:  # the app is closing and has taken the step's widgets down; the plan came too late
            return
        for field in self.query(PlanField):
            field.describe()
        helps.first().follow(self.focused)
        self.changed()

    def on_descendant_focus(self, event: Any) -> None:
        if not self._loading and self.is_attached:
            for help_pane in self.query(FieldHelp):  # none once the app closing has taken the widgets down
                help_pane.follow(self.focused)

    def changed(self) -> None:
        """Write the fields into the draft, re-check the plan, show what the checks found."""
        if self._loading or not self.showing:
            return
        try:
            values = self.collect()
        except NoMatches:  # fields removed as the step is left: nothing of theirs may reach the draft
            return
        could_undo = self.draft.can_undo
        self.draft.update(values)
        if could_undo != self.draft.can_undo:
            self.refresh_bindings()
        self.show_problems(self.draft.problems_under(self.PREFIXES))
        self.query_one(StepIndicator).modified = self.app.modified
        for line in self.query(TargetLine):
            line.refresh()  # the token's source or the endpoint may just have changed
        self.after_check()

    def show_problems(self, problems: list[Problem]) -> None:
        placed: list[Problem] = []
        for field in self.query(PlanField):
            placed += field.show_problems(problems, self.draft.data)
        unplaced = [p for p in problems if p not in placed]
        self.query_one(ProblemList).show(problems, unplaced, self.draft.data)

    def blocking(self) -> list[Problem]:
        """Errors a field of this step can fix. One on a key no field sets (a replayed plan's stray key)
        does not hold the person here: the review lists it and can remove the key."""
        return [p for p in self.draft.problems_under(self.PREFIXES) if p.severity == "error" and has_field(p.path)]

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "undo":
            return self.draft.can_undo  # shown in the footer only once there is something to take back
        return action != "back" or STEP_ORDER[0] != self.STEP

    def action_undo(self) -> None:
        """Take back the draft's newest change and show the fields as they were."""
        if not self.showing or (what := self.draft.undo()) is None:
            return
        self.notify(f"undid the change to {what}", title="Undo")
        # The fields are built from the draft: a fresh step shows it, the cursor on the field changed back.
        self.app.show_step(self.STEP, focus=what.split(", ")[0])

    def action_next(self) -> None:
        if not self.showing:  # a Next typed ahead, meant for the step that replaced this one
            return
        self.draft.complete()  # Next pressed before the background load finished: never skip the checks
        self.changed()
        errors = self.blocking()
        if errors:
            first = errors[0]
            count = f"{len(errors)} problem{'s' if len(errors) != 1 else ''}"
            self.notify(f"{readable_path(first.path, self.draft.data)}: {first.message}", title=f"Fix {count} first",
                        severity="error")
            self._focus_field(first.path)
            return
        self.app.show_step_after(self.STEP)

    def action_back(self) -> None:
        if not self.showing:
            return
        self.changed()
        self.app.show_step_before(self.STEP)

    def _focus_field(self, path: str) -> None:
        for field in self.query(PlanField):
            if owns((field.path,), path):
                field.control.focus()
                return

    @on(Button.Pressed, "#next")
    def _next_pressed(self) -> None:
        self.action_next()

    @on(Button.Pressed, "#back")
    def _back_pressed(self) -> None:
        self.action_back()

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_next()

    @on(Input.Changed)
    @on(Select.Changed)
    @on(Switch.Changed)
    @on(Checkbox.Changed)
    @on(RadioSet.Changed)
    @on(SelectionList.SelectedChanged)
    def _field_changed(self, event: Any) -> None:
        self.changed()


def select_value(widget: Select[Any]) -> Any:
    """The Select's value, or None while nothing is chosen."""
    return None if widget.is_blank() else widget.value


def as_int(text: str) -> Any:
    """An integer when the text is one; the raw text otherwise, so the plan's check can explain it."""
    try:
        return int(text.strip())
    except ValueError:
        return text


def as_list(text: str) -> list[str]:
    """Comma- or space-separated entries as a list."""
    return [part for part in text.replace(",", " ").split() if part]
