"""The run console's node table: one row per planned node, updated from the engine's node events."""

from __future__ import annotations

from dataclasses import dataclass, field

from textual.widgets import DataTable

from khz_tui.engine.events import NODE_PHASES, NodePhaseChanged, NodePlanned, ResourceDeleted

COLUMNS = ("Node", "Role", "Pool", "Type", "Location", "Public IP", "Private IP", "Phase", "Ready", "Time")
#: What a narrow terminal keeps: where each node is and how far it got, before what it is.
COMPACT = ("Node", "Role", "Public IP", "Phase", "Ready", "Time")
#: The width (of the terminal) from which every column fits.
FULL_WIDTH = 100
#: Columns whose values arrive after the row is drawn (update_cell keeps widths): wide enough for an
#: IPv4 address, a private address in a /16, the longest phase name and hours of time spent, so nothing
#: is cut off mid-run and the whole table still fits 100 columns.
_WIDTHS = {"Public IP": 15, "Private IP": 12, "Phase": 10, "Time": 6}
_DONE_PHASES = ("ready", "failed", "deleted")
_PHASE_STYLE = {"ready": "bold green", "failed": "bold red", "deleting": "yellow", "deleted": "dim"}


@dataclass
class NodeRow:
    name: str
    role: str
    pool: str
    server_type: str
    location: str
    public_ip: str = ""
    private_ip: str = ""
    phase: str = "planned"
    started: float | None = None
    finished: float | None = None
    history: list[tuple[float, str, str]] = field(default_factory=list)
    """Every phase the node went through: (elapsed, phase, reason), for the drill-down."""

    def elapsed(self, now: float) -> str:
        if self.started is None:
            return ""
        end = self.finished if self.finished is not None else now
        return f"{max(end - self.started, 0):.0f}s"


class NodeTable(DataTable):
    """Selecting a row (enter or click) filters the log pane to that node."""

    def __init__(self, **kwargs) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)
        self.nodes: dict[str, NodeRow] = {}
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
        for name, row in self.nodes.items():
            self.add_row(*self._visible(self._drawn[name]), key=name)
        if self.row_count:
            self.move_cursor(row=min(cursor, self.row_count - 1))

    def _visible(self, cells: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(value for label, value in zip(COLUMNS, cells) if label in self.shown)

    def node_planned(self, event: NodePlanned) -> None:
        if event.node not in self.nodes:
            self._add(NodeRow(event.node, event.role, event.pool, event.server_type, event.location))

    def phase_changed(self, event: NodePhaseChanged) -> None:
        row = self.nodes.get(event.node)
        if row is None:  # a node the engine found rather than planned (e.g. while destroying)
            row = self._add(NodeRow(event.node, "", "", "", ""))
        row.phase = event.phase
        row.history.append((event.elapsed, event.phase, event.reason))
        row.public_ip = event.public_ip or row.public_ip
        row.private_ip = event.private_ip or row.private_ip
        if row.started is None and event.phase != "planned":
            row.started = event.elapsed
        row.finished = event.elapsed if event.phase in _DONE_PHASES else None

    def resource_deleted(self, event: ResourceDeleted) -> None:
        """A deleted server is its node's end, also when the engine said nothing of its phase."""
        row = self.nodes.get(event.name)
        if event.resource_type == "server" and row is not None and row.phase != "deleted":
            row.phase = "deleted"
            row.finished = event.elapsed

    def _add(self, row: NodeRow) -> NodeRow:
        self.nodes[row.name] = row
        cells = self._drawn[row.name] = self._cells(row)
        self.add_row(*self._visible(cells), key=row.name)
        return row

    def refresh_rows(self, now: float) -> None:
        """Bring every row up to date once per batch of events, with `now` as the run's elapsed time.
        Batches come up to 30 times a second: only the cells whose text changed are updated."""
        self.now = now
        for name, row in self.nodes.items():
            cells, drawn = self._cells(row), self._drawn[name]
            if cells == drawn:
                continue
            for label, value, old in zip(COLUMNS, cells, drawn):
                if value != old and label in self.shown:
                    self.update_cell(name, label, value)
            self._drawn[name] = cells

    def _cells(self, row: NodeRow) -> tuple[str, ...]:
        style = _PHASE_STYLE.get(row.phase, "")
        phase = f"[{style}]{row.phase}[/]" if style else row.phase
        ready = {"ready": "[bold green]✓[/]", "failed": "[red]✗[/]", "deleted": "[dim]gone[/]"}.get(row.phase, "·")
        role = {"control-plane": "control", "worker": "worker"}.get(row.role, row.role) or "-"
        pool = "-" if row.role == "control-plane" else (row.pool or "-")
        return (row.name, role, pool, row.server_type or "-", row.location or "-", row.public_ip or "-",
                row.private_ip or "-", phase, ready, row.elapsed(self.now))

    def progress(self) -> float:
        """0..1: how far the nodes are along the happy path (or through deletion)."""
        if not self.nodes:
            return 0.0
        last = len(NODE_PHASES) - 1
        total = 0.0
        for row in self.nodes.values():
            if row.phase in ("ready", "deleted"):
                total += 1
            elif row.phase == "deleting":
                total += 0.5
            elif row.phase in NODE_PHASES:
                total += NODE_PHASES.index(row.phase) / last
        return total / len(self.nodes)
