"""Where to save the plan: a path prompt, `./<name>.toml` by default."""

from __future__ import annotations

from pathlib import Path

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Footer, Input, Static


class SavePlanDialog(ModalScreen[Path | None]):
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, default: Path) -> None:
        super().__init__(classes="dialog")
        self.default = default

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog-box"):
            yield Static("Save the plan as (TOML; the API token is never written into it):",
                         classes="dialog-question")
            yield Input(str(self.default), id="save-path")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Cancel (esc)", id="cancel")
                yield Button("Save (enter)", id="save", variant="primary")
        yield Footer()

    def _chosen(self) -> None:
        text = self.query_one("#save-path", Input).value.strip()
        if text:
            self.dismiss(Path(text).expanduser())

    @on(Input.Submitted, "#save-path")
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._chosen()

    @on(Button.Pressed, "#save")
    def _save(self) -> None:
        self._chosen()

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)
