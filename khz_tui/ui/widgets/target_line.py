"""One line naming where runs go, on every wizard screen: the simulated project, an endpoint, or Hetzner."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual.widget import Widget
from textual.widgets import Static

from khz_tui.ui.widgets.sim_banner import SimBanner

if TYPE_CHECKING:
    from khz_tui.ui.app import KhzApp


class TargetLine(Static):
    """`Target: Hetzner Cloud · project of the token in $HCLOUD_TOKEN`; drawn anew on `refresh()`."""

    DEFAULT_CSS = """
    TargetLine { dock: top; height: 1; padding: 0 1; background: $boost; color: $text-muted; }
    """
    app: KhzApp

    def render(self) -> Text:
        return Text.assemble(("Target: ", "bold"), self.app.target().short)


def target_bar(app: KhzApp) -> Widget:
    """The simulator's banner (it names the simulated project) under `--sim`, the target line otherwise."""
    return SimBanner() if app.options.sim else TargetLine()
