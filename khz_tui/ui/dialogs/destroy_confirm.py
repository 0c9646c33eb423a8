"""Destroy, asked once: what exists (the engine's own inventory), the cost it saves and where, then the typed name.

The inventory comes from a destroy that is not confirmed: the engine lists everything it would delete,
asks, is told no and deletes nothing. The dialog returns that question; the run that follows answers
it with yes without asking again, and asks only when it finds something different (see
`KhzApp.start_run`).
"""

from __future__ import annotations

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Footer, Input, Static

from khz_tui.engine.outcome import Outcome
from khz_tui.ui.engine_runs import Runner
from khz_tui.ui.target import Target

#: Returned when nothing was found to list (the run then asks as usual should it find something).
NOTHING_LISTED = ""


def inventory_of(question: str) -> str:
    """`3 servers, 1 networks` from the engine's question `Delete cluster 'x' (3 servers, 1 networks)? ...`."""
    start, end = question.find("("), question.rfind(")")
    return question[start + 1:end] if 0 <= start < end else question


class DestroyDialog(ModalScreen[str | None]):
    """Dismisses with the engine's question (the inventory confirmed), or None when the cluster is kept."""

    BINDINGS = [Binding("escape", "cancel", "Keep the cluster")]
    AUTO_FOCUS = "#typed-name"

    def __init__(self, cluster: str, target: Target, lister: Runner, monthly: str | None) -> None:
        super().__init__(classes="dialog")
        self.cluster = cluster
        self.target = target
        self.lister = lister
        self.monthly = monthly
        self.question: str | None = None
        """The engine's question with the inventory, once it has asked."""

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog-box -danger") as box:
            box.border_title = f"Destroy {self.cluster}"
            yield Static(f"Destroy deletes every server, volume, load balancer, network and firewall of cluster "
                         f"[b]{self.cluster}[/] in {self.target.place}. Data on them is lost.", classes="dialog-question")
            yield Static("What exists: [i]asking…[/]", id="inventory")
            if self.monthly:
                yield Static(f"Saves up to [b]{self.monthly}[/] per month (the plan's estimate).", id="saving")
            yield Static("Type the cluster name to confirm:", classes="dialog-question")
            yield Input(placeholder=self.cluster, id="typed-name")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Keep it (esc)", id="cancel", compact=True)
                yield Button("Destroy", id="destroy", variant="error", disabled=True, compact=True)
        yield Footer()

    def on_mount(self) -> None:
        self._list()

    @work(exclusive=True, group="inventory")
    async def _list(self) -> None:
        async def refuse(question: str) -> bool:
            self.question = question
            return False  # listed, nothing deleted

        inventory = self.query_one("#inventory", Static)
        try:
            finished = await self.lister(lambda event: None, refuse)
        except Exception as exc:  # noqa: BLE001 - e.g. no token: the run would say the same; shown, not hidden
            inventory.update(f"What exists: [b]unknown[/] ({exc})")
            return
        if self.question is not None:
            inventory.update(f"What exists and will be deleted: [b]{inventory_of(self.question)}[/]")
        elif finished.outcome is Outcome.SUCCEEDED:
            inventory.update(f"What exists: [b]nothing[/] of cluster {self.cluster} in {self.target.place}")
        else:
            inventory.update(f"What exists: [b]unknown[/] ({finished.message})")

    def _answer(self) -> str:
        return self.question if self.question is not None else NOTHING_LISTED

    @on(Input.Changed, "#typed-name")
    def _typed(self, event: Input.Changed) -> None:
        self.query_one("#destroy", Button).disabled = event.value.strip() != self.cluster

    @on(Input.Submitted, "#typed-name")
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if event.value.strip() == self.cluster:
            self.dismiss(self._answer())
        else:
            self.notify(f"Type exactly {self.cluster} to destroy it", severity="warning")

    @on(Button.Pressed, "#destroy")
    def _destroy(self) -> None:
        self.dismiss(self._answer())

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)
