"""The simulated cloud's resources: every server, network, load balancer, ... of the project, its
actions and addresses.

Resources are kept as plain dicts close to the wire format (they persist as JSON as they are); each
resource module renders its own API view. The store also answers the simulated machines' questions
about the network (`CloudView`) and builds the `NodeSpec` a booting machine receives.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from aiohttp import web

from khz_tui.sim.api.actions import ActionBook, ActionFailure
from khz_tui.sim.api.addresses import PublicAddresses
from khz_tui.sim.api.config import SimConfig
from khz_tui.sim.api.errors import locked, not_found
from khz_tui.sim.api.labels import matches
from khz_tui.sim.api.offerings import Offerings
from khz_tui.sim.api.wire import by_id_or_name
from khz_tui.sim.contracts import NodeHost, NodeSpec

Kind = Literal["servers", "networks", "load_balancers", "volumes", "firewalls", "ssh_keys", "placement_groups"]
"""A resource kind, named as the API's collection (`/servers`, `/load_balancers`, ...)."""
KINDS: tuple[Kind, ...] = ("servers", "networks", "load_balancers", "volumes", "firewalls", "ssh_keys", "placement_groups")
# Distinct id ranges per kind, so a client that mixes up ids gets not_found instead of a wrong object.
FIRST_IDS = {kind: (n + 1) * 100000 + 1 for n, kind in enumerate(KINDS)}
SINGULAR: dict[Kind, str] = {
    "servers": "server",
    "networks": "network",
    "load_balancers": "load_balancer",
    "volumes": "volume",
    "firewalls": "firewall",
    "ssh_keys": "ssh_key",
    "placement_groups": "placement_group",
}


