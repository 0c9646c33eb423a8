"""The k3s-facing commands of a node: the get.k3s.io installer (run by `sh`), `k3s`, `kubectl`,
`systemctl` and the scripts the installer leaves behind. They exist only once installed, except
`systemctl`, which every node has."""

from __future__ import annotations

from khz_tui.sim.k3s.install import InstallError, build_request
from khz_tui.sim.k3s.kubectl import Kubectl
from khz_tui.sim.k3s.service import CONFIG_PATH, KUBECONFIG_PATH, UNIT_FAILED
from khz_tui.sim.nodes import packages
from khz_tui.sim.nodes.filesystem import FsError
from khz_tui.sim.nodes.shell import Command, Invocation

_REFUSED_LOCAL = ("E0101 00:00:00.000000 memcache.go:265] couldn't get current server API group list: "
                  "Get \"http://localhost:8080/api?timeout=32s\": dial tcp 127.0.0.1:8080: connect: "
                  "connection refused\nThe connection to the server localhost:8080 was refused - did you "
                  "specify the right host or port?\n")
_REFUSED_API = "The connection to the server 127.0.0.1:6443 was refused - did you specify the right host or port?\n"


async def run_installer(inv: Invocation, args: list[str]) -> int:
    """The official installer, interpreted: env (INSTALL_K3S_*, K3S_*), flags and config.yaml."""
    machine = inv.node
    fs = machine.fs
    try:
        request = build_request(inv.env, args, fs.read_text(CONFIG_PATH) if fs.is_file(CONFIG_PATH) else None,
                                machine.host.k3s.channels)
    except InstallError as exc:
        text = str(exc)
        if text.startswith("[ERROR]"):
            await inv.err(text + "\n")
        else:
            # Flags and config are read by k3s itself, after the unit was written: the unit fails.
            unit = "k3s-agent" if inv.env.get("K3S_URL") else "k3s"
            await inv.err(UNIT_FAILED.format(unit=unit))
        return 1
    reboot = machine.host.reboot_during_install(machine)
    machine.installs_started += 1
    status: int = await machine.host.k3s.install(machine, request, inv.out, inv.err, reboot_midway=reboot)
    return status


async def cmd_k3s(inv: Invocation) -> int:
    """`k3s --version`, `k3s kubectl ...`."""
    args = inv.argv[1:]
    if args in (["--version"], ["-v"], ["version"]):
        version = inv.node.fs.read_text("/usr/local/bin/k3s").split()[-1]
        await inv.out(f"k3s version {version} (5b2ab1b5)\ngo version go1.24.9\n")
        return 0
    if args and args[0] == "kubectl":
        return await _kubectl(inv, args[1:])
    await inv.err(f"Incorrect Usage: simulated k3s supports --version and kubectl, not {args[:1]}\n")
    return 1


async def cmd_kubectl(inv: Invocation) -> int:
    """`kubectl ...` (the installer's symlink to k3s)."""
    return await _kubectl(inv, inv.argv[1:])


async def _kubectl(inv: Invocation, args: list[str]) -> int:
    machine = inv.node
    kubeconfig = inv.env.get("KUBECONFIG", KUBECONFIG_PATH)
    if "--kubeconfig" in args:
        i = args.index("--kubeconfig")
        kubeconfig = args[i + 1] if i + 1 < len(args) else ""
    if not machine.fs.is_file(kubeconfig):
        await inv.err(_REFUSED_LOCAL)
        return 1
    service = machine.host.k3s
    cluster = service.cluster_of(machine.server_id)
    node = cluster.node_for(machine.server_id) if cluster else None
    if cluster is None or node is None or node.role != "server" or machine.services.get("k3s") != "active":
        await inv.err(_REFUSED_API)
        return 1

    def read_file(path: str) -> bytes:
        try:
            return machine.fs.read(path)
        except FsError as exc:
            raise _FileMissing(path, exc.reason) from None

    kubectl = Kubectl(cluster, inv.stdin.read, read_file, machine.time_scale, service.delete_node,
                      network=service.pod_network(cluster))
    try:
        result = await kubectl.run(args)
    except _FileMissing as exc:
        await inv.err(f"error: the path \"{exc.args[0]}\" does not exist\n")
        return 1
    await inv.out(result.out)
    await inv.err(result.err)
    return result.code


class _FileMissing(Exception):
    pass


