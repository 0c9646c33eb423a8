"""The checks `verify` made at the end of an apply (or in a verify run): ✓/✗ per check, what was found,
and for a failure what to do."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from khz_tui.engine.run_view import RunView

_MARK = {"pass": ("✓", "green"), "fail": ("✗", "red"), "skipped": ("-", "dim")}


class VerifyPanel(Static):
    DEFAULT_CSS = """
    VerifyPanel { display: none; height: auto; max-height: 14; padding: 0 1; border: round $accent; }
    VerifyPanel.-shown { display: block; }
    VerifyPanel.-failed { border: round $error; }
    """

    def show(self, view: RunView) -> None:
        """The checks in `view`; hidden while there are none (a run that has not verified yet)."""
        shown = bool(view.checks) or view.verify_will_create is not None or view.verify is not None
        if shown:
            self.update(self._render_text(view))
        self.set_class(shown, "-shown")
        self.set_class(any(not c.ok for c in view.checks), "-failed")

    @staticmethod
    def _render_text(view: RunView) -> Text:
        checks = view.checks
        text = Text()
        passed = sum(1 for c in checks if c.status == "pass")
        failed = sum(1 for c in checks if not c.ok)
        text.append("Verify", style="bold")
        text.append(f"  {passed} passed, {failed} failed")
        if failed:
            text.append(": " + ", ".join(c.title for c in checks if not c.ok), style="bold")
        if view.verify is None:
            text.append("  (checking…)")
        if view.verify_will_create is not None:
            text.append(f"\ncreating (then removing): {', '.join(view.verify_will_create.resources)}", style="dim")
        for check in checks:
            mark, style = _MARK.get(check.status, ("✗" if not check.ok else "✓", "red" if not check.ok else "green"))
            text.append(f"\n{mark} ", style=style)
            text.append(check.title, style="bold")
            text.append(f": {check.detail}")
            if not check.ok and check.hint:
                text.append(f"\n    what to do: {check.hint}", style="italic")
        return text
