"""Debian packages on a simulated node: what the image lacks, and what installing one changes.

The simulated ubuntu-24.04 image is taken to be minimal: none of Longhorn's host prerequisites
(`open-iscsi`, `nfs-common`) are installed, so a cluster that needs them must install them through
cloud-init's `packages:` (a node has no `apt-get` command). Installing `open-iscsi` puts `iscsiadm`/`iscsid` in /usr/sbin
and ships the `iscsid` unit, which stays inactive until started (Ubuntu activates it through
`iscsid.socket` on demand; Longhorn's documentation asks for `systemctl enable --now iscsid`). Any
other well-formed package name installs without effect; a malformed one is apt's "Unable to locate".
"""

from __future__ import annotations

import re

from khz_tui.sim.nodes.machine import Machine

PACKAGE_FILES: dict[str, tuple[str, ...]] = {
    "open-iscsi": ("/usr/sbin/iscsiadm", "/usr/sbin/iscsid", "/usr/lib/systemd/system/iscsid.service",
                   "/usr/lib/systemd/system/iscsid.socket", "/usr/lib/systemd/system/open-iscsi.service"),
    "nfs-common": ("/usr/sbin/mount.nfs", "/usr/sbin/mount.nfs4"),
    "multipath-tools": ("/usr/sbin/multipathd", "/usr/lib/systemd/system/multipathd.service"),
    "cryptsetup": ("/usr/sbin/cryptsetup",),
}
UNIT_DIR = "/usr/lib/systemd/system"
_NAME = re.compile(r"^[a-z0-9][a-z0-9+.-]+$")
STATUS = "/var/lib/dpkg/status"


def installed(machine: Machine) -> set[str]:
    """Names of the packages installed on the machine (beyond the image's own)."""
    if not machine.fs.is_file(STATUS):
        return set()
    return {line.split(":", 1)[1].strip() for line in machine.fs.read_text(STATUS).splitlines()
            if line.startswith("Package:")}


def install(machine: Machine, names: list[str]) -> str | None:
    """Install packages; returns apt's error for the first unknown name (nothing installed then)."""
    for name in names:
        if not _NAME.match(name):
            return f"E: Unable to locate package {name}"
    have = installed(machine)
    for name in names:
        for path in PACKAGE_FILES.get(name, ()):
            machine.fs.mkdir(path.rsplit("/", 1)[0], parents=True)
            machine.fs.write(path, f"{name}\n".encode(), mode=0o755)
        if name not in have:
            machine.fs.mkdir("/var/lib/dpkg", parents=True)
            machine.fs.write(STATUS, f"Package: {name}\nStatus: install ok installed\n\n".encode(), append=True)
            have.add(name)
    return None


def unit_exists(machine: Machine, unit: str) -> bool:
    """Whether a package shipped this systemd unit (socket units included)."""
    name = unit if "." in unit else f"{unit}.service"
    return machine.fs.is_file(f"{UNIT_DIR}/{name}")
