"""A small in-test CloudView and helpers to boot simulated nodes and reach them with real asyncssh."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field

import asyncssh
import pytest
import yaml

from khz_tui.sim.contracts import NodeFaults, NodeSpec
from khz_tui.sim.inspection import MachineInspection
from khz_tui.sim.nodes.host import SimNodes

TIME_SCALE = 0.01


@dataclass
class FakeCloud:
    """Servers with addresses in networks, and load balancers forwarding port 6443."""

    addresses: dict[str, int] = field(default_factory=dict)
    networks: dict[int, list[int]] = field(default_factory=dict)
    load_balancers: dict[str, list[int]] = field(default_factory=dict)

    def add(self, spec: NodeSpec) -> None:
        if spec.public_ipv4:
            self.addresses[spec.public_ipv4] = spec.server_id
        for net, ip in spec.private_ips.items():
            self.addresses[ip] = spec.server_id
            self.networks.setdefault(net, []).append(spec.server_id)

    def server_at(self, address: str, from_server: int | None = None) -> int | None:
        owner = self.addresses.get(address)
        if owner is None or from_server is None or address.startswith("203.0.113."):
            return owner
        # A private address answers only inside a network the asking server shares with its owner.
        shared = set(self.server_network_ids(owner)) & set(self.server_network_ids(from_server))
        return owner if shared else None

    def server_network_ids(self, server_id: int) -> list[int]:
        return [n for n, ids in self.networks.items() if server_id in ids]

    def load_balancer_backends(self, address: str, port: int, from_server: int | None = None) -> list[int] | None:
        if port != 6443:
            return None
        return self.load_balancers.get(address)

    def load_balancer_addresses(self) -> list[str]:
        return []


@dataclass
class Keys:
    """The operator's login key and one host key per node, generated once per test."""

    client: asyncssh.SSHKey
    other: asyncssh.SSHKey


@pytest.fixture(scope="session")
def keys() -> Keys:
    return Keys(client=asyncssh.generate_private_key("ssh-ed25519"),
                other=asyncssh.generate_private_key("ssh-ed25519"))


def cloud_config(host_key: asyncssh.SSHKey | None = None, **extra: object) -> str:
    """A `#cloud-config` with the given host key and extra top-level keys."""
    config: dict[str, object] = {}
    if host_key is not None:
        config["ssh_keys"] = {
            "ed25519_private": host_key.export_private_key("openssh").decode(),
            "ed25519_public": host_key.export_public_key("openssh").decode().strip(),
        }
    config.update(extra)
    return "#cloud-config\n" + yaml.safe_dump(config, sort_keys=False)


class World:
    """A FakeCloud plus SimNodes (read through `inspect`), and a way to create servers and connect to them."""

    def __init__(self, keys: Keys, faults: NodeFaults | None = None, seed: int = 7) -> None:
        self.cloud = FakeCloud()
        self.nodes = SimNodes(self.cloud, time_scale=TIME_SCALE, seed=seed, faults=faults or NodeFaults())
        self.keys = keys
        self.host_keys: dict[int, asyncssh.SSHKey] = {}
        self._next_id = 1

    @property
    def inspect(self) -> MachineInspection:
        """Read-only queries over `nodes` (which a test may replace); they run on the test's own loop."""
        return MachineInspection(self.nodes, lambda: None)

    async def create(self, name: str, *, user_data: str | None = None, pin: bool = True,
                     private_ip: str | None = None, network: int = 1, boot_seconds: float = 0.05,
                     public_ip: str | None = None) -> NodeSpec:
        sid = self._next_id
        self._next_id += 1
        host_key = asyncssh.generate_private_key("ssh-ed25519")
        self.host_keys[sid] = host_key
        if user_data is None:
            user_data = cloud_config(host_key if pin else None)
        spec = NodeSpec(server_id=sid, name=name, server_type="cx22", image="ubuntu-24.04",
                        location="fsn1", public_ipv4=public_ip or f"203.0.113.{sid}", public_ipv6=None,
                        private_ips={network: private_ip or f"10.0.0.{sid + 1}"}, user_data=user_data,
                        authorized_keys=[self.keys.client.export_public_key("openssh").decode().strip()])
        self.cloud.add(spec)
        await self.nodes.boot(spec, boot_seconds)
        return spec

    async def connect(self, sid: int, *, host_key: asyncssh.SSHKey | None = None,
                      client_key: asyncssh.SSHKey | None = None, attempts: int = 100,
                      username: str = "root") -> asyncssh.SSHClientConnection:
        """Connect with a pinned host key, retrying refusals for a bounded number of attempts."""
        import asyncio

        pinned = (host_key or self.host_keys[sid]).convert_to_public()
        last: Exception | None = None
        for _ in range(attempts):
            target = self.inspect.ssh_target(sid)  # re-read: sshd may have moved to a new port
            assert target is not None
            try:
                return await asyncssh.connect(
                    target[0], target[1], username=username, known_hosts=([pinned], [], []),
                    client_keys=[client_key or self.keys.client], config=[], agent_path=None,
                    connect_timeout=5)
            except (ConnectionRefusedError, OSError) as exc:
                last = exc
                await asyncio.sleep(0.02)
        raise AssertionError(f"sshd never answered: {last}")


@pytest.fixture
async def world(keys: Keys):
    w = World(keys)
    yield w
    await w.nodes.close()


def dedent(text: str) -> str:
    return textwrap.dedent(text).lstrip()


@pytest.fixture
def make_config():
    """`cloud_config(host_key, **extra)` for tests that build their own user_data."""
    return cloud_config


@pytest.fixture
def make_world(keys: Keys):
    """Build extra worlds (custom faults or seeds); all are closed after the test."""
    made: list[World] = []

    def build(faults: NodeFaults | None = None, seed: int = 7) -> World:
        w = World(keys, faults, seed)
        made.append(w)
        return w

    yield build
    # Closing is async; pytest-asyncio runs sync fixture teardown outside the loop, so tests using
    # make_world close their worlds themselves through `close_all`.
    build.made = made  # type: ignore[attr-defined]
