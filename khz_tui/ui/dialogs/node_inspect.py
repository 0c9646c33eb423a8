"""One node up close (`i` in the run console): its phases with their times, its log lines, and
commands to look at it from a shell, ready to copy."""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Footer, Log, OptionList, Static

from khz_tui.engine.run_view import NodeView
from khz_tui.plan.model import ClusterPlan
from khz_tui.ui.widgets.log_pane import clock

#: The node's log lines shown here (its newest ones); the run console's log keeps them all.
MAX_LINES = 2_000


def node_commands(node: NodeView, plan: ClusterPlan, state_dir: Path, kubeconfig: str | None) -> list[str]:
    """`ssh`, `kubectl` and `hcloud` commands for the node, as a person would type them.

    The host key is pinned only where a known_hosts file exists in the state folder: a command
    naming a file that is not there would fail for the wrong reason."""
    commands = []
    if node.public_ip:
        pin = state_dir / "known_hosts"
        known = f" -o UserKnownHostsFile={pin}" if pin.is_file() else ""
        commands.append(f"ssh -i {plan.ssh.private_key} -p {plan.ssh.port}{known} root@{node.public_ip}")
    config = kubeconfig or str(state_dir / "kubeconfig")
    commands.append(f"kubectl --kubeconfig {config} describe node {node.name}")
    commands.append(f"hcloud server describe {node.name}")
    return commands


class NodeInspect(ModalScreen[None]):
    """c copies the highlighted command (OSC 52) and shows it; escape closes."""

    BINDINGS = [
        Binding("c", "copy", "Copy command"),
        Binding("escape,i", "close", "Close"),
    ]
    DEFAULT_CSS = """
    NodeInspect .dialog-box { width: 90%; height: 90%; }
    NodeInspect #node-commands { height: auto; max-height: 5; }
    NodeInspect #node-log { height: 1fr; border: round $primary; }
    """

    def __init__(self, node: NodeView, lines: list[str], commands: list[str]) -> None:
        super().__init__(classes="dialog")
        self.node, self.lines, self.commands = node, lines[-MAX_LINES:], commands

    def compose(self) -> ComposeResult:
        node = self.node
        with Vertical(classes="dialog-box"):
            yield Static(Text.assemble(
                (node.name, "bold"), f"  {node.role or '-'} · pool {node.pool or '-'} · {node.server_type or '-'} · "
                f"{node.location or '-'} · public {node.public_ip or '-'} · private {node.private_ip or '-'}"),
                id="node-summary")
            yield Static(self._phases(), id="node-phases")
            yield Static("Commands (c copies the highlighted one):", classes="dialog-question")
            yield OptionList(*self.commands, id="node-commands")
            log = Log(id="node-log", max_lines=MAX_LINES)
            log.border_title = f"Log · {node.name} · {len(self.lines)} lines"
            yield log
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(Log).write_lines(self.lines or ["(no log lines from this node yet)"])
        self.query_one(OptionList).focus()

    def _phases(self) -> Text:
        text = Text("Phases: ")
        if not self.node.history:
            text.append("none yet", style="dim")
        for n, mark in enumerate(self.node.history):
            if n:
                text.append(" → ")
            text.append(f"{mark.phase} ", style="bold red" if mark.phase == "failed" else "bold")
            text.append(f"at {clock(mark.elapsed)}")
            if mark.reason:
                text.append(f" ({mark.reason})", style="italic")
        return text

    @property
    def highlighted(self) -> str:
        index = self.query_one(OptionList).highlighted
        return self.commands[index if index is not None else 0]

    def action_copy(self) -> None:
        command = self.highlighted
        # OSC 52 may be ignored by the terminal without telling us: the command is shown either way.
        self.app.copy_to_clipboard(command)
        self.notify(command, title="Sent to the clipboard if your terminal allows it (OSC 52)", timeout=15,
                    markup=False)

    def action_close(self) -> None:
        self.dismiss(None)
