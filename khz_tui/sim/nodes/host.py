"""`SimNodes`: every simulated server's sshd, boot sequence and faults (implements `NodeHost`).

Each server gets one loopback port for its whole life. While the server is off or booting the port
is bound but not listening, so a connection is refused exactly as on a machine whose sshd is not up;
once boot time has passed and cloud-init's init stage has written host and authorized keys, sshd
listens on that port. `ssh_target()` returns the port as soon as the server exists.
"""

from __future__ import annotations

import asyncio
import fnmatch
import logging
import re
import socket
from typing import Any

import asyncssh

from khz_tui.sim.contracts import CloudView, NodeFaults, NodeSpec
from khz_tui.sim.k3s.service import K3sService
from khz_tui.sim.nodes import cloud_init, packages
from khz_tui.sim.nodes.commands import BASIC_COMMANDS, command_name
from khz_tui.sim.nodes.filesystem import VirtualFilesystem
from khz_tui.sim.nodes.k3s_commands import K3S_COMMANDS, run_installer
from khz_tui.sim.nodes.machine import Machine
from khz_tui.sim.nodes.shell import BufferOutput, Command, Input, NullOutput, Shell
from khz_tui.sim.nodes.sshd import start_sshd

log = logging.getLogger(__name__)

DROP_WINDOW = 0.5
"""A dropped session is cut within this many simulated seconds of the command starting."""

_DEFAULT_SSHD_CONFIG = b"Include /etc/ssh/sshd_config.d/*.conf\nPermitRootLogin prohibit-password\n"