class CloudStore:
    """The resources of one simulated project (`Simulator.cloud`); implements `CloudView` for the node host.

    Tests read it through `Simulator.inspect` (`khz_tui.sim.inspection`), never directly."""

    def __init__(self, config: SimConfig, nodes: NodeHost | None = None, offerings: Offerings | None = None):
        self.config = config
        self.nodes = nodes
        self.offer = offerings or Offerings()
        self.actions = ActionBook(config.time_scale)
        self.public = PublicAddresses()
        """Replaced by the simulator with a pool in the block it claimed (see `addresses.claim_block`)."""
        self.tables: dict[Kind, dict[int, dict[str, Any]]] = {kind: {} for kind in KINDS}
        self._next_ids = dict(FIRST_IDS)
        self.create_failure: Callable[[str, str], ActionFailure | None] = lambda kind, name: None
        """Fault hook: given a resource kind and name, how its create action should fail (or None)."""
        self.endpoint = ""
        """The API's base URL once it listens (set by the simulator)."""

    # -- ids and look-ups -------------------------------------------------------------------------

    def new_id(self, kind: Kind) -> int:
        """The next id for a resource kind."""
        ident = self._next_ids[kind]
        self._next_ids[kind] += 1
        return ident

    @property
    def servers(self) -> dict[int, dict[str, Any]]:
        return self.tables["servers"]

    @property
    def networks(self) -> dict[int, dict[str, Any]]:
        return self.tables["networks"]

    @property
    def load_balancers(self) -> dict[int, dict[str, Any]]:
        return self.tables["load_balancers"]

    @property
    def volumes(self) -> dict[int, dict[str, Any]]:
        return self.tables["volumes"]

    @property
    def firewalls(self) -> dict[int, dict[str, Any]]:
        return self.tables["firewalls"]

    @property
    def ssh_keys(self) -> dict[int, dict[str, Any]]:
        return self.tables["ssh_keys"]

    @property
    def placement_groups(self) -> dict[int, dict[str, Any]]:
        return self.tables["placement_groups"]

    def get(self, kind: Kind, ident: Any) -> dict[str, Any]:
        """A resource by id (int or digit string); `not_found` otherwise."""
        try:
            key = int(ident)
        except (TypeError, ValueError):
            raise not_found(SINGULAR[kind], ident) from None
        record = self.tables[kind].get(key)
        if record is None:
            raise not_found(SINGULAR[kind], ident)
        return record

    def get_by_id_or_name(self, kind: Kind, ident: Any) -> dict[str, Any] | None:
        """A resource by id or name, or None (server create accepts SSH keys either way)."""
        return by_id_or_name(self.tables[kind], ident)

    def name_taken(self, kind: Kind, name: str, *, except_id: int | None = None) -> bool:
        """Whether another resource of this kind already has this name."""
        return any(r["name"] == name and r["id"] != except_id for r in self.tables[kind].values())

    def ensure_unlocked(self, kind: Kind, ident: int) -> None:
        """Raise `locked` while an action runs on this resource."""
        if self.actions.is_locked(SINGULAR[kind], ident):
            raise locked(SINGULAR[kind], ident)

    def servers_selected(self, selector: str) -> list[dict[str, Any]]:
        """Servers whose labels satisfy a selector, by id."""
        return [s for s in sorted(self.servers.values(), key=lambda s: s["id"]) if matches(selector, s["labels"])]

    # -- CloudView --------------------------------------------------------------------------------

    def _visible_networks(self, from_server: int | None) -> set[int] | None:
        """Networks whose private addresses `from_server` can reach (None: no boundary)."""
        return None if from_server is None else set(self.server_network_ids(from_server))

    def server_at(self, address: str, from_server: int | None = None) -> int | None:
        """Id of the server owning this public IPv4, or this private IPv4 in a network `from_server`
        is attached to. Private ranges overlap between networks (two clusters on the default
        10.0.0.0/16), so a private address means nothing outside its own network (spec, tag Networks:
        "They allow Servers to talk to each other over a dedicated network interface using private IP
        addresses not available publicly")."""
        visible = self._visible_networks(from_server)
        for server in self.servers.values():
            if server.get("public_ipv4") == address:
                return int(server["id"])
            if any(p["ip"] == address and (visible is None or p["network"] in visible)
                   for p in server["private_net"]):
                return int(server["id"])
        return None

    def server_network_ids(self, server_id: int) -> list[int]:
        """Private networks the server is attached to."""
        server = self.servers.get(server_id)
        return [p["network"] for p in server["private_net"]] if server else []

    def load_balancer_at(self, address: str, from_server: int | None = None) -> dict[str, Any] | None:
        """The load balancer owning this public IPv4, or this private IP in a network `from_server`
        is attached to (its private IP answers only inside its own network)."""
        visible = self._visible_networks(from_server)
        for lb in self.load_balancers.values():
            if lb.get("public_ipv4") == address:
                return lb
            if any(p["ip"] == address and (visible is None or p["network"] in visible) for p in lb["private_net"]):
                return lb
        return None

    def load_balancer_backends(self, address: str, port: int, from_server: int | None = None) -> list[int] | None:
        """Target server ids behind a load balancer address and TCP port as seen from `from_server`
        (None: from anywhere), or None when no load balancer there listens on that port."""
        lb = self.load_balancer_at(address, from_server)
        if lb is None or lb.get("status") == "creating":
            return None
        if not any(s["listen_port"] == port for s in lb["services"]):
            return None
        return [s["id"] for s in self.lb_target_servers(lb)]

    def load_balancer_addresses(self) -> list[str]:
        """Public IPv4 addresses of every load balancer (where the node host opens their listeners)."""
        return sorted(lb["public_ipv4"] for lb in self.load_balancers.values() if lb.get("public_ipv4"))

    def lb_target_servers(self, lb: dict[str, Any]) -> list[dict[str, Any]]:
        """Running servers behind a load balancer; `use_private_ip` targets need the LB's network."""
        lb_networks = {p["network"] for p in lb["private_net"]}
        chosen: dict[int, dict[str, Any]] = {}
        for target in lb["targets"]:
            if target["type"] == "server":
                found = self.servers.get(target["server"]["id"])
                candidates = [found] if found else []
            else:
                candidates = self.servers_selected(target["label_selector"]["selector"])
            for server in candidates:
                if target.get("use_private_ip") and not lb_networks & set(self.server_network_ids(server["id"])):
                    continue
                if server["status"] == "running":
                    chosen[server["id"]] = server
        return [chosen[k] for k in sorted(chosen)]

    def api_endpoint(self) -> str:
        """The API's own base URL, for the simulated in-cluster controllers ("" until it listens)."""
        return self.endpoint

    def firewall_rules_for(self, server_id: int) -> list[dict[str, Any]] | None:
        """Rules of every Firewall applied to the server, directly or through a label selector; None
        when none applies. Spec, tag Firewalls: "When applying a firewall with no `in` rule all
        inbound traffic will be dropped"; with no Firewall at all nothing is filtered."""
        server = self.servers.get(server_id)
        if server is None:
            return None
        found = False
        rules: list[dict[str, Any]] = []
        for fw in self.firewalls.values():
            for entry in fw["applied_to"]:
                direct = entry["type"] == "server" and entry["server"]["id"] == server_id
                selected = entry["type"] == "label_selector" and matches(entry["label_selector"]["selector"], server["labels"])
                if direct or selected:
                    found = True
                    rules += [dict(r) for r in fw["rules"]]
                    break
        return rules if found else None

    # -- machines ---------------------------------------------------------------------------------

    def node_spec(self, server: dict[str, Any]) -> NodeSpec:
        """What the simulated machine of this server knows about itself."""
        return NodeSpec(
            server_id=server["id"],
            name=server["name"],
            server_type=server["server_type"],
            image=server["image"],
            location=server["location"],
            public_ipv4=server.get("public_ipv4"),
            public_ipv6=server.get("public_ipv6"),
            private_ips={p["network"]: p["ip"] for p in server["private_net"]},
            user_data=server.get("user_data"),
            authorized_keys=list(server.get("authorized_keys", [])),
            labels=dict(server["labels"]),
            architecture=server.get("architecture", "x86"),
        )

    # -- persistence ------------------------------------------------------------------------------

    def export(self) -> dict[str, Any]:
        """The whole project as JSON-serialisable data."""
        return {
            "tables": {kind: list(table.values()) for kind, table in self.tables.items()},
            "next_ids": self._next_ids,
            "actions": self.actions.export(),
            "public_block": str(self.public.pool),
        }

    def restore(self, data: dict[str, Any]) -> None:
        """Load what `export` produced (addresses are marked used again)."""
        for kind, records in data.get("tables", {}).items():
            if kind in self.tables:
                self.tables[kind] = {int(r["id"]): r for r in records}
        self._next_ids.update({k: int(v) for k, v in data.get("next_ids", {}).items()})
        self.actions.restore(data.get("actions", {}))
        for record in [*self.servers.values(), *self.load_balancers.values()]:
            self.public.mark_used(record.get("public_ipv4"))
            self.public.mark_used(record.get("public_ipv6"))
        # Anything mid-transition when saved has finished by the time the project is loaded again.
        for server in self.servers.values():
            if server["status"] in ("initializing", "starting", "running"):
                server["status"] = "running"
            elif server["status"] in ("stopping", "off", "deleting"):
                server["status"] = "off"
        for lb in self.load_balancers.values():
            lb.pop("status", None)


CLOUD: web.AppKey[CloudStore] = web.AppKey("sim_cloud", CloudStore)
"""Where the aiohttp app keeps the simulated cloud's resources."""
