"""Overall progress, the steps running now, and how much of the API's rate limit the run has used."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import ProgressBar, Static

from khz_tui.engine.run_view import RunView

#: Below this much progress an estimate is mostly noise (server creation dominates the start): none shown.
ETA_FROM = 0.10


def eta_seconds(elapsed: float, fraction: float) -> float | None:
    """Time left if the rest goes as fast as what is done so far; None while too little is done."""
    if fraction <= ETA_FROM or fraction >= 1.0 or elapsed <= 0:
        return None
    return elapsed * (1.0 - fraction) / fraction


class ProgressPanel(Vertical):
    DEFAULT_CSS = """
    ProgressPanel { height: auto; border: round $primary; border-title-color: $text-primary; padding: 0 1; }
    ProgressPanel > ProgressBar { width: 100%; }
    ProgressPanel > ProgressBar > Bar { width: 1fr; }
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.border_title = "Progress"
        self.elapsed = 0.0
        self.best = 0.0
        """The furthest the bar has gone this run: it never moves back (a node found late, a retried phase)."""

    def compose(self) -> ComposeResult:
        yield ProgressBar(total=100, show_eta=False, id="overall")
        yield Static(id="progress-facts")

    def show(self, view: RunView) -> None:
        """Draw the run as of `view`: the bar (never back; full once the run succeeded), the counters, and while
        it is going an estimate of the time left and the steps running now."""
        running = view.finished is None
        fraction = 1.0 if view.succeeded else view.node_progress()
        self.elapsed = view.elapsed
        self.best = max(self.best, min(max(fraction, 0.0), 1.0))
        self.query_one(ProgressBar).update(progress=round(self.best * 100, 1))
        text = Text()
        text.append(f"elapsed {view.elapsed:.0f}s · steps done {view.steps_done} · API requests {view.api_requests}")
        text.append(" · rate limit left ")
        text.append("?" if view.rate_limit_remaining is None else str(view.rate_limit_remaining), style="bold")
        text.append("\n")
        # At the start of the second line: the first one already fills 80 columns, and the short
        # layout has no border to carry it.
        left = eta_seconds(self.elapsed, self.best) if running else None
        if left is not None:
            text.append(f"about {left:.0f} s left", style="bold")
            text.append(" · ")
        text.append("now: ")
        steps = view.running_steps
        if steps:
            text.append(" · ".join(step.title for step in steps[-3:]), style="bold")
        else:
            text.append("no step running", style="dim")
        self.query_one("#progress-facts", Static).update(text)
