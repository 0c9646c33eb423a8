"""Base of the small forms that edit one table entry (a worker pool, a volume)."""

from __future__ import annotations

from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Footer, Input, Label

from khz_tui.ui.widgets.field_help import FieldHelp
from khz_tui.ui.widgets.plan_field import PlanField


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

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog-box") as box:
            box.border_title = self.title_text
            yield from self.compose_fields()
            yield FieldHelp(id="field-help")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Cancel", id="cancel")
                yield Button("Keep", id="keep", variant="primary")
        yield Footer()

    def compose_fields(self) -> ComposeResult:
        yield Label("")

    def on_mount(self) -> None:
        for field in self.query(PlanField):
            field.describe()
        self.call_after_refresh(lambda: self.query_one(FieldHelp).follow(self.focused))

    def on_descendant_focus(self, event: Any) -> None:
        if self.is_attached:
            self.query_one(FieldHelp).follow(self.focused)

    def values(self) -> dict[str, Any]:
        return {}

    def action_keep(self) -> None:
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
