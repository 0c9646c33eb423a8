"""Form controls that say their state in text, not by colour alone, and leave Enter to the step.

- `PlanSwitch`: the slider plus `on` / `off`; space (or a click) toggles. Enter goes to the next
  step, as it does from a text field, instead of toggling here and moving on there.
- `CheckList`, `PlanCheckbox`, `PlanRadioButton`: a mark (`✓`, `●`) only on what is chosen.
"""

from __future__ import annotations

from typing import cast

from rich.console import RenderableType
from rich.segment import Segment
from rich.table import Table
from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.geometry import Size
from textual.strip import Strip
from textual.widgets import Checkbox, RadioButton, SelectionList, Switch
from textual.widgets.option_list import OptionDoesNotExist


class PlanSwitch(Switch, inherit_bindings=False):
    """A switch that reads `on` or `off` beside its slider."""

    BINDINGS = [Binding("space", "toggle_switch", "Toggle", show=False)]

    def render(self) -> RenderableType:
        grid = Table.grid(padding=(0, 1))
        grid.add_column(width=4)
        grid.add_column(width=3)
        # The stock switch's slider (a Rich ScrollBarRender), mid-way while it slides.
        slider = cast("RenderableType", super().render())
        grid.add_row(slider, Text("on" if self.value else "off", style="bold" if self.value else ""))
        return grid

    def get_content_width(self, container: Size, viewport: Size) -> int:
        return 8


class PlanCheckbox(Checkbox, inherit_bindings=False):
    """A checkbox toggled by space, ticked `✓` when on and empty when off (the stock one draws the same
    `X` in another colour); Enter belongs to the step (next), as for `PlanSwitch`."""

    BINDINGS = [Binding("space", "toggle_button", "Toggle", show=False)]

    @property
    def BUTTON_INNER(self) -> str:  # type: ignore[override]  # read by ToggleButton when drawing
        return "✓" if self.value else " "


class PlanRadioButton(RadioButton):
    """A radio button whose dot shows only when it is the chosen one (the stock one colours the same dot)."""

    @property
    def BUTTON_INNER(self) -> str:  # type: ignore[override]
        return "●" if self.value else " "


class CheckList(SelectionList[str]):
    """A SelectionList that marks chosen entries with `✓` (the stock one draws the same `X`, coloured),
    and has its cursor on the first entry when focused (the stock one has none: space did nothing)."""

    def on_focus(self, event: events.Focus) -> None:
        if self.highlighted is None and self.option_count:
            self.highlighted = 0

    def render_line(self, y: int) -> Strip:
        strip = super().render_line(y)
        segments = list(strip)
        if len(segments) < 3 or segments[1].text != Checkbox.BUTTON_INNER:  # the stock mark, "X"
            return strip
        try:
            selection = self.get_option_at_index(self.scroll_offset.y + y)
        except OptionDoesNotExist:  # past the last entry: nothing to mark
            return strip
        mark = "✓" if selection.value in self.selected else " "
        segments[1] = Segment(mark, segments[1].style)
        return Strip(segments, strip.cell_length)
