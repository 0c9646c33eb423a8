"""The banner that makes unmistakable that the cloud is simulated (`--sim`)."""

from __future__ import annotations

from textual.widgets import Static

SIM_TEXT = "SIMULATED CLOUD: nothing is created at Hetzner and nothing is billed (--sim)"


class SimBanner(Static):
    """A loud one-line strip at the top of every screen while running against the simulator."""

    DEFAULT_CSS = """
    SimBanner {
        dock: top; height: 1; width: 100%;
        background: $warning; color: $background; text-style: bold; content-align: center middle;
    }
    """

    def __init__(self) -> None:
        super().__init__(SIM_TEXT)
