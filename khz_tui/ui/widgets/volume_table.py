"""The volumes as an editable table."""

from __future__ import annotations

from typing import Any

from khz_tui.ui.dialogs.volume_editor import VolumeDialog
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
                str(row.get("format", "ext4")))

    def new_row(self) -> dict[str, Any]:
        return {"name": self.free_name("data"), "size_gb": 10, "pool": self.pools[0] if self.pools else "default",
                "format": "ext4"}

    def dialog(self, row: dict[str, Any], title: str) -> VolumeDialog:
        return VolumeDialog(row, title, self.pools)
