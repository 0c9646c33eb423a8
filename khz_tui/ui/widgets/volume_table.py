"""The volumes as an editable table."""

from __future__ import annotations

from typing import Any

from khz_tui.ui.dialogs.volume_editor import VolumeDialog
from khz_tui.ui.draft import entry_defaults, plan_default
from khz_tui.ui.widgets.rows_table import RowsTable


class VolumeTable(RowsTable):
    """One row per volume: name, size, pool, filesystem."""

    PATH = "storage.volumes"
    NOUN = "volume"
    COLUMNS = ("Volume", "Size", "Pool", "Format")

    def __init__(self, volumes: list[dict[str, Any]], pools: list[str], **kwargs: Any) -> None:
        super().__init__(volumes, **kwargs)
        self.pools = pools

    def cells(self, row: dict[str, Any]) -> tuple[str, ...]:
        return (str(row.get("name", "")), f"{row.get('size_gb', '')} GB", str(row.get("pool", "")),
                str(row.get("format", plan_default("storage.volumes.format"))))

    def new_row(self) -> dict[str, Any]:
        row = {"name": self.free_name("data"), **entry_defaults(self.PATH)}
        if self.pools:  # on the plan's first pool rather than the default one's name, which may not exist
            row["pool"] = self.pools[0]
        return row

    def dialog(self, row: dict[str, Any], title: str) -> VolumeDialog:
        return VolumeDialog(row, title, self.pools)
