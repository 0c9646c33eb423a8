"""The seam inside the simulator between the Hetzner API emulator (`sim.api`) and the simulated
machines (`sim.nodes`, `sim.k3s`).

The API emulator owns the project's state (servers, networks, load balancers, ...). It tells the node
host when a server starts, stops, reboots, changes networks or is deleted, through `NodeHost`. The node
side asks the API side about the network (which server owns an address, where a load balancer sends
port 6443) through `CloudView`, always naming the asking server: private addresses resolve only
inside the networks it is attached to. Neither side imports the other's modules; `sim.simulator` wires them.
Nothing here, or anywhere in `sim`, imports `khz_tui.engine`: the engine reaches the simulator only
over HTTP and SSH.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass
class NodeSpec:
    """What a booting machine knows about itself: the server as the API created it."""

    server_id: int
    name: str
    server_type: str
    image: str
    location: str
    public_ipv4: str | None
    public_ipv6: str | None
    private_ips: dict[int, str]
    """Private network id -> this server's address in it."""
    user_data: str | None
    authorized_keys: list[str]
    """OpenSSH public keys of the SSH keys named at creation (root's authorized_keys)."""
    labels: dict[str, str] = field(default_factory=dict)
    architecture: str = "x86"


@dataclass
class NodeFaults:
    """Machine-side faults, decided deterministically from the simulator's seed."""

    never_reachable: list[str] = field(default_factory=list)
    """Server names (fnmatch patterns) whose SSH never comes up."""
    never_reachable_probability: float = 0.0
    reboot_during_install_probability: float = 0.0
    """Chance that a node reboots while the k3s installer runs (the command's connection drops)."""
    ssh_drop_probability: float = 0.0
    """Chance that an SSH session is dropped in the middle of a command."""


class NodeHost(Protocol):
    """Implemented by `sim.nodes`; called by the API emulator as server state changes."""

    async def boot(self, spec: NodeSpec, boot_seconds: float) -> None:
        """The server was created or powered on: become reachable over SSH after `boot_seconds`
        (already time-scaled), apply cloud-init on first boot."""

    async def power_off(self, server_id: int) -> None:
        """The server stopped: refuse SSH, drop open sessions, stop its k3s processes."""

    async def reboot(self, server_id: int, boot_seconds: float) -> None:
        """Drop sessions, come back after `boot_seconds`; files and k3s state survive."""

    async def networks_changed(self, server_id: int, private_ips: dict[int, str]) -> None:
        """The server was attached to or detached from a private network."""

    async def remove(self, server_id: int) -> None:
        """The server was deleted: its disk, SSH endpoint and k3s membership go away."""

    def ssh_target(self, server_id: int) -> tuple[str, int] | None:
        """Loopback host and port where this server's sshd listens, once it has one."""

    def listening(self, server_id: int, port: int) -> bool:
        """Whether a process on the server accepts TCP connections on `port` right now (a load
        balancer's health check asks this: k3s serves 6443 only while its server unit runs)."""

    def public_addresses_changed(self) -> None:
        """A public IPv4 was handed out or released: open or close load balancers' listeners."""

    def export_state(self) -> dict[str, Any]:
        """JSON-serialisable node and k3s state, for `sim serve --state FILE`."""

    async def import_state(self, state: dict[str, Any], specs: list[NodeSpec]) -> None:
        """Restore what `export_state` produced and boot the listed (running) servers."""

    async def close(self) -> None:
        """Stop every SSH endpoint."""


class CloudView(Protocol):
    """Implemented by the API emulator; queried by the simulated machines and k3s."""

    def server_at(self, address: str, from_server: int | None = None) -> int | None:
        """Id of the server that owns this public IPv4, or this private IPv4 in a network the asking
        server `from_server` is attached to. A simulated machine always passes its own id: private
        ranges overlap between networks, so a private address resolves only inside the caller's
        networks. None is the project's bookkeeping view (every address, for the API and tests)."""

    def server_network_ids(self, server_id: int) -> list[int]:
        """Private networks the server is attached to."""

    def load_balancer_backends(self, address: str, port: int, from_server: int | None = None) -> list[int] | None:
        """When `address` is a load balancer's public IP, or its private IP in a network `from_server`
        is attached to, with a TCP service listening on `port`: the ids of the servers among its
        targets (label selectors resolved; `use_private_ip` honoured). None when no load balancer
        owns that address and port as seen from there."""

    def load_balancer_addresses(self) -> list[str]:
        """Public IPv4 addresses of every load balancer."""

    def api_endpoint(self) -> str:
        """The API's own base URL (`http://127.0.0.1:PORT/v1`), where in-cluster controllers (the
        hcloud CCM, the CSI driver) send their requests; "" before the API listens."""

    def firewall_rules_for(self, server_id: int) -> list[dict[str, Any]] | None:
        """The rules of every Firewall applied to the server (directly or by label selector), in
        the API's wire format; None when no Firewall applies to it (nothing is filtered)."""
