"""The worker pools as an editable table."""

from __future__ import annotations

from typing import Any

from khz_tui.ui.dialogs.pool_editor import PoolDialog, labels_text
from khz_tui.ui.draft import entry_defaults
from khz_tui.ui.widgets.rows_table import RowsTable


class WorkerPoolTable(RowsTable):
    """One row per pool: name, server type, count, labels, taints, location (what a narrow table cuts
    first is last: the location, most often the cluster's own)."""

    PATH = "worker_pools"
    NOUN = "pool"
    COLUMNS = ("Pool", "Type", "Count", "Labels", "Taints", "Location")

    def __init__(self, pools: list[dict[str, Any]], default_location: str, **kwargs: Any) -> None:
        super().__init__(pools, **kwargs)
        self.default_location = default_location

    def cells(self, row: dict[str, Any]) -> tuple[str, ...]:
        return (
            str(row.get("name", "")),
            str(row.get("server_type", "")),
            str(row.get("count", "")),
            labels_text(row.get("labels", {})) or "-",
            ", ".join(row.get("taints", [])) or "-",
            str(row.get("location") or f"({self.default_location})"),
        )

    def new_row(self) -> dict[str, Any]:
        return {"name": self.free_name("pool"), **entry_defaults(self.PATH)}

    def dialog(self, row: dict[str, Any], title: str) -> PoolDialog:
        return PoolDialog(row, title, self.default_location)
