"""Edit one volume: name, size, the worker pool whose nodes get it, and its filesystem."""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.widgets import Input, Select

from khz_tui.ui.choices import with_current
from khz_tui.ui.dialogs.entry_dialog import EntryDialog
from khz_tui.ui.draft import plan_default
from khz_tui.ui.screens.step import as_int, select_value
from khz_tui.ui.widgets.plan_field import PlanField


class VolumeDialog(EntryDialog):
    def __init__(self, volume: dict[str, Any], title: str, pools: list[str]) -> None:
        super().__init__(f"{title} volume")
        self.volume = volume
        self.pools = pools

    def compose_fields(self) -> ComposeResult:
        v = self.volume
        yield PlanField("Name", Input(str(v.get("name", "")), id="volume-name"), "storage.volumes.name")
        yield PlanField("Size (GB)", Input(str(v.get("size_gb", plan_default("storage.volumes.size_gb"))),
                                           type="integer", id="volume-size"), "storage.volumes.size_gb")
        pool = v.get("pool", plan_default("storage.volumes.pool"))
        pools = with_current([(p, p) for p in self.pools], pool)
        yield PlanField("Worker pool", Select(pools, value=pool, allow_blank=False, id="volume-pool"),
                        "storage.volumes.pool")
        fmt = v.get("format", plan_default("storage.volumes.format"))
        yield PlanField("Filesystem", Select(with_current([("ext4", "ext4"), ("xfs", "xfs")], fmt), value=fmt,
                                             allow_blank=False, id="volume-format"), "storage.volumes.format")

    def values(self) -> dict[str, Any]:
        return {
            "name": self.query_one("#volume-name", Input).value.strip(),
            "size_gb": as_int(self.query_one("#volume-size", Input).value),
            "pool": select_value(self.query_one("#volume-pool", Select)),
            "format": select_value(self.query_one("#volume-format", Select)),
        }