async def cmd_systemctl(inv: Invocation) -> int:
    """`systemctl is-active|is-enabled|start|restart|stop|enable|disable|daemon-reload [UNIT...]`."""
    machine = inv.node
    args = [a for a in inv.argv[1:] if a not in ("--quiet", "-q", "--now", "--no-pager")]
    quiet = "--quiet" in inv.argv or "-q" in inv.argv
    if not args:
        await inv.err("systemctl: supported: is-active, is-enabled, start, restart, stop, daemon-reload\n")
        return 1
    verb, units = args[0], [u.removesuffix(".service") for u in args[1:]]
    if verb == "daemon-reload":
        return 0
    if units and all(packages.unit_exists(machine, u) for u in units):
        return await _package_units(inv, verb, units, now="--now" in inv.argv, quiet=quiet)
    if verb == "is-active":
        states = [("active" if u in ("ssh", "sshd") else machine.services.get(u, "inactive")) for u in units]
        if not quiet:
            await inv.out("".join(s + "\n" for s in states))
        return 0 if states and all(s == "active" for s in states) else 3
    if verb == "is-enabled":
        states = ["enabled" if u in machine.enabled or u in ("ssh", "sshd") else "disabled" for u in units]
        if not quiet:
            await inv.out("".join(s + "\n" for s in states))
        return 0 if states and all(s == "enabled" for s in states) else 1
    service = machine.host.k3s
    for unit in units:
        if unit not in ("k3s", "k3s-agent") or not machine.fs.is_file(f"/etc/systemd/system/{unit}.service"):
            await inv.err(f"Failed to {verb} {unit}.service: Unit {unit}.service not found.\n")
            return 5
        if verb in ("enable", "disable"):
            (machine.enabled.add if verb == "enable" else machine.enabled.discard)(unit)
        elif verb == "stop":
            service.stop_unit(machine)
        elif verb in ("start", "restart"):
            if verb == "start" and machine.services.get(unit) == "active":
                continue
            start = service.restart(machine, unit)
            if start is None:
                await inv.err(f"Failed to {verb} {unit}.service: Unit {unit}.service not found.\n")
                return 5
            try:
                await start
            except Exception:  # noqa: BLE001 - K3sFailed; the unit state records it
                machine.services[unit] = "failed"
                await inv.err(UNIT_FAILED.format(unit=unit))
                return 1
        else:
            await inv.err(f"systemctl: unsupported verb {verb}\n")
            return 1
    return 0


async def _package_units(inv: Invocation, verb: str, units: list[str], *, now: bool, quiet: bool) -> int:
    """Units a package installed (iscsid, multipathd, ...): they only start, stop and get enabled;
    `enable --now` / `disable --now` also start / stop them, as systemctl does."""
    machine = inv.node
    for unit in units:
        if verb == "is-active":
            state = machine.services.get(unit, "inactive")
            if not quiet:
                await inv.out(state + "\n")
            if state != "active":
                return 3
        elif verb == "is-enabled":
            state = "enabled" if unit in machine.enabled else "disabled"
            if not quiet:
                await inv.out(state + "\n")
            if state != "enabled":
                return 1
        elif verb in ("enable", "disable"):
            (machine.enabled.add if verb == "enable" else machine.enabled.discard)(unit)
            if now:
                machine.services[unit] = "active" if verb == "enable" else "inactive"
        elif verb in ("start", "restart"):
            machine.services[unit] = "active"
        elif verb == "stop":
            machine.services[unit] = "inactive"
        else:
            await inv.err(f"systemctl: unsupported verb {verb}\n")
            return 1
    return 0


async def cmd_killall(inv: Invocation) -> int:
    """`k3s-killall.sh`: stop every k3s process (the install stays)."""
    inv.node.host.k3s.stop_unit(inv.node)
    return 0


async def cmd_uninstall(inv: Invocation) -> int:
    """`k3s-uninstall.sh` / `k3s-agent-uninstall.sh`: remove k3s and its data from this node."""
    inv.node.host.k3s.uninstall(inv.node)
    return 0


K3S_COMMANDS: dict[str, tuple[Command, str | None]] = {
    "k3s": (cmd_k3s, "/usr/local/bin/k3s"),
    "kubectl": (cmd_kubectl, "/usr/local/bin/kubectl"),
    "k3s-killall.sh": (cmd_killall, "/usr/local/bin/k3s-killall.sh"),
    "k3s-uninstall.sh": (cmd_uninstall, "/usr/local/bin/k3s-uninstall.sh"),
    "k3s-agent-uninstall.sh": (cmd_uninstall, "/usr/local/bin/k3s-agent-uninstall.sh"),
    "systemctl": (cmd_systemctl, None),
}
"""name -> (command, file that must exist for the command to be found)."""
