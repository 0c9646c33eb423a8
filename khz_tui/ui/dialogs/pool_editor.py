"""Edit one worker pool: name, server type, count, location, labels and taints."""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.widgets import Input, Select

from khz_tui.plan.catalog import bundled_catalog
from khz_tui.ui.choices import location_options, server_type_options, with_current
from khz_tui.ui.dialogs.entry_dialog import EntryDialog
from khz_tui.ui.draft import plan_default
from khz_tui.ui.screens.step import as_int, select_value
from khz_tui.ui.widgets.plan_field import PlanField


def labels_text(labels: dict[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in labels.items())


def parse_labels(text: str) -> dict[str, str]:
    """`role=web, tier=front` as a dict; the plan's check judges the keys and values."""
    out: dict[str, str] = {}
    for part in text.split(","):
        if part.strip():
            key, _, value = part.strip().partition("=")
            out[key.strip()] = value.strip()
    return out


class PoolDialog(EntryDialog):
    """Returns the pool as plain data, or None when cancelled."""

    def __init__(self, pool: dict[str, Any], title: str, default_location: str) -> None:
        super().__init__(f"{title} worker pool")
        self.pool = pool
        self.default_location = default_location

    def compose_fields(self) -> ComposeResult:
        pool, catalog = self.pool, bundled_catalog()
        location = pool.get("location") or self.default_location
        types = with_current(server_type_options(catalog, location), pool.get("server_type"))
        yield PlanField("Name", Input(str(pool.get("name", "")), id="pool-name"), "worker_pools.name")
        yield PlanField("Server type", Select(types, value=pool.get("server_type", Select.NULL), id="pool-type"),
                        "worker_pools.server_type")
        yield PlanField("Count", Input(str(pool.get("count", plan_default("worker_pools.count"))), id="pool-count",
                                       type="integer"),
                        "worker_pools.count")
        locations = [(f"default ({self.default_location})", "")] + location_options(catalog)
        yield PlanField("Location", Select(locations, value=pool.get("location") or "", allow_blank=False,
                                           id="pool-location"), "worker_pools.location")
        yield PlanField("Labels (key=value, comma separated)",
                        Input(labels_text(pool.get("labels", {})), id="pool-labels"), "worker_pools.labels")
        yield PlanField("Taints (key=value:Effect, comma separated)",
                        Input(", ".join(pool.get("taints", [])), id="pool-taints"), "worker_pools.taints")

    def values(self) -> dict[str, Any]:
        pool = {k: v for k, v in self.pool.items() if k not in ("location",)}
        pool["name"] = self.query_one("#pool-name", Input).value.strip()
        pool["server_type"] = select_value(self.query_one("#pool-type", Select)) or pool.get("server_type", "")
        pool["count"] = as_int(self.query_one("#pool-count", Input).value)
        location = select_value(self.query_one("#pool-location", Select))
        if location:
            pool["location"] = location
        pool["labels"] = parse_labels(self.query_one("#pool-labels", Input).value)
        taints = self.query_one("#pool-taints", Input).value
        pool["taints"] = [t.strip() for t in taints.split(",") if t.strip()]
        return pool
