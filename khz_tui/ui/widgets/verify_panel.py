"""The checks `verify` made at the end of an apply (or in a verify run): ✓/✗ per check, what was found,
and for a failure what to do."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from khz_tui.engine.events import VerifyCheckFinished, VerifyFinished, VerifyWillCreate

_MARK = {"pass": ("✓", "green"), "fail": ("✗", "red"), "skip": ("-", "dim")}


class VerifyPanel(Static):
    DEFAULT_CSS = """
    VerifyPanel { display: none; height: auto; max-height: 14; padding: 0 1; border: round $accent; }
    VerifyPanel.-shown { display: block; }
    VerifyPanel.-failed { border: round $error; }
    """

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.checks: list[VerifyCheckFinished] = []
        self.will_create: VerifyWillCreate | None = None
        self.finished: VerifyFinished | None = None

    def reset(self) -> None:
        """A new run: forget the last one's checks."""
        self.checks, self.will_create, self.finished = [], None, None
        self.set_classes("")

    def add(self, event: VerifyCheckFinished | VerifyWillCreate | VerifyFinished) -> None:
        if isinstance(event, VerifyCheckFinished):
            self.checks.append(event)
        elif isinstance(event, VerifyWillCreate):
            self.will_create = event
        else:
            self.finished = event
        self.update(self._render_text())
        self.set_class(True, "-shown")
        self.set_class(any(not c.ok for c in self.checks), "-failed")

    def _render_text(self) -> Text:
        text = Text()
        passed = sum(1 for c in self.checks if c.status == "pass")
        failed = sum(1 for c in self.checks if not c.ok)
        text.append("Verify", style="bold")
        text.append(f"  {passed} passed, {failed} failed" + ("" if self.finished else "  (checking…)"))
        if self.will_create is not None:
            text.append(f"\ncreating (then removing): {', '.join(self.will_create.resources)}", style="dim")
        for check in self.checks:
            mark, style = _MARK.get(check.status, ("✗" if not check.ok else "✓", "red" if not check.ok else "green"))
            text.append(f"\n{mark} ", style=style)
            text.append(check.title, style="bold")
            text.append(f": {check.detail}")
            if not check.ok and check.hint:
                text.append(f"\n    what to do: {check.hint}", style="italic")
        return text
