"""The run console's log: every line kept (up to a bound), filtered by node and by a search term.

Writes arrive in batches (one per screen refresh), so a fast stream costs one widget update per
frame rather than one per line.
"""

from __future__ import annotations

from collections import deque

from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Input, Log

#: Lines kept for filtering and search; older ones are dropped first.
HISTORY = 50_000
#: Lines the widget itself holds (what scrolling back reaches).
SHOWN = 5_000


class LogPane(Vertical):
    DEFAULT_CSS = """
    LogPane { height: 1fr; border: round $panel; border-title-color: $text-primary; }
    LogPane > Input { display: none; height: 3; }
    LogPane.-searching > Input { display: block; }
    LogPane > Log { height: 1fr; }
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.history: deque[tuple[str | None, str]] = deque(maxlen=HISTORY)
        self.node: str | None = None
        self.search = ""
        self.border_title = "Log · all nodes"

    def compose(self) -> ComposeResult:
        yield Input(placeholder="search the log (enter keeps it, escape clears)", id="log-search")
        yield Log(max_lines=SHOWN, highlight=False, id="log")

    def add_lines(self, lines: list[tuple[str | None, str]]) -> None:
        """Keep a batch of (node, line) pairs and show the ones that pass the filter."""
        if not lines:
            return
        self.history.extend(lines)
        shown = [text for node, text in lines if self._passes(node, text)]
        if shown:
            self.query_one(Log).write_lines(shown[-SHOWN:])

    def _passes(self, node: str | None, text: str) -> bool:
        if self.node is not None and node != self.node:
            return False
        return not self.search or self.search.lower() in text.lower()

    def set_filter(self, node: str | None = None, search: str | None = None) -> None:
        self.node = node
        if search is not None:
            self.search = search
        where = f"node {node}" if node else "all nodes"
        self.border_title = f"Log · {where}" + (f" · “{self.search}”" if self.search else "")
        log = self.query_one(Log)
        log.clear()
        lines = [text for n, text in self.history if self._passes(n, text)]
        log.write_lines(lines[-SHOWN:])

    def open_search(self) -> None:
        self.add_class("-searching")
        self.query_one(Input).focus()

    @on(Input.Changed, "#log-search")
    def _search_changed(self, event: Input.Changed) -> None:
        self.set_filter(self.node, event.value)

    @on(Input.Submitted, "#log-search")
    def _search_kept(self, event: Input.Submitted) -> None:
        event.stop()
        self.query_one(Log).focus()

    def close_search(self) -> None:
        self.remove_class("-searching")
        self.query_one(Input).value = ""
        self.set_filter(self.node, "")
