"""The cloud-init user data each server boots with.

Its one essential job: install the SSH host key khz-tui generated for this node, so the very first
SSH connection is verified against a pinned key instead of trusting whatever answers. Everything else
(k3s config, installer) happens over that verified SSH session, where every step is visible.
"""

from __future__ import annotations

import yaml

from khz_tui.engine.state import HostKey
from khz_tui.plan.model import ClusterPlan

#: Hetzner refuses user_data larger than this.
USER_DATA_LIMIT = 32 * 1024
SSHD_PORT_FILE = "/etc/ssh/sshd_config.d/10-khz-tui-port.conf"


class _LiteralStr(str):
    """A string dumped in YAML block style (`|`), so the PEM body stays readable."""


def _literal(dumper: yaml.SafeDumper, value: _LiteralStr) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|")


class _Dumper(yaml.SafeDumper):
    pass


_Dumper.add_representer(_LiteralStr, _literal)


def render_user_data(plan: ClusterPlan, node_name: str, host_key: HostKey) -> str:
    """The `#cloud-config` for one node: its pinned ed25519 host key and, when the plan asks for
    another port, the sshd port. Raises ValueError if it would exceed Hetzner's 32 KiB limit."""
    private = host_key.private_openssh if host_key.private_openssh.endswith("\n") else host_key.private_openssh + "\n"
    config: dict = {
        # Remove the image's own host keys; cloud-init generates only missing types in this list, and
        # the ed25519 one is ours, so the node presents our key and nothing else.
        "ssh_deletekeys": True,
        "ssh_genkeytypes": ["ed25519"],
        "ssh_keys": {
            "ed25519_private": _LiteralStr(private),
            "ed25519_public": host_key.public_openssh.strip(),
        },
    }
    port = plan.ssh.port
    if port != 22:
        config["write_files"] = [
            {"path": SSHD_PORT_FILE, "permissions": "0644", "owner": "root:root", "content": _LiteralStr(f"Port {port}\n")}
        ]
        # Images where sshd starts after cloud-init's init stage read the new port themselves. Ubuntu
        # 24.04 starts sshd through ssh.socket, whose port a systemd generator derived from sshd_config
        # before cloud-init wrote it: reload units and restart the socket there. If that fails, the
        # node never answers on the new port and the engine reports it unreachable, naming the port.
        config["runcmd"] = [
            "systemctl is-enabled ssh.socket >/dev/null 2>&1 && systemctl daemon-reload"
            " && systemctl restart ssh.socket || true"
        ]
    text = "#cloud-config\n" + yaml.dump(config, Dumper=_Dumper, sort_keys=False, default_flow_style=False)
    size = len(text.encode())
    if size > USER_DATA_LIMIT:
        raise ValueError(f"user data for {node_name} is {size} bytes; Hetzner accepts at most {USER_DATA_LIMIT}")
    return text
