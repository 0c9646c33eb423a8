"""Destroy asks for the cluster's name, typed out, before anything is deleted."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Footer, Input, Static


class DestroyDialog(ModalScreen[bool]):
    BINDINGS = [Binding("escape", "cancel", "Keep the cluster")]

    def __init__(self, cluster: str, simulated: bool) -> None:
        super().__init__(classes="dialog")
        self.cluster = cluster
        self.simulated = simulated

    def compose(self) -> ComposeResult:
        where = "the simulator" if self.simulated else "your Hetzner Cloud project"
        with Vertical(classes="dialog-box -danger"):
            yield Static(
                f"Destroy deletes every server, volume, load balancer, network and firewall of cluster "
                f"[b]{self.cluster}[/] in {where}. Data on them is lost.\n\nType the cluster name to confirm:",
                classes="dialog-question",
            )
            yield Input(placeholder=self.cluster, id="typed-name")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Keep it (esc)", id="cancel")
                yield Button("Destroy", id="destroy", variant="error", disabled=True)
        yield Footer()

    @on(Input.Changed, "#typed-name")
    def _typed(self, event: Input.Changed) -> None:
        self.query_one("#destroy", Button).disabled = event.value.strip() != self.cluster

    @on(Input.Submitted, "#typed-name")
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if event.value.strip() == self.cluster:
            self.dismiss(True)
        else:
            self.notify(f"Type exactly {self.cluster} to destroy it", severity="warning")

    @on(Button.Pressed, "#destroy")
    def _destroy(self) -> None:
        self.dismiss(True)

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(False)
