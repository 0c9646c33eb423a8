"""One simulated server: its disk, network interfaces, services, cloud-init progress and sessions."""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field
from typing import Any

import asyncssh

from khz_tui.sim.contracts import NodeSpec
from khz_tui.sim.k3s.install import InstallRequest
from khz_tui.sim.nodes.filesystem import VirtualFilesystem

PUBLIC_IFACE = "eth0"
# Hetzner attaches private networks as PCI NICs in attach order: enp7s0, enp8s0, ...
PRIVATE_IFACE_FIRST_SLOT = 7


@dataclass
class CloudInitProgress:
    """Where cloud-init is on this machine: not started, running, done, degraded or error."""

    status: str = "not started"
    errors: list[str] = field(default_factory=list)
    recoverable: list[str] = field(default_factory=list)
    finished: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def exit_code(self) -> int:
        """Exit code of `cloud-init status`: 1 on error, 2 when degraded, else 0."""
        return {"error": 1, "degraded": 2}.get(self.status, 0)


class Machine:
    """The state of one node. Commands, cloud-init and k3s read and change it; `SimNodes` drives it."""

    def __init__(self, spec: NodeSpec, *, seed: int, time_scale: float,
                 fs: VirtualFilesystem | None = None) -> None:
        self.spec = spec
        self.fs = fs or VirtualFilesystem()
        self.seed = seed
        self.time_scale = time_scale
        self.state = "off"
        """off, booting or running."""
        self.cloud_init = CloudInitProgress()
        self.first_boot_done = False
        self.boot_seconds = 0.0
        self.services: dict[str, str] = {}
        """systemd unit -> active state (active, activating, inactive, failed)."""
        self.enabled: set[str] = set()
        self.connections: set[asyncssh.SSHServerConnection] = set()
        self.tasks: set[asyncio.Task[Any]] = set()
        """Running sessions and background jobs; cancelled when the machine stops."""
        self.commands_run = 0
        self.installs_started = 0
        self.sshd_port_setting = 22
        self.k3s_request: InstallRequest | None = None
        """The installer request k3s runs with (None when k3s is not installed)."""
        self.k3s_flannel_iface: str | None = None
        self.k3s_node_ips: list[str] = []
        self.host: Any = None
        """The `SimNodes` that runs this machine (for reboots a command triggers)."""

    @property
    def name(self) -> str:
        """Server name (also the hostname)."""
        return self.spec.name

    @property
    def server_id(self) -> int:
        """Hetzner server id."""
        return self.spec.server_id

    def interfaces(self) -> dict[str, str]:
        """Interface name -> IPv4 address, public NIC first."""
        ifaces: dict[str, str] = {}
        if self.spec.public_ipv4:
            ifaces[PUBLIC_IFACE] = self.spec.public_ipv4
        for slot, net in enumerate(sorted(self.spec.private_ips)):
            ifaces[f"enp{PRIVATE_IFACE_FIRST_SLOT + slot}s0"] = self.spec.private_ips[net]
        return ifaces

    def addresses(self) -> list[str]:
        """Every IPv4 address the machine owns."""
        return list(self.interfaces().values())

    def rng(self, *purpose: object) -> random.Random:
        """A random source fixed by the seed, the server name and the purpose (faults stay
        reproducible whatever order servers are created in)."""
        return random.Random(f"{self.seed}:{self.spec.name}:" + ":".join(map(str, purpose)))

    def generate_host_key(self) -> None:
        """Give the machine its own ed25519 host key, as the image's first boot would."""
        key = asyncssh.generate_private_key("ssh-ed25519")
        self.fs.write("/etc/ssh/ssh_host_ed25519_key", key.export_private_key("openssh"), mode=0o600)
        self.fs.write("/etc/ssh/ssh_host_ed25519_key.pub", key.export_public_key("openssh"))

    def host_keys(self) -> list[asyncssh.SSHKey]:
        """Private host keys sshd presents (every /etc/ssh/ssh_host_*_key)."""
        keys = []
        for name in self.fs.listdir("/etc/ssh"):
            if name.startswith("ssh_host_") and name.endswith("_key"):
                try:
                    keys.append(asyncssh.import_private_key(self.fs.read(f"/etc/ssh/{name}")))
                except (asyncssh.KeyImportError, ValueError):
                    continue
        return keys

    def authorized(self, username: str, key: asyncssh.SSHKey) -> bool:
        """Whether `key` is in the user's authorized_keys on disk (read at every login, like sshd)."""
        home = "/root" if username == "root" else f"/home/{username}"
        path = f"{home}/.ssh/authorized_keys"
        if not self.fs.is_file(path):
            return False
        wanted = key.public_data
        for line in self.fs.read_text(path).splitlines():
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            try:
                if asyncssh.import_public_key(line).public_data == wanted:
                    return True
            except (asyncssh.KeyImportError, ValueError):
                continue
        return False

    def spawn(self, coro: Any) -> asyncio.Task[Any]:
        """Run a job that dies when the machine stops."""
        task = asyncio.get_running_loop().create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    def stop_everything(self) -> None:
        """Drop SSH connections and cancel jobs (power off, reboot, delete)."""
        for conn in list(self.connections):
            conn.abort()
        self.connections.clear()
        current = asyncio.current_task()
        for task in list(self.tasks):
            if task is not current:
                task.cancel()
