"""Why Next is blocked: problems of this step that belong to no single field, and the error count."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual.widgets import Static

if TYPE_CHECKING:
    from khz_tui.plan.checks import Problem


class ProblemList(Static):
    """A short summary docked above the footer; empty and hidden when all is well."""

    DEFAULT_CSS = """
    ProblemList { height: auto; max-height: 6; padding: 0 1; display: none; }
    ProblemList.-shown { display: block; }
    ProblemList.-blocking { background: $error 15%; }
    """

    _shown = Text()

    def show(self, all_problems: list[Problem], unplaced: list[Problem]) -> None:
        errors = [p for p in all_problems if p.severity == "error"]
        text = Text()
        if errors:
            noun = "problem" if len(errors) == 1 else "problems"
            text.append(f"✗ {len(errors)} {noun} to fix before going on", style="bold")
            text.append(" (shown beside the fields)" if len(unplaced) < len(errors) else "")
        for p in unplaced:
            mark = "⚠" if p.severity == "warning" else "✗"
            text.append(f"\n{mark} {p.path or 'plan'}: {p.message}")
        if text != self._shown:  # every keystroke asks; an update would lay the screen out again
            self._shown = text
            self.update(text)
        self.set_class(bool(text.plain.strip()), "-shown")
        self.set_class(bool(errors), "-blocking")
