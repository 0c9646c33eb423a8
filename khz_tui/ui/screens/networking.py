"""Step 3: the private network, CNI, the API load balancer, Service load balancers and who may connect."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Container, Horizontal
from textual.widgets import Input, Select, Static, Switch

from khz_tui.plan.catalog import bundled_catalog
from khz_tui.ui.choices import lb_type_options, with_current, zone_options
from khz_tui.ui.screens.step import WizardStep, as_list, select_value
from khz_tui.ui.widgets.controls import PlanSwitch
from khz_tui.ui.widgets.plan_field import PlanField

if TYPE_CHECKING:
    from khz_tui.plan.catalog import Catalog
    from khz_tui.ui.draft import PlanDraft

CNIS = [("flannel  built into k3s", "flannel"), ("cilium", "cilium"), ("calico", "calico")]
SERVICE_LBS = [("Hetzner load balancers (cloud controller)", "hetzner"), ("Klipper (k3s servicelb)", "klipper")]
OPEN_WORLD = ("0.0.0.0/0", "::/0")


class NetworkingStep(WizardStep):
    STEP = "networking"
    PREFIXES = ("network", "load_balancer", "ssh.allowed_cidrs", "ssh.api_allowed_cidrs",
                "addons.service_load_balancer")
    HELP = (
        "The private network the nodes talk over, and the address ranges of pods and services (they must not "
        "overlap). The API load balancer puts one stable address in front of the control planes. Allowed "
        "networks limit who reaches SSH and the Kubernetes API. Empty means only the address khz-tui runs "
        "from: the simulator reports it, Hetzner cannot, so for Hetzner name your address (e.g. 203.0.113.7/32) "
        "or apply stops before changing anything. 0.0.0.0/0 opens them to the whole internet. The address "
        "khz-tui found for this machine shows under the fields, with where it came from; ctrl+l writes it into "
        "the empty ones."
    )
    BINDINGS = [Binding("ctrl+l", "use_my_address", "Use my address")]

    def compose_form(self) -> ComposeResult:
        d, catalog = self.draft, bundled_catalog()
        zone = d.get_or_default("network.zone")
        # Two columns of fields at 200 columns (`.field-grid`); the address lines below stay full width.
        with Container(classes="field-grid"):
            yield from self._compose_fields(d, catalog, zone)
        yield Static("", id="caller-address")
        yield Static("", id="open-world")

    def _compose_fields(self, d: PlanDraft, catalog: Catalog, zone: str) -> ComposeResult:
        yield PlanField("Network zone", Select(with_current(zone_options(catalog), zone), value=zone,
                                               allow_blank=False, id="zone"), "network.zone")
        with Horizontal(classes="field-pair"):
            yield PlanField("Network range", Input(d.get_or_default("network.ip_range"), id="ip-range"),
                            "network.ip_range")
            yield PlanField("Node subnet", Input(d.get_or_default("network.subnet"), id="subnet"), "network.subnet")
        with Horizontal(classes="field-pair"):
            yield PlanField("Pod range", Input(d.get_or_default("network.pod_cidr"), id="pod-cidr"), "network.pod_cidr")
            yield PlanField("Service range", Input(d.get_or_default("network.service_cidr"), id="service-cidr"),
                            "network.service_cidr")
        cni = d.get_or_default("network.cni")
        with Horizontal(classes="field-pair"):
            yield PlanField("CNI", Select(with_current(CNIS, cni), value=cni, allow_blank=False, id="cni"),
                            "network.cni")
            yield PlanField("WireGuard encryption",
                            PlanSwitch(bool(d.get_or_default("network.encryption")), id="encryption"),
                            "network.encryption")
        location = d.get_or_default("hcloud.location")
        lb_type = d.get_or_default("load_balancer.type")
        with Horizontal(classes="field-pair"):
            yield PlanField("API load balancer",
                            PlanSwitch(bool(d.get_or_default("load_balancer.enabled")), id="lb-enabled"),
                            "load_balancer.enabled")
            yield PlanField("Type", Select(with_current(lb_type_options(catalog, location), lb_type),
                                           value=lb_type, allow_blank=False, id="lb-type"), "load_balancer.type")
        service_lb = d.get_or_default("addons.service_load_balancer")
        yield PlanField("Services of type LoadBalancer",
                        Select(with_current(SERVICE_LBS, service_lb), value=service_lb, allow_blank=False,
                               id="service-lb"), "addons.service_load_balancer")
        empty = "empty: only this machine's address (below)"
        yield PlanField("Who may reach SSH (CIDRs, e.g. 203.0.113.7/32)",
                        Input(", ".join(d.get_or_default("ssh.allowed_cidrs")), placeholder=empty, id="ssh-cidrs"),
                        "ssh.allowed_cidrs")
        yield PlanField("Who may reach the Kubernetes API (CIDRs, e.g. 203.0.113.7/32)",
                        Input(", ".join(d.get_or_default("ssh.api_allowed_cidrs")), placeholder=empty, id="api-cidrs"),
                        "ssh.api_allowed_cidrs")

    def on_mount(self) -> None:
        super().on_mount()
        self._look_up_caller()

    @work(exclusive=True, group="caller-address")
    async def _look_up_caller(self) -> None:
        self._show_caller()
        await self.app.look_up_caller()
        if self.showing:
            self._show_caller()

    def _show_caller(self) -> None:
        """Beside the fields: the address an empty one stands for, where it came from, and the key to keep it."""
        caller = self.app.caller
        line = self.query_one("#caller-address", Static)
        empty = [f for f in ("#ssh-cidrs", "#api-cidrs") if not self.query_one(f, Input).value.strip()]
        if caller.found:
            cidrs = ", ".join(a.cidr for a in caller.found)
            for selector in ("#ssh-cidrs", "#api-cidrs"):
                self.query_one(selector, Input).placeholder = f"empty: only this machine, {cidrs}"
        text = f"This machine's address: {caller.summary()}"
        if caller.found and empty:
            text += "  ·  ctrl+l writes it into the empty fields"
        line.update(text)
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "use_my_address":
            return bool(self.app.caller.found)
        return super().check_action(action, parameters)

    def action_use_my_address(self) -> None:
        """Write the found address into each empty range field, so the plan names it (and the file keeps it)."""
        found = self.app.caller.found
        if not found:
            return
        cidrs = ", ".join(a.cidr for a in found)
        filled = []
        for selector, key in (("#ssh-cidrs", "ssh.allowed_cidrs"), ("#api-cidrs", "ssh.api_allowed_cidrs")):
            field = self.query_one(selector, Input)
            if not field.value.strip():
                field.value = cidrs
                filled.append(key)
        self.changed()
        self._show_caller()
        self.notify(f"{cidrs} written into {', '.join(filled)}" if filled else "Both fields already name ranges",
                    severity="information" if filled else "warning")

    def collect(self) -> dict[str, Any]:
        def text(selector: str) -> str:
            return self.query_one(selector, Input).value.strip()

        return {
            "network.zone": select_value(self.query_one("#zone", Select)),
            "network.ip_range": text("#ip-range"),
            "network.subnet": text("#subnet"),
            "network.pod_cidr": text("#pod-cidr"),
            "network.service_cidr": text("#service-cidr"),
            "network.cni": select_value(self.query_one("#cni", Select)),
            "network.encryption": self.query_one("#encryption", Switch).value,
            "load_balancer.enabled": self.query_one("#lb-enabled", Switch).value,
            "load_balancer.type": select_value(self.query_one("#lb-type", Select)),
            "addons.service_load_balancer": select_value(self.query_one("#service-lb", Select)),
            "ssh.allowed_cidrs": as_list(text("#ssh-cidrs")),
            "ssh.api_allowed_cidrs": as_list(text("#api-cidrs")),
        }

    def after_check(self) -> None:
        self.query_one("#lb-type", Select).disabled = not self.query_one("#lb-enabled", Switch).value
        cidrs = as_list(self.query_one("#ssh-cidrs", Input).value) + as_list(self.query_one("#api-cidrs", Input).value)
        banner = self.query_one("#open-world", Static)
        opened = any(c in OPEN_WORLD for c in cidrs)
        banner.update("⚠ 0.0.0.0/0 lets the whole internet knock on SSH or the API" if opened else "")
        banner.set_class(opened, "-warning")