def _reserve(port: int = 0) -> socket.socket:
    """A socket bound to 127.0.0.1 but not listening: connections to it are refused."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(("127.0.0.1", port))
    except OSError:
        sock.close()
        raise
    return sock


class _Endpoint:
    """The loopback port of one server and, while sshd runs, its listener."""

    def __init__(self) -> None:
        self.sock: socket.socket | None = _reserve()
        self.port: int = self.sock.getsockname()[1]
        self.acceptor: asyncssh.SSHAcceptor | None = None

    async def stop(self) -> None:
        if self.acceptor is not None:
            self.acceptor.close()
            await self.acceptor.wait_closed()
            self.acceptor = None
            try:
                self.sock = _reserve(self.port)
            except OSError:
                # Someone took the port while it was free: move to a new one (ssh_target follows).
                self.sock = _reserve()
                self.port = self.sock.getsockname()[1]

    def move(self) -> None:
        """Take a fresh port (sshd was configured to listen elsewhere)."""
        if self.sock is not None:
            self.sock.close()
        self.sock = _reserve()
        self.port = self.sock.getsockname()[1]

    def close(self) -> None:
        if self.sock is not None and self.acceptor is None:
            self.sock.close()
        self.sock = None


class SimNodes:
    """The simulated machines of one simulated project."""

    def __init__(self, cloud: CloudView, *, time_scale: float, seed: int,
                 faults: NodeFaults | None = None) -> None:
        self.cloud = cloud
        self.time_scale = time_scale
        self.seed = seed
        self.faults = faults or NodeFaults()
        self.machines: dict[int, Machine] = {}
        self._endpoints: dict[int, _Endpoint] = {}
        self.k3s = K3sService(cloud, self.machines, time_scale=time_scale, seed=seed)

    # --- inspection (tests read it through `Simulator.inspect`) --------------------------------

    def host_public_key(self, server_id: int) -> asyncssh.SSHKey | None:
        """The ed25519 host key sshd presents (None before cloud-init's init stage)."""
        keys = self.machines[server_id].host_keys()
        return keys[0].convert_to_public() if keys else None

    # --- changes for tests ------------------------------------------------------------------

    def publish_release(self, channel: str, version: str) -> None:
        """An update channel moves on (stable does at every k3s release): installs that name it get `version`."""
        self.k3s.channels[channel] = version

    def replace_host_key(self, server_id: int) -> None:
        """The machine gets an ed25519 host key of its own, as a replaced or impersonated server would
        present: its sshd uses it from its next start (reboot the server through the API)."""
        self.machines[server_id].generate_host_key()

    # --- NodeHost ---------------------------------------------------------------------------

    def ssh_target(self, server_id: int) -> tuple[str, int] | None:
        """Loopback host and port of the server's sshd (refusing until it has booted)."""
        endpoint = self._endpoints.get(server_id)
        return ("127.0.0.1", endpoint.port) if endpoint else None

    def listening(self, server_id: int, port: int) -> bool:
        """sshd on 22 once booted; the k3s API on 6443 while a server unit (not an agent) is active."""
        machine = self.machines.get(server_id)
        if machine is None or machine.state != "running":
            return False
        if port == 22:
            return True
        if port == 6443:
            return machine.services.get("k3s") == "active"
        return False

    def public_addresses_changed(self) -> None:
        """Load balancers came or went: their 6443 listeners follow."""
        self.k3s.apis.load_balancers_changed()

    async def boot(self, spec: NodeSpec, boot_seconds: float) -> None:
        """Power on: sshd answers after `boot_seconds`; cloud-init runs on the first boot."""
        machine = self.machines.get(spec.server_id)
        if machine is None:
            machine = Machine(spec, seed=self.seed, time_scale=self.time_scale)
            machine.generate_host_key()  # the image's own key, replaced by cloud-init's ssh_keys
            machine.fs.write("/etc/ssh/sshd_config", _DEFAULT_SSHD_CONFIG)
            self.machines[spec.server_id] = machine
        else:
            machine.spec = spec
        machine.host = self
        if spec.server_id not in self._endpoints:
            self._endpoints[spec.server_id] = _Endpoint()
        if machine.state != "off":
            return
        machine.state = "booting"
        machine.boot_seconds = boot_seconds
        machine.spawn(self._come_up(machine, boot_seconds))

    async def power_off(self, server_id: int) -> None:
        """Stop: sessions drop, sshd refuses, k3s stops."""
        machine = self.machines.get(server_id)
        if machine is None:
            return
        await self._stop(machine)

    async def reboot(self, server_id: int, boot_seconds: float) -> None:
        """Restart: sessions drop; files and k3s state survive; enabled services start again."""
        machine = self.machines.get(server_id)
        if machine is None:
            return
        await self._stop(machine)
        await self.boot(machine.spec, boot_seconds)

    async def networks_changed(self, server_id: int, private_ips: dict[int, str]) -> None:
        """Private NICs follow the server's networks."""
        machine = self.machines.get(server_id)
        if machine is not None:
            machine.spec.private_ips = dict(private_ips)
            self.k3s.addresses_changed(machine)

    async def remove(self, server_id: int) -> None:
        """The server was deleted: its disk and endpoint go; its k3s processes stop."""
        machine = self.machines.pop(server_id, None)
        if machine is not None:
            await self._stop(machine)
            self.k3s.machine_removed(machine)
        endpoint = self._endpoints.pop(server_id, None)
        if endpoint is not None:
            await endpoint.stop()
            endpoint.close()

    def export_state(self) -> dict[str, Any]:
        """Disks (with host keys and k3s files), service states and clusters, JSON-serialisable."""
        return {
            "machines": {
                str(sid): {
                    "fs": m.fs.export(), "first_boot_done": m.first_boot_done,
                    "enabled": sorted(m.enabled),
                    "cloud_init": {"status": m.cloud_init.status, "errors": m.cloud_init.errors,
                                   "recoverable": m.cloud_init.recoverable},
                    "installs_started": m.installs_started,
                }
                for sid, m in self.machines.items()
            },
            "k3s": self.k3s.export_state(),
        }

    async def import_state(self, state: dict[str, Any], specs: list[NodeSpec]) -> None:
        """Restore `export_state()` output and boot the given (running) servers without cloud-init."""
        for sid, saved in state.get("machines", {}).items():
            spec = next((s for s in specs if s.server_id == int(sid)), None)
            if spec is None:
                continue
            machine = Machine(spec, seed=self.seed, time_scale=self.time_scale,
                              fs=VirtualFilesystem.restore(saved["fs"]))
            machine.first_boot_done = bool(saved.get("first_boot_done"))
            machine.enabled = set(saved.get("enabled", []))
            ci = saved.get("cloud_init", {})
            machine.cloud_init.status = ci.get("status", "done")
            machine.cloud_init.errors = list(ci.get("errors", []))
            machine.cloud_init.recoverable = list(ci.get("recoverable", []))
            if machine.first_boot_done:
                machine.cloud_init.finished.set()
            machine.installs_started = int(saved.get("installs_started", 0))
            machine.host = self
            self.machines[spec.server_id] = machine
        self.k3s.import_state(state.get("k3s", {}))
        for spec in specs:
            await self.boot(spec, 0.0)
        self.public_addresses_changed()

    async def close(self) -> None:
        """Stop every sshd and job."""
        for machine in list(self.machines.values()):
            await self._stop(machine)
        for endpoint in self._endpoints.values():
            endpoint.close()
        self._endpoints.clear()
        await self.k3s.close()

    # --- machinery --------------------------------------------------------------------------

    def lookup(self, word: str, machine: Machine) -> Command | None:
        """The accepted command a word names on this machine (k3s tools only once installed)."""
        name = command_name(word)
        if name is None:
            return None
        if name in BASIC_COMMANDS:
            return BASIC_COMMANDS[name]
        entry = K3S_COMMANDS.get(name)
        if entry is None:
            return None
        command, needs_file = entry
        if needs_file and not machine.fs.is_file(needs_file):
            return None
        return command

    installer = staticmethod(run_installer)
    """What `sh` runs when fed the script from get.k3s.io."""

    def never_reachable(self, machine: Machine) -> bool:
        """Whether the node-unreachable fault holds this server (by name or seeded chance)."""
        if any(fnmatch.fnmatchcase(machine.name, p) for p in self.faults.never_reachable):
            return True
        p = self.faults.never_reachable_probability
        return p > 0 and machine.rng("never-reachable").random() < p

    def drop_delay(self, machine: Machine) -> float | None:
        """Seconds after which this command's session is cut, or None (decided by the seed and the
        machine's command count)."""
        p = self.faults.ssh_drop_probability
        if p <= 0:
            return None
        rng = machine.rng("ssh-drop", machine.commands_run)
        if rng.random() >= p:
            return None
        return rng.uniform(0.0, DROP_WINDOW) * self.time_scale

    def reboot_during_install(self, machine: Machine) -> bool:
        """Whether this installer run is interrupted by a reboot (seeded per attempt)."""
        p = self.faults.reboot_during_install_probability
        return p > 0 and machine.rng("install-reboot", machine.installs_started).random() < p

    def reboot_from_inside(self, machine: Machine) -> None:
        """The machine reboots by itself (installer fault): same as an API reboot."""
        asyncio.get_running_loop().create_task(self.reboot(machine.server_id, machine.boot_seconds))

    async def _stop(self, machine: Machine) -> None:
        machine.stop_everything()
        machine.state = "off"
        for unit in list(machine.services):
            if packages.unit_exists(machine, unit):
                machine.services[unit] = "inactive"
        self.k3s.machine_stopped(machine)
        endpoint = self._endpoints.get(machine.server_id)
        if endpoint is not None:
            await endpoint.stop()

    async def _come_up(self, machine: Machine, boot_seconds: float) -> None:
        await asyncio.sleep(boot_seconds)
        endpoint = self._endpoints.get(machine.server_id)
        if endpoint is None:
            return
        parsed = None
        if not machine.first_boot_done:
            parsed = cloud_init.parse_user_data(machine.spec.user_data)
            machine.cloud_init.status = "running"
            machine.cloud_init.errors = list(parsed.errors)
            machine.cloud_init.recoverable = list(parsed.warnings)
            # Broken user_data still gets the metadata's SSH keys, as cloud-init's ssh module
            # reads those from the datasource, not from user_data.
            usable = parsed if not parsed.errors else cloud_init.CloudConfig()
            machine.cloud_init.errors += cloud_init.apply_init_stage(machine, usable)
        port_setting = self._sshd_port(machine)
        if port_setting != machine.sshd_port_setting:
            machine.sshd_port_setting = port_setting
            endpoint.move()
        machine.state = "running"
        for unit in sorted(machine.enabled):  # systemd starts enabled units at boot
            if packages.unit_exists(machine, unit):
                machine.services[unit] = "active"
        self.k3s.machine_started(machine)
        if self.never_reachable(machine):
            log.info("%s: sshd never comes up (fault)", machine.name)
        else:
            sock, endpoint.sock = endpoint.sock, None
            endpoint.acceptor = await start_sshd(machine, sock, self.lookup)  # type: ignore[arg-type]
        if parsed is not None:
            await self._final_stage(machine, parsed)

    def _sshd_port(self, machine: Machine) -> int:
        """The `Port` sshd would use, from sshd_config and sshd_config.d/*.conf (first one wins)."""
        fs = machine.fs
        paths = [f"/etc/ssh/sshd_config.d/{n}" for n in fs.listdir("/etc/ssh/sshd_config.d")
                 if n.endswith(".conf")] + ["/etc/ssh/sshd_config"]
        for path in paths:
            if fs.is_file(path):
                m = re.search(r"^\s*Port\s+(\d+)\s*$", fs.read_text(path), re.MULTILINE | re.IGNORECASE)
                if m:
                    return int(m.group(1))
        return 22

    async def _final_stage(self, machine: Machine, parsed: cloud_init.CloudConfig) -> None:
        progress = machine.cloud_init
        if not progress.errors:
            # cc_package_update_upgrade_install runs before scripts_user (runcmd) in the final stage.
            wanted = cloud_init.package_names(parsed.config)
            if wanted:
                error = packages.install(machine, wanted)
                if error:
                    progress.errors.append(f"package_update_upgrade_install: {error}")
            script = parsed.script or cloud_init.runcmd_script(parsed.config)
            if script.strip():
                err = BufferOutput()
                status = await Shell(machine, self.lookup).run(script, Input(b""), NullOutput(), err)
                if status != 0:
                    tail = bytes(err.data).decode("utf-8", "replace").strip().splitlines()[-1:]
                    progress.errors.append(f"runcmd failed with exit code {status}"
                                           + (f": {tail[0]}" if tail else ""))
        progress.status = "error" if progress.errors else "degraded" if progress.recoverable else "done"
        machine.fs.mkdir("/var/lib/cloud/instance", parents=True)
        machine.fs.write("/var/lib/cloud/instance/boot-finished",
                         f"{machine.boot_seconds:.2f} - simulated - v. {cloud_init.CLOUD_INIT_VERSION}\n"
                         .encode())
        machine.first_boot_done = True
        progress.finished.set()
