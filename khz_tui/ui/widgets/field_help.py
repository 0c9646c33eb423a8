"""The focused field's help on a line of its own, for people who move with the keyboard (a tooltip needs a mouse)."""

from __future__ import annotations

from rich.text import Text
from textual.widget import Widget
from textual.widgets import Static

from khz_tui.ui.widgets.plan_field import PlanField


class FieldHelp(Static):
    """Shows `label: description` of the PlanField holding the focus; empty elsewhere."""

    DEFAULT_CSS = """
    FieldHelp { height: auto; max-height: 2; padding: 0 1; color: $text-muted; }
    """

    def follow(self, focused: Widget | None) -> None:
        field = next((w for w in (focused.ancestors_with_self if focused else ()) if isinstance(w, PlanField)), None)
        tip = str(field.control.tooltip or "") if field is not None else ""
        if field is None or not tip:
            self.update("")
            return
        label = field.label.split("  (")[0].split(" (")[0]
        # Most descriptions start with the field's own name ("Cluster name: ..."): not said twice.
        self.update(Text(tip) if tip.lower().startswith(label.lower()) else Text.assemble((f"{label}: ", "bold"), tip))
