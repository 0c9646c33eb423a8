"""The cloud-init user data each server boots with.

Its one essential job: install the SSH host key khz-tui generated for this node, so the very first
SSH connection is verified against a pinned key instead of trusting whatever answers. Everything else
(k3s config, installer) happens over that verified SSH session, where every step is visible. The
exceptions are host packages an add-on needs before it starts (Longhorn's iSCSI and NFS clients):
packages are cloud-init's job, and a node is then ready when cloud-init says it is done.
"""

from __future__ import annotations

from typing import Any

import yaml

from khz_tui.engine.cluster_files import HostKey
from khz_tui.plan.model import ClusterPlan

#: Hetzner refuses user_data larger than this.
USER_DATA_LIMIT = 32 * 1024
SSHD_PORT_FILE = "/etc/ssh/sshd_config.d/10-khz-tui-port.conf"
#: multipath-tools reads every *.conf here after /etc/multipath.conf (multipath.conf(5), config_dir),
#: so the image's own file stays untouched.
MULTIPATH_CONF_FILE = "/etc/multipath/conf.d/99-khz-tui-longhorn.conf"
#: Longhorn's knowledge base, "Troubleshooting: MountVolume.SetUp failed for volume due to multipathd
#: on the node" (longhorn.io/kb/troubleshooting-volume-with-multipath): multipathd claims the
#: /dev/sd* devices Longhorn attaches over iSCSI and the mount fails; the fix it gives is this
#: blacklist, then a restart of multipathd.
MULTIPATH_BLACKLIST = 'blacklist {\n    devnode "^sd[a-z0-9]+"\n}\n'


class _LiteralStr(str):
    """A string dumped in YAML block style (`|`), so the PEM body stays readable."""


def _literal(dumper: yaml.SafeDumper, value: _LiteralStr) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|")


class _Dumper(yaml.SafeDumper):
    pass


_Dumper.add_representer(_LiteralStr, _literal)


def longhorn_prerequisites() -> tuple[list[str], list[dict[str, Any]], list[str]]:
    """(packages, write_files entries, runcmd lines) Longhorn needs on every node, from Longhorn's
    installation requirements (longhorn.io/docs, "Installation Requirements": open-iscsi installed and
    the iscsid daemon running on all nodes; an NFSv4 client for RWX volumes) and its multipath note
    (MULTIPATH_BLACKLIST). cloud-init installs packages before it runs runcmd."""
    packages = ["open-iscsi", "nfs-common"]
    files = [{"path": MULTIPATH_CONF_FILE, "permissions": "0644", "owner": "root:root",
              "content": _LiteralStr(MULTIPATH_BLACKLIST)}]
    commands = [
        "systemctl enable --now iscsid",
        # Images without multipathd running need nothing more; where it runs, it rereads its config.
        "systemctl is-active --quiet multipathd && systemctl restart multipathd || true",
    ]
    return packages, files, commands


def render_user_data(plan: ClusterPlan, node_name: str, host_key: HostKey) -> str:
    """The `#cloud-config` for one node: its pinned ed25519 host key, when the plan asks for another
    port the sshd port, and with Longhorn its host prerequisites. Raises ValueError if it would
    exceed Hetzner's 32 KiB limit."""
    private = host_key.private_openssh if host_key.private_openssh.endswith("\n") else host_key.private_openssh + "\n"
    config: dict[str, Any] = {
        # Remove the image's own host keys; cloud-init generates only missing types in this list, and
        # the ed25519 one is ours, so the node presents our key and nothing else.
        "ssh_deletekeys": True,
        "ssh_genkeytypes": ["ed25519"],
        "ssh_keys": {
            "ed25519_private": _LiteralStr(private),
            "ed25519_public": host_key.public_openssh.strip(),
        },
    }
    files: list[dict[str, Any]] = []
    commands: list[str] = []
    port = plan.ssh.port
    if port != 22:
        files.append(
            {"path": SSHD_PORT_FILE, "permissions": "0644", "owner": "root:root", "content": _LiteralStr(f"Port {port}\n")}
        )
        # Images where sshd starts after cloud-init's init stage read the new port themselves. Ubuntu
        # 24.04 starts sshd through ssh.socket, whose port a systemd generator derived from sshd_config
        # before cloud-init wrote it: reload units and restart the socket there. If that fails, the
        # node never answers on the new port and the engine reports it unreachable, naming the port.
        commands.append(
            "systemctl is-enabled ssh.socket >/dev/null 2>&1 && systemctl daemon-reload"
            " && systemctl restart ssh.socket || true"
        )
    if plan.storage.longhorn:
        packages, more_files, more_commands = longhorn_prerequisites()
        config["package_update"] = True
        config["packages"] = packages
        files += more_files
        commands += more_commands
    if files:
        config["write_files"] = files
    if commands:
        config["runcmd"] = commands
    text = "#cloud-config\n" + yaml.dump(config, Dumper=_Dumper, sort_keys=False, default_flow_style=False)
    size = len(text.encode())
    if size > USER_DATA_LIMIT:
        raise ValueError(f"user data for {node_name} is {size} bytes; Hetzner accepts at most {USER_DATA_LIMIT}")
    return text
