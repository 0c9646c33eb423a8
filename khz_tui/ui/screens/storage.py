"""Step 4: the Hetzner CSI driver, Longhorn, and volumes attached to a pool's nodes."""

from __future__ import annotations

from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Switch

from khz_tui.ui.screens.step import WizardStep
from khz_tui.ui.widgets.controls import PlanSwitch
from khz_tui.ui.widgets.cost_panel import CostPanel
from khz_tui.ui.widgets.plan_field import PlanField
from khz_tui.ui.widgets.rows_table import RowsTable
from khz_tui.ui.widgets.volume_table import VolumeTable


class StorageStep(WizardStep):
    STEP = "storage"
    PREFIXES = ("storage",)
    HELP = (
        "The Hetzner CSI driver turns PersistentVolumeClaims into Hetzner volumes. Longhorn replicates storage "
        "across the nodes' own disks. Volumes listed here are created for each node of a worker pool and "
        "mounted there. In the volumes table: a adds, e or enter edits, x removes."
    )

    def compose_form(self) -> ComposeResult:
        d = self.draft
        with Horizontal(classes="field-pair"):
            yield PlanField("Hetzner CSI driver", PlanSwitch(bool(d.get_or_default("storage.hcloud_csi")), id="csi"),
                            "storage.hcloud_csi")
            yield PlanField("Longhorn", PlanSwitch(bool(d.get_or_default("storage.longhorn")), id="longhorn"),
                            "storage.longhorn")
        pools = [str(p.get("name", "")) for p in d.get_or_default("worker_pools") if isinstance(p, dict)]
        yield PlanField("Volumes  (a add · e edit · x remove)",
                        VolumeTable(d.get_or_default("storage.volumes"), pools, id="volumes"), "storage.volumes")

    def compose_side(self) -> ComposeResult:
        yield CostPanel(id="cost")

    def collect(self) -> dict[str, Any]:
        return {
            "storage.hcloud_csi": self.query_one("#csi", Switch).value,
            "storage.longhorn": self.query_one("#longhorn", Switch).value,
            "storage.volumes": self.query_one(VolumeTable).rows_data,
        }

    def after_check(self) -> None:
        self.query_one(CostPanel).show_plan(self.draft.plan)

    @on(RowsTable.RowsChanged)
    def _volumes_changed(self) -> None:
        self.changed()
