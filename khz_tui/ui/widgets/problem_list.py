"""Why Next is blocked: problems of this step that belong to no single field, and the error count."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual.widgets import Static

from khz_tui.ui.wizard_fields import has_field, readable_path

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

    def show(self, all_problems: list[Problem], unplaced: list[Problem], data: dict[str, Any] | None = None) -> None:
        """Count the errors a field can fix (they block Next) and list the problems no field shows;
        one with no field in the wizard at all says where it can be removed. `data` names entries."""
        errors = [p for p in all_problems if p.severity == "error" and has_field(p.path)]
        text = Text()
        if errors:
            noun = "problem" if len(errors) == 1 else "problems"
            text.append(f"✗ {len(errors)} {noun} to fix before going on", style="bold")
            text.append(" (shown beside the fields)" if len([p for p in unplaced if p in errors]) < len(errors) else "")
        for p in unplaced:
            mark = "⚠" if p.severity == "warning" else "✗"
            where = readable_path(p.path, data or {}) if p.path else "plan"
            text.append(f"{chr(10) if text else ''}{mark} {where}: {p.message}")
            if not has_field(p.path):
                text.append("  (no field in the wizard: the review lists it, x there removes the key)", style="dim")
        if text != self._shown:  # every keystroke asks; an update would lay the screen out again
            self._shown = text
            self.update(text)
        self.set_class(bool(text.plain.strip()), "-shown")
        self.set_class(bool(errors), "-blocking")
