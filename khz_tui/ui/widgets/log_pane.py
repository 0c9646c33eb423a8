"""The run console's log: every line kept (up to a bound), filtered by node and by a search term.

Writes arrive in batches (one per screen refresh), so a fast stream costs one widget update per
frame rather than one per line.
"""

from __future__ import annotations

import textwrap
from collections import deque
from collections.abc import Iterable
from itertools import islice
from typing import Any

from rich.highlighter import Highlighter
from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.strip import Strip
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


class SearchHighlighter(Highlighter):
    """Marks every occurrence of the search term; the current match's line more strongly."""

    def __init__(self) -> None:
        self.needle = ""
        self.current = False

    def highlight(self, text: Text) -> None:
        if self.needle:
            style = "bold black on dark_orange" if self.current else "black on yellow"
            text.highlight_words([self.needle], style=style, case_sensitive=False)
            if self.current:
                text.stylize("underline")


class TailLog(Log):
    """A Log that keeps to its last line while the person has not scrolled back, also when it changes
    size: Textual's Log follows only on writes, so the outcome panel appearing at the end of a run (which
    shortens the log) left the last lines out of view."""

    following = True
    """Whether the view was at the last line when last scrolled; a scroll back (wheel, keys) clears it."""
    current_match: int | None = None
    """The line n/N last went to."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(highlight=True, **kwargs)
        self.search_marks = SearchHighlighter()
        self.highlighter = self.search_marks

    def render_line(self, y: int) -> Strip:
        # `y` is a row of the view; the highlighter is told whether it shows the current match.
        self.search_marks.current = self.scroll_offset.y + y == self.current_match
        return super().render_line(y)

    def mark(self, needle: str, current: int | None) -> None:
        self.search_marks.needle, self.current_match = needle, current
        self.notify_style_update()  # every line's marks change: the Log's cache of drawn lines is emptied
        self.refresh()

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

    def __init__(self, **kwargs: Any) -> None:
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
        yield TailLog(max_lines=SHOWN, id="log")

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
        self.border_subtitle = f"/ search · n/N next/previous · l all lines · w wrap {'on' if self.wrap else 'errors'}"

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
        log = self.query_one(TailLog)
        log.mark(self.search, None)
        log.clear()
        # Runs on every keystroke in the search box: scan back from the newest line and stop once the
        # widget is full, instead of testing the whole history.
        newest = list(islice(self._passing(reversed(self.history)), SHOWN))
        log.write_lines(self._wrapped(newest[::-1]))

    def step_match(self, step: int) -> None:
        """Go to the next (step 1) or previous (-1) line holding the search term, round the end."""
        log, needle = self.query_one(TailLog), self.search.lower()
        if not needle:
            return
        matches = [y for y, line in enumerate(log.lines) if needle in line.lower()]
        if not matches:
            return
        here = log.current_match
        if here is None:
            at = len(matches) - 1 if step < 0 else 0
            # From the view: the first match below its top going down, the last one above its bottom going up.
            top = int(log.scroll_y)
            below = [i for i, y in enumerate(matches) if y >= top]
            if step > 0 and below:
                at = below[0]
        else:
            after = [i for i, y in enumerate(matches) if (y > here if step > 0 else y < here)]
            at = (after[0] if step > 0 else after[-1]) if after else (0 if step > 0 else len(matches) - 1)
        log.mark(self.search, matches[at])
        log.following = False
        log.scroll_to(y=max(matches[at] - log.size.height // 2, 0), animate=False)
        where = f"node {self.node}" if self.node else "all nodes"
        self.border_title = f"Log · {where} · “{self.search}” · match {at + 1}/{len(matches)}"

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
