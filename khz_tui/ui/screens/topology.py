"""Step 2: cluster name, locations, control planes and worker pools, with the cost beside them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textual import on
from textual.app import ComposeResult
from textual.containers import Container
from textual.widgets import Input, Select, SelectionList

from khz_tui.plan.catalog import bundled_catalog
from khz_tui.ui.choices import location_options, server_type_options, with_current
from khz_tui.ui.screens.step import WizardStep, select_value
from khz_tui.ui.widgets.controls import CheckList
from khz_tui.ui.widgets.cost_panel import CostPanel
from khz_tui.ui.widgets.plan_field import PlanField
from khz_tui.ui.widgets.pool_table import WorkerPoolTable
from khz_tui.ui.widgets.rows_table import RowsTable

if TYPE_CHECKING:
    from khz_tui.plan.catalog import Catalog
    from khz_tui.ui.draft import PlanDraft

CONTROL_PLANE_COUNTS = [("1  no high availability", 1), ("3  survives one failure", 3), ("5  survives two failures", 5)]


def _order(value: object) -> float:
    return float(value) if isinstance(value, (int, float)) else float("inf")


class TopologyStep(WizardStep):
    STEP = "topology"
    PREFIXES = ("name", "hcloud.location", "control_plane", "worker_pools")
    HELP = (
        "Name the cluster and choose where and how big it is. Control planes run the Kubernetes API and etcd: "
        "3 survive the loss of one. Worker pools run your workloads. In the pools table: a adds a pool, "
        "e or enter edits the highlighted one, x removes it. The cost panel follows every change."
    )

    def compose_form(self) -> ComposeResult:
        d, catalog = self.draft, bundled_catalog()
        location = d.get_or_default("hcloud.location")
        # Two columns of these at 200 columns (`.field-grid`); the checklist and the table stay full width.
        with Container(classes="field-grid"):
            yield from self._compose_main(d, catalog, location)
        yield PlanField("Spread control planes over (optional)", CheckList(id="cp-locations"),
                        "control_plane.locations")
        yield PlanField("Worker pools  (a add · e edit · x remove)",
                        WorkerPoolTable(d.get_or_default("worker_pools"), location, id="pools"), "worker_pools")

    def _compose_main(self, d: PlanDraft, catalog: Catalog, location: str) -> ComposeResult:
        yield PlanField("Cluster name", Input(str(d.get("name", "")), id="name"), "name")
        yield PlanField("Location", Select(with_current(location_options(catalog), location), value=location,
                                           allow_blank=False, id="location"), "hcloud.location")
        count = d.get_or_default("control_plane.count")
        # A count from a plan file that is not allowed sits in order among the allowed ones, so one arrow
        # key from it reaches its neighbour, not the other end of the list.
        counts = sorted(CONTROL_PLANE_COUNTS + ([(f"{count}  (not allowed: 1, 3 or 5)", count)]
                                                if count not in (1, 3, 5) else []), key=lambda c: _order(c[1]))
        yield PlanField("Control planes", Select(counts, value=count, allow_blank=False, id="cp-count"),
                        "control_plane.count")
        cp_type = d.get_or_default("control_plane.server_type")
        yield PlanField(
            "Control-plane server type",
            Select(with_current(server_type_options(catalog, location), cp_type), value=cp_type,
                   allow_blank=False, id="cp-type"),
            "control_plane.server_type",
        )

    def compose_side(self) -> ComposeResult:
        yield CostPanel(id="cost")

    def load(self) -> None:
        self._fill_spread_locations()

    def _location(self, select: Select[Any]) -> str:
        """The location chosen, or the draft's while none is (a Select with no blank always has one)."""
        return str(select_value(select) or self.draft.get_or_default("hcloud.location"))

    def _fill_spread_locations(self) -> None:
        catalog = bundled_catalog()
        location = self._location(self.query_one("#location", Select))
        loc = catalog.location(location)
        zone_locations = catalog.zone_locations(loc.network_zone) if loc else [location]
        chosen = set(self.draft.get_or_default("control_plane.locations"))
        spread = self.query_one("#cp-locations", SelectionList)
        spread.clear_options()
        spread.add_options([(name, name, name in chosen) for name in zone_locations])

    def collect(self) -> dict[str, Any]:
        spread = self.query_one("#cp-locations", SelectionList)
        return {
            "name": self.query_one("#name", Input).value.strip(),
            "hcloud.location": select_value(self.query_one("#location", Select)),
            "control_plane.count": select_value(self.query_one("#cp-count", Select)),
            "control_plane.server_type": select_value(self.query_one("#cp-type", Select)),
            "control_plane.locations": list(spread.selected),
            "worker_pools": self.query_one(WorkerPoolTable).rows_data,
        }

    def after_check(self) -> None:
        self.query_one(CostPanel).show_plan(self.draft.plan)

    @on(Select.Changed, "#location")
    def _location_changed(self, event: Select.Changed) -> None:
        if self._loading:
            return
        # Prices and spread choices depend on the location.
        location = self._location(event.select)
        self.draft.set("control_plane.locations", [])
        self._fill_spread_locations()
        cp_type = self.query_one("#cp-type", Select)
        current = select_value(cp_type)
        cp_type.set_options(with_current(server_type_options(bundled_catalog(), location), current))
        if current is not None:
            cp_type.value = current
        table = self.query_one(WorkerPoolTable)
        table.default_location = location
        table.set_rows(table.rows_data)

    @on(RowsTable.RowsChanged)
    def _pools_changed(self) -> None:
        self.changed()
