"""A labelled form control bound to one plan key path, with that path's problems shown beneath it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widget import Widget
from textual.widgets import Label, Static

from khz_tui.ui.draft import field_help, owns
from khz_tui.ui.wizard_fields import readable_path

if TYPE_CHECKING:
    from khz_tui.plan.checks import Problem


class PlanField(Vertical):
    """Label, control and problems for the key path `path` (e.g. `control_plane.count`)."""

    DEFAULT_CSS = """
    PlanField { height: auto; margin: 0 0 1 0; }
    PlanField > .field-label { color: $text-muted; }
    PlanField > .field-problem { display: none; height: auto; color: $text-error; }
    PlanField.-error > .field-problem { display: block; }
    PlanField.-warning > .field-problem { display: block; color: $text-warning; }
    """

    def __init__(self, label: str, control: Widget, path: str, *, id: str | None = None,
                 classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.label = label
        self.control = control
        self.path = path
        self._problem_text = ""

    def describe(self) -> None:
        """Use the plan field's own description as the control's tooltip (and in F1 help).

        Not done in `__init__`: the descriptions live in the plan model, which the wizard's first
        screen does not wait for; the screen calls this once the model has loaded."""
        self.control.tooltip = field_help(self.path) or None

    def compose(self) -> ComposeResult:
        yield Label(self.label, classes="field-label")
        yield self.control
        yield Static("", classes="field-problem")

    def show_problems(self, problems: list[Problem], data: dict[str, Any] | None = None) -> list[Problem]:
        """Show the problems under this field's path; return the ones shown. `data` (the plan's) lets
        a table field name its rows (`pool "web"`) rather than number them."""
        mine = [p for p in problems if owns((self.path,), p.path)]
        errors = any(p.severity == "error" for p in mine)
        self.set_class(errors, "-error")
        self.set_class(bool(mine) and not errors, "-warning")
        lines = [("⚠ " if p.severity == "warning" else "✗ ") + _where(p, self.path, data) + p.message for p in mine]
        text = "\n".join(lines)
        if text != self._problem_text:  # every keystroke asks; an update would lay the screen out again
            self._problem_text = text
            self.query_one(".field-problem", Static).update(text)
        return mine


def _where(problem: Problem, field_path: str, data: dict[str, Any] | None) -> str:
    # A table field (worker pools, volumes) gathers problems from its rows; name the row by its name.
    rest = problem.path[len(field_path):].lstrip(".")
    if not rest:
        return ""
    return f"{readable_path(problem.path, data) if data is not None and rest.startswith('[') else rest}: "
