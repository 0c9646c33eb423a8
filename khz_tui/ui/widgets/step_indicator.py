"""Where the person is in the wizard: every step in order, the current one highlighted."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.reactive import reactive
from textual.widgets import Static

#: The wizard's steps, in order: (key, title).
STEPS: tuple[tuple[str, str], ...] = (
    ("credentials", "Credentials"),
    ("topology", "Topology"),
    ("networking", "Networking"),
    ("storage", "Storage"),
    ("review", "Review"),
)
#: The step keys alone, in order (the app's flow and the indicator share this one list).
STEP_ORDER: tuple[str, ...] = tuple(key for key, _title in STEPS)


class StepIndicator(Static):
    """`1 Credentials › 2 Topology › ...` with done steps ticked and the current one reversed."""

    DEFAULT_CSS = """
    StepIndicator { height: 1; padding: 0 1; background: $boost; }
    """

    modified: reactive[bool] = reactive(False)
    """The plan holds changes its file does not: shown after the steps, so nobody quits unaware."""

    def __init__(self, current: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.current = current

    def render(self) -> Text:
        at = STEP_ORDER.index(self.current) if self.current in STEP_ORDER else -1
        text = Text()
        for i, (_key, title) in enumerate(STEPS):
            if i:
                text.append(" › ", style="dim")
            if i == at:
                text.append(f" {i + 1} {title} ", style="bold reverse")
            elif i < at:
                text.append(f"✓ {title}", style="bold")
            else:
                text.append(f"{i + 1} {title}", style="dim")
        if self.modified:
            text.append("   ● modified", style="bold")
            text.append(" (ctrl+s saves)", style="dim")
        return text
