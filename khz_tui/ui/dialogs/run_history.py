"""The cluster's past runs on this machine (`h` on the review): mode, when, how each ended, read from
the run logs the engine keeps in the cluster's state folder."""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Footer, Static

from khz_tui.ui.run_history import MAX_RUNS, past_runs

_OUTCOME_STYLE = {"ok": "bold green", "failed": "bold red", "unfinished": "yellow"}


class RunHistory(ModalScreen[None]):
    BINDINGS = [Binding("escape,h,q", "close", "Close")]
    DEFAULT_CSS = """
    RunHistory .dialog-box { width: 90%; height: 90%; }
    RunHistory DataTable { height: 1fr; }
    """

    def __init__(self, cluster: str, state_dir: Path) -> None:
        super().__init__(classes="dialog")
        self.cluster, self.state_dir = cluster, state_dir
        self.runs = past_runs(state_dir)

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog-box"):
            count = len(self.runs)
            more = f" (the newest {MAX_RUNS})" if count >= MAX_RUNS else ""
            heading = (f"Runs of cluster {self.cluster} on this machine: {count}{more}, newest first"
                       if self.runs else f"No runs of cluster {self.cluster} on this machine yet")
            yield Static(Text(heading, style="bold"), classes="dialog-question")
            yield Static(Text(f"run logs in {self.state_dir / 'runs'}", style="dim"), id="history-where")
            yield DataTable(id="history", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("When", "Mode", "Outcome", "Message")
        for run in self.runs:
            table.add_row(run.when, run.mode, Text(run.outcome, style=_OUTCOME_STYLE[run.outcome]),
                          Text(run.message), key=run.path.name)
        table.focus()

    def action_close(self) -> None:
        self.dismiss(None)
