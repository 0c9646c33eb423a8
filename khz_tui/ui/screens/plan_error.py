"""A plan file that cannot be used: every problem, with the line it is on, and the way into the wizard."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Static

from khz_tui.plan.checks import Problem
from khz_tui.ui.widgets.sim_banner import SimBanner

if TYPE_CHECKING:
    from khz_tui.ui.app import KhzApp


class PlanErrorScreen(Screen[None]):
    app: KhzApp
    HELP = (
        "The plan file could not be used. Each row names the key, its line in the file and what to do. Press w to "
        "open the wizard with the file's values: each problem shows beside its field there. Or fix the file in "
        "an editor and open it again. n starts a new plan instead."
    )
    BINDINGS = [
        Binding("w,enter", "app.fix_in_wizard", "Fix in the wizard"),
        Binding("n", "app.new_plan", "New plan"),
        Binding("q", "app.quit", "Quit"),
    ]

    def __init__(self, source: str, problems: list[Problem], fixable: bool) -> None:
        super().__init__(classes="plan-error")
        self.source = source
        self.problems = problems
        self.fixable = fixable

    def compose(self) -> ComposeResult:
        if self.app.options.sim:
            yield SimBanner()
        errors = sum(1 for p in self.problems if p.severity == "error")
        yield Static(Text.assemble(("✗ ", "bold"), (self.source, "bold"),
                                   f": {errors} problem{'s' if errors != 1 else ''} to fix"), id="error-title")
        with VerticalScroll(id="error-list"):
            yield Static(self._table())
        hint = ("w opens the wizard with this file's values so you can fix them there."
                if self.fixable else "The file could not be read as a plan; fix it in an editor, or n for a new plan.")
        yield Static(hint, id="error-hint")
        yield Footer()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return self.fixable if action == "fix_in_wizard" else True

    def _table(self) -> Table:
        table = Table(expand=True, show_lines=False, header_style="bold")
        table.add_column("Line", justify="right", no_wrap=True)
        table.add_column("Key", no_wrap=True, overflow="fold")
        table.add_column("What to do", ratio=1, overflow="fold")
        ordered = sorted(self.problems, key=lambda p: (p.severity != "error", p.line or 0))
        for p in ordered:
            style = "yellow" if p.severity == "warning" else ""
            table.add_row(str(p.line or "-"), p.path or "(file)", Text(p.message, style=style))
        return table
