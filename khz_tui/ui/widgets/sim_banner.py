"""The banner that makes unmistakable that the cloud is simulated (`--sim`), and which simulated project."""

from __future__ import annotations

from textual import events
from textual.widgets import Static

from khz_tui.engine.simulated_project import project_label


def banner_text(project: str, width: int) -> str:
    """The longest wording that fits `width`: "simulated" first, then which project, then what it means."""
    variants = (
        f"SIMULATED CLOUD (--sim) · project {project} · nothing is created at Hetzner and nothing is billed",
        f"SIMULATED CLOUD · project {project} · nothing at Hetzner, nothing billed",
        f"SIMULATED CLOUD · project {project}",
        "SIMULATED CLOUD (--sim)",
    )
    return next((text for text in variants if len(text) <= width), variants[-1])


class SimBanner(Static):
    """A loud one-line strip at the top of every screen while running against the simulator."""

    DEFAULT_CSS = """
    SimBanner {
        dock: top; height: 1; width: 100%;
        background: $warning; color: #000000; text-style: bold; content-align: center middle;
    }
    """

    def __init__(self) -> None:
        self.project = project_label()
        """The simulated project's folder, the one `--sim` runs load and save (`khz-tui sim reset` empties it)."""
        super().__init__(banner_text(self.project, 200))

    def on_resize(self, event: events.Resize) -> None:
        self.update(banner_text(self.project, event.size.width))
