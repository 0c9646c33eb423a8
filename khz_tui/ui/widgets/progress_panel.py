"""Overall progress, the steps running now, and how much of the API's rate limit the run has used."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import ProgressBar, Static

from khz_tui.engine.events import EngineEvent

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

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.border_title = "Progress"
        self.steps: dict[str, str] = {}
        self.steps_done = 0
        self.api_requests = 0
        self.rate_limit: int | None = None
        self.elapsed = 0.0
        self.best = 0.0
        """The furthest the bar has gone this run: it never moves back (a node found late, a retried phase)."""

    def compose(self) -> ComposeResult:
        yield ProgressBar(total=100, show_eta=False, id="overall")
        yield Static(id="progress-facts")

    def step_started(self, step: str, title: str) -> None:
        self.steps[step] = title

    def step_ended(self, step: str) -> None:
        if self.steps.pop(step, None) is not None:
            self.steps_done += 1

    def counted(self, event: EngineEvent) -> None:
        self.api_requests = max(self.api_requests, event.api_requests)
        self.rate_limit = event.rate_limit_remaining if event.rate_limit_remaining is not None else self.rate_limit
        self.elapsed = max(self.elapsed, event.elapsed)

    def show(self, fraction: float, *, running: bool = False) -> None:
        """Draw the bar at `fraction` (never back); while `running`, with an estimate of the time left."""
        self.best = max(self.best, min(max(fraction, 0.0), 1.0))
        self.query_one(ProgressBar).update(progress=round(self.best * 100, 1))
        text = Text()
        text.append(f"elapsed {self.elapsed:.0f}s · steps done {self.steps_done} · API requests {self.api_requests}")
        text.append(" · rate limit left ")
        text.append("?" if self.rate_limit is None else str(self.rate_limit), style="bold")
        text.append("\n")
        # At the start of the second line: the first one already fills 80 columns, and the short
        # layout has no border to carry it.
        left = eta_seconds(self.elapsed, self.best) if running else None
        if left is not None:
            text.append(f"about {left:.0f} s left", style="bold")
            text.append(" · ")
        text.append("now: ")
        if self.steps:
            text.append(" · ".join(list(self.steps.values())[-3:]), style="bold")
        else:
            text.append("no step running", style="dim")
        self.query_one("#progress-facts", Static).update(text)
