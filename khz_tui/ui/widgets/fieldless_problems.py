"""Review's list of problems on keys the wizard has no field for: key, line in the file, and `x` to remove it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual.binding import Binding
from textual.message import Message
from textual.widgets import OptionList
from textual.widgets.option_list import Option

if TYPE_CHECKING:
    from khz_tui.plan.checks import Problem


class FieldlessProblems(OptionList):
    """Hidden while empty. Posts `RemoveAsked` for the highlighted problem's key on `x`."""

    DEFAULT_CSS = """
    FieldlessProblems { height: auto; max-height: 6; margin: 0 1; display: none; border: round $error; }
    FieldlessProblems.-shown { display: block; }
    """
    BINDINGS = [Binding("x,delete", "remove_key", "Remove key")]

    class RemoveAsked(Message):
        def __init__(self, problem: Problem) -> None:
            super().__init__()
            self.problem = problem

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.border_title = "Not in the wizard: x removes the key (its default applies)"
        self.problems: list[Problem] = []

    def show(self, problems: list[Problem], source: str | None) -> None:
        """`problems` with their line in `source` (the plan file's name), or none when not from a file."""
        if [(p.path, p.message, p.line) for p in problems] == [(p.path, p.message, p.line) for p in self.problems]:
            return
        self.problems = list(problems)
        self.clear_options()
        for p in problems:
            where = f" ({source}, line {p.line})" if p.line and source else ""
            mark = "⚠" if p.severity == "warning" else "✗"
            self.add_option(Option(Text.assemble(f"{mark} ", (p.path or "plan", "bold"), where, f": {p.message}")))
        self.set_class(bool(problems), "-shown")
        if problems:
            self.highlighted = 0

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return bool(self.problems) if action == "remove_key" else True

    def action_remove_key(self) -> None:
        if self.highlighted is not None and 0 <= self.highlighted < len(self.problems):
            self.post_message(self.RemoveAsked(self.problems[self.highlighted]))
