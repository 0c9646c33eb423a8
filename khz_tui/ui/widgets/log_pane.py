"""The run console's log: every line kept (up to a bound), filtered by node and by a search term.

Writes arrive in batches (one per screen refresh), so a fast stream costs one widget update per
frame rather than one per line.
"""

from __future__ import annotations

import textwrap
from collections import deque
from collections.abc import Iterable
from itertools import islice

from textual import events, on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Input, Log

#: Lines kept for filtering and search; older ones are dropped first.
HISTORY = 50_000
#: Lines the widget itself holds (what scrolling back reaches).
SHOWN = 5_000
#: Width of the node column; longer names lose their middle, so every line's text starts in one column.
NODE_WIDTH = 20
#: Where a line's text starts (after the clock and the node): wrapped parts are indented to it.
TEXT_COLUMN = 7 + 1 + NODE_WIDTH + 1
#: What marks an error line (see the run console's level marks): always wrapped, so a failure is read whole.
ERROR_MARK = "✗ "


def wrap_line(text: str, width: int) -> list[str]:
    """`text` in pieces of at most `width` columns, the later ones indented to the text column."""
    if width <= TEXT_COLUMN + 10 or len(text) <= width:
        return [text]
    return textwrap.wrap(text, width, subsequent_indent=" " * TEXT_COLUMN, break_on_hyphens=False) or [text]


def log_line(elapsed: float, node: str | None, text: str) -> str:
    """One log line: elapsed clock, node, text, in columns of fixed width at any elapsed time.

    The clock is `mm:ss.s` for the first hour and `h:mm:ss` after it, seven characters either way up
    to ten hours, and never starts with spaces (some viewers of SVG screenshots drop leading spaces)."""
    return f"{clock(elapsed)} {fit(node or 'engine', NODE_WIDTH)} {text}"


def clock(seconds: float) -> str:
    """`09:59.3` under an hour, `1:02:05` from then on."""
    tenths = max(0, round(seconds * 10))
    if tenths < 36_000:
        return f"{tenths // 600:02d}:{tenths % 600 / 10:04.1f}"
    whole = tenths // 10
    return f"{whole // 3600}:{whole % 3600 // 60:02d}:{whole % 60:02d}"


def fit(name: str, width: int) -> str:
    """`name` padded to `width`, or shortened in the middle (the node number at its end stays)."""
    if len(name) <= width:
        return name.ljust(width)
    head = (width - 1) // 2
    return name[:head] + "…" + name[len(name) - (width - 1 - head):]


class TailLog(Log):
    """A Log that keeps to its last line while the person has not scrolled back, also when it changes
    size: Textual's Log follows only on writes, so the outcome panel appearing at the end of a run (which
    shortens the log) left the last lines out of view."""

    following = True
    """Whether the view was at the last line when last scrolled; a scroll back (wheel, keys) clears it."""

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        self.following = new_value >= self.max_scroll_y

    def on_resize(self, event: events.Resize) -> None:
        if self.following:
            self.call_after_refresh(self.scroll_end, animate=False, immediate=True, x_axis=False)


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
        self.wrap = False
        """Whether every line wraps; error lines always do."""
        self._wrap_width = 0
        self.border_title = "Log · all nodes"
        self._subtitle()

    def compose(self) -> ComposeResult:
        yield Input(placeholder="search the log (enter keeps it, escape clears)", id="log-search")
        yield TailLog(max_lines=SHOWN, highlight=False, id="log")

    def add_lines(self, lines: list[tuple[str | None, str]]) -> None:
        """Keep a batch of (node, line) pairs and show the ones that pass the filter."""
        if not lines:
            return
        self.history.extend(lines)
        shown = list(self._passing(lines))
        if shown:
            log = self.query_one(TailLog)
            log.write_lines(self._wrapped(shown[-SHOWN:]), scroll_end=log.following)

    def _wrapped(self, texts: list[str]) -> list[str]:
        """The display lines for `texts`: wrapped to the log's width when wrapping is on, or for errors."""
        width = self.query_one(TailLog).scrollable_content_region.width
        self._wrap_width = width
        out: list[str] = []
        for text in texts:
            out += wrap_line(text, width) if self.wrap or ERROR_MARK in text[TEXT_COLUMN:TEXT_COLUMN + 4] else [text]
        return out

    def toggle_wrap(self) -> None:
        self.wrap = not self.wrap
        self._subtitle()
        self.set_filter(self.node)

    def _subtitle(self) -> None:
        self.border_subtitle = f"/ search · l all lines · w wrap {'on' if self.wrap else 'errors'}"

    def on_resize(self, event: events.Resize) -> None:
        # Wrapped lines were cut for the old width: redraw them for the new one.
        if self.history and self.query_one(TailLog).scrollable_content_region.width != self._wrap_width:
            self.call_after_refresh(self.set_filter, self.node)

    def _passing(self, lines: Iterable[tuple[str | None, str]]) -> Iterable[str]:
        """The texts of `lines` that pass the node filter and the search, in the order given."""
        node, needle = self.node, self.search.lower()
        for line_node, text in lines:
            if (node is None or line_node == node) and (not needle or needle in text.lower()):
                yield text

    def set_filter(self, node: str | None = None, search: str | None = None) -> None:
        self.node = node
        if search is not None:
            self.search = search
        where = f"node {node}" if node else "all nodes"
        self.border_title = f"Log · {where}" + (f" · “{self.search}”" if self.search else "")
        log = self.query_one(Log)
        log.clear()
        # Runs on every keystroke in the search box: scan back from the newest line and stop once the
        # widget is full, instead of testing the whole history.
        newest = list(islice(self._passing(reversed(self.history)), SHOWN))
        log.write_lines(self._wrapped(newest[::-1]))

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
