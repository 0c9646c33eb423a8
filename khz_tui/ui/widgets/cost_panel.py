"""The live monthly cost of the plan, line by line, from the plan package's estimate."""

from __future__ import annotations

from typing import Any

from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from khz_tui.plan.catalog import bundled_catalog
from khz_tui.plan.cost import CostEstimate, estimate_cost
from khz_tui.plan.model import ClusterPlan


class CostPanel(Static):
    """Shows `estimate_cost(plan)`; keeps the last figures (marked out of date) while the plan is invalid."""

    DEFAULT_CSS = """
    CostPanel { height: auto; border: round $primary; border-title-color: $text-primary; padding: 0 1; }
    CostPanel.-stale { border: round $panel; color: $text-muted; }
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.border_title = "Monthly cost"
        self.estimate: CostEstimate | None = None
        self.location: str | None = None

    def show_plan(self, plan: ClusterPlan | None) -> None:
        if plan is not None:
            self.estimate = estimate_cost(plan, bundled_catalog())
            self.location = plan.hcloud.location
        self.set_class(plan is None, "-stale")
        self.border_subtitle = "fix the plan to update" if plan is None else ""
        self.update(self._render_estimate())

    def _render_estimate(self) -> Table | Text:
        est = self.estimate
        if est is None:
            return Text("no valid plan yet", style="dim")
        table = Table.grid(expand=True, padding=(0, 1))
        table.add_column(ratio=1, overflow="fold")
        table.add_column(justify="right", no_wrap=True)
        for line in est.lines:
            # The cluster's own location is in the form beside this panel; naming it on every line
            # only made lines wrap. Another location (a spread control plane, a pool's own) still shows.
            item = line.item.removesuffix(f" ({self.location})") if self.location else line.item
            table.add_row(f"{line.quantity}× {item}", f"{line.monthly:.2f}")
        table.add_row(Text("Total / month", style="bold"), Text(f"{est.monthly:.2f} {est.currency}", style="bold"))
        table.add_row(Text("per hour", style="dim"), Text(f"{est.hourly:.4f}", style="dim"))
        table.add_row(Text("net prices of", style="dim italic"), Text(str(est.catalog_date), style="dim italic"))
        return table
