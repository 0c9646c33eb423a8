"""The run console's node table: one row per node of the run's view, in the order the engine planned them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from textual.widgets import DataTable

from khz_tui.engine.run_view import NodeView, RunView

COLUMNS = ("Node", "Role", "Pool", "Type", "Location", "Public IP", "Private IP", "Phase", "Ready", "Time")
#: What a narrow terminal keeps: where each node is and how far it got, before what it is.
COMPACT = ("Node", "Role", "Public IP", "Phase", "Ready", "Time")
#: The width (of the terminal) from which every column fits.
FULL_WIDTH = 100
#: Columns whose values arrive after the row is drawn (update_cell keeps widths): wide enough for an
#: IPv4 address, a private address in a /16, the longest phase name and hours of time spent, so nothing
#: is cut off mid-run and the whole table still fits 100 columns.
_WIDTHS = {"Public IP": 15, "Private IP": 12, "Phase": 10, "Time": 6}
_PHASE_STYLE = {"ready": "bold green", "failed": "bold red", "deleting": "yellow", "deleted": "dim"}


class NodeTable(DataTable[str]):
    """Selecting a row (enter or click) filters the log pane to that node."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)
        self.nodes: Mapping[str, NodeView] = {}
        """The nodes as last drawn."""
        self.now = 0.0
        self._drawn: dict[str, tuple[str, ...]] = {}  # each row's cells as last drawn
        self.shown: tuple[str, ...] = COLUMNS

    def on_mount(self) -> None:
        self.shown = self._columns_for(self.app.size.width)
        self._add_columns()

    @staticmethod
    def _columns_for(width: int) -> tuple[str, ...]:
        return COLUMNS if width >= FULL_WIDTH else COMPACT

    def _add_columns(self) -> None:
        for label in self.shown:
            self.add_column(label, key=label, width=_WIDTHS.get(label))

    def fit_width(self, width: int) -> None:
        """Show the columns that fit `width` (the terminal's), rebuilding the rows if that changes them."""
        shown = self._columns_for(width)
        if shown == self.shown:
            return
        cursor = self.cursor_row
        self.shown = shown
        self.clear(columns=True)
        self._add_columns()
        for name in self.nodes:
            self.add_row(*self._visible(self._drawn[name]), key=name)
        if self.row_count:
            self.move_cursor(row=min(cursor, self.row_count - 1))

    def _visible(self, cells: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(value for label, value in zip(COLUMNS, cells) if label in self.shown)

    def refresh_rows(self, view: RunView) -> None:
        """Bring the table up to `view` once per batch of events, with its elapsed time as `now`. Batches come
        up to 30 times a second: rows are added for new nodes, and only the cells whose text changed are updated."""
        self.now = view.elapsed
        self.nodes = view.nodes
        for name, node in view.nodes.items():
            cells, drawn = self._cells(node), self._drawn.get(name)
            if drawn is None:
                self._drawn[name] = cells
                self.add_row(*self._visible(cells), key=name)
                continue
            if cells == drawn:
                continue
            for label, value, old in zip(COLUMNS, cells, drawn):
                if value != old and label in self.shown:
                    self.update_cell(name, label, value)
            self._drawn[name] = cells

    def _cells(self, node: NodeView) -> tuple[str, ...]:
        style = _PHASE_STYLE.get(node.phase, "")
        phase = f"[{style}]{node.phase}[/]" if style else node.phase
        ready = {"ready": "[bold green]✓[/]", "failed": "[red]✗[/]", "deleted": "[dim]gone[/]"}.get(node.phase, "·")
        role = {"control-plane": "control", "worker": "worker"}.get(node.role, node.role) or "-"
        pool = "-" if node.role == "control-plane" else (node.pool or "-")
        seconds = node.seconds(self.now)
        return (node.name, role, pool, node.server_type or "-", node.location or "-", node.public_ip or "-",
                node.private_ip or "-", phase, ready, "" if seconds is None else f"{seconds:.0f}s")
