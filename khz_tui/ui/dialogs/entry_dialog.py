"""Base of the small forms that edit one table entry (a worker pool, a volume)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Footer, Input, Label, Select

from khz_tui.ui.widgets.field_help import FieldHelp
from khz_tui.ui.widgets.plan_field import PlanField
from khz_tui.ui.widgets.problem_list import ProblemList

if TYPE_CHECKING:
    from khz_tui.plan.checks import Problem


class EntryDialog(ModalScreen[dict[str, Any] | None]):
    """Compose fields in `compose_fields`, return the entry from `values`; escape cancels."""

    #: The first field has the cursor, not the scrolling box around the fields.
    AUTO_FOCUS = "PlanField > *"
    BINDINGS = [
        Binding("ctrl+s", "keep", "Keep", priority=True),
        Binding("escape", "cancel", "Cancel"),
    ]

    def __init__(self, title: str) -> None:
        super().__init__(classes="dialog")
        self.title_text = title
        self.check: Callable[[dict[str, Any]], list[Problem]] | None = None
        """Checks an entry in the plan (set by the table); its problems show as fields change."""
        self.problems: list[Problem] = []

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog-box") as box:
            box.border_title = self.title_text
            yield from self.compose_fields()
            yield FieldHelp(id="field-help")
            yield ProblemList(id="entry-problems")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Cancel", id="cancel")
                yield Button("Keep", id="keep", variant="primary")
        yield Footer()

    def compose_fields(self) -> ComposeResult:
        yield Label("")

    def on_mount(self) -> None:
        for field in self.query(PlanField):
            field.describe()
        self.call_after_refresh(self._first_refreshed)

    def _first_refreshed(self) -> None:
        self.query_one(FieldHelp).follow(self.focused)
        self.validate()

    def on_descendant_focus(self, event: Any) -> None:
        if self.is_attached:
            self.query_one(FieldHelp).follow(self.focused)

    def values(self) -> dict[str, Any]:
        return {}

    def validate(self) -> list[Problem]:
        """Check the entry as it stands and show each problem beside its field, as the steps do."""
        if self.check is None or not self.is_attached:
            return []
        self.problems = self.check(self.values())
        placed: list[Problem] = []
        for field in self.query(PlanField):
            placed += field.show_problems(self.problems)
        self.query_one(ProblemList).show(self.problems, [p for p in self.problems if p not in placed])
        return [p for p in self.problems if p.severity == "error"]

    @on(Input.Changed)
    @on(Select.Changed)
    def _field_changed(self) -> None:
        self.validate()

    def action_keep(self) -> None:
        errors = self.validate()
        if errors:
            self.notify(f"{errors[0].path.rsplit('.', 1)[-1]}: {errors[0].message}", title="Fix this entry first",
                        severity="error")
            for field in self.query(PlanField):
                if field.path == errors[0].path:
                    field.control.focus()
            return
        self.dismiss(self.values())

    def action_cancel(self) -> None:
        self.dismiss(None)

    @on(Button.Pressed, "#keep")
    def _keep(self) -> None:
        self.action_keep()

    @on(Button.Pressed, "#cancel")
    def _cancel(self) -> None:
        self.action_cancel()

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_keep()
