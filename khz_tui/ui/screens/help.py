"""F1: what the current screen is for, and every key it answers to."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Footer, Static

from khz_tui.ui.widgets.plan_field import PlanField


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,f1,q", "dismiss", "Close help")]

    def __init__(self, about: Screen[object]) -> None:
        super().__init__(classes="dialog")
        self.about = about

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog-box help-box") as box:
            box.border_title = "Help"
            yield Static(getattr(self.about, "HELP", "") or "No help for this screen yet.", classes="help-text")
            yield Static(self._keys(), classes="help-keys")
            fields = self._fields()
            if fields.row_count:
                yield Static(fields, classes="help-fields")
        yield Footer()

    def _keys(self) -> Table:
        table = Table(title="Keys", box=None, show_header=False, title_justify="left", title_style="bold")
        table.add_column(style="bold", no_wrap=True)
        table.add_column()
        seen = set()
        for active in self.about.active_bindings.values():
            binding = active.binding
            if binding.show and binding.description and (binding.action, binding.description) not in seen:
                seen.add((binding.action, binding.description))
                table.add_row(self.app.get_key_display(binding), binding.description)
        return table

    def _fields(self) -> Table:
        table = Table(title="Fields", box=None, show_header=False, title_justify="left", title_style="bold")
        table.add_column(style="bold", no_wrap=True)
        table.add_column()
        for field in self.about.query(PlanField):
            if field.control.tooltip:
                table.add_row(field.label, Text(str(field.control.tooltip)))
        return table
