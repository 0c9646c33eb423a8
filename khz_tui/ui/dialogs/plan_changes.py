"""What changed since the plan was last saved (`v` on the review): the saved file against the plan as
it would be saved now, as a unified diff."""

from __future__ import annotations

import difflib
from pathlib import Path

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Footer, Static

_STYLE = {"+": "green", "-": "red", "@": "cyan"}


def plan_diff(saved: str | None, saved_name: str, current: str) -> list[str]:
    """Unified diff lines from the saved text (None: never saved, so everything is new) to `current`."""
    return list(difflib.unified_diff(
        (saved or "").splitlines(), current.splitlines(),
        fromfile=saved_name if saved is not None else "(never saved)", tofile="the plan as edited here",
        lineterm=""))


def render_plan_diff(lines: list[str]) -> Text:
    text = Text()
    if not lines:
        return Text("No changes: the saved file holds the plan as it is here.", style="bold")
    for line in lines:
        style = "bold" if line.startswith(("+++", "---")) else _STYLE.get(line[:1], "")
        text.append(line + "\n", style=style)
    return text


class PlanChanges(ModalScreen[None]):
    BINDINGS = [Binding("escape,v,q", "close", "Close")]
    DEFAULT_CSS = """
    PlanChanges .dialog-box { width: 90%; height: 90%; }
    PlanChanges VerticalScroll { height: 1fr; }
    """

    def __init__(self, path: Path | None, current: str) -> None:
        super().__init__(classes="dialog")
        saved: str | None = None
        if path is not None:
            try:
                saved = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                saved = None  # gone or unreadable: shown as never saved
        self.lines = plan_diff(saved, str(path) if path else "", current)
        self.heading = (f"Changes since {path} was last saved" if saved is not None
                        else "Changes since the plan was last saved: it never was (ctrl+s saves it)")

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog-box"):
            yield Static(Text(self.heading, style="bold"), classes="dialog-question")
            with VerticalScroll(id="plan-changes"):
                yield Static(render_plan_diff(self.lines), id="plan-diff")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#plan-changes").focus()

    def action_close(self) -> None:
        self.dismiss(None)
