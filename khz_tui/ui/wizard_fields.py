"""Which plan keys the wizard has a field for, how a key path reads to a person, and taking a key out.

A problem on a key with no field (a replayed plan's `token = "abc"` under `[ssh]`, a misspelt key,
`k3s.disable`) cannot be fixed on any step: the steps must not refuse Next for it, and the review
lists it with its line and removes the key on request (see `ReviewScreen`).
"""

from __future__ import annotations

import re
from typing import Any

from khz_tui.ui.draft import owns

#: Key paths each wizard step has a field for (the fields set exactly these keys).
STEP_FIELDS: dict[str, tuple[str, ...]] = {
    "credentials": ("hcloud.token_env", "hcloud.context", "ssh.public_key", "ssh.private_key"),
    "topology": ("name", "hcloud.location", "control_plane.count", "control_plane.server_type",
                 "control_plane.locations", "worker_pools"),
    "networking": ("network.zone", "network.ip_range", "network.subnet", "network.pod_cidr", "network.service_cidr",
                   "network.cni", "network.encryption", "load_balancer.enabled", "load_balancer.type",
                   "addons.service_load_balancer", "ssh.allowed_cidrs", "ssh.api_allowed_cidrs"),
    "storage": ("storage.hcloud_csi", "storage.longhorn", "storage.volumes"),
}
#: The keys the pool and volume editors set inside one entry of their list.
ROW_FIELDS: dict[str, tuple[str, ...]] = {
    "worker_pools": ("name", "server_type", "count", "location", "labels", "taints"),
    "storage.volumes": ("name", "size_gb", "pool", "format"),
}
#: What a run's failed step asks the person to change, as the wizard field that holds it.
FAILED_STEP_FIELDS: dict[str, str] = {
    "ssh-key": "ssh.public_key",
    "caller-address": "ssh.allowed_cidrs",
    "firewall": "ssh.allowed_cidrs",
}

_ROW = re.compile(r"^(?P<table>[a-z_.]+)\[(?P<index>\d+)\](?:\.(?P<key>[^.\[]+))?")


def step_of(path: str) -> str | None:
    """The wizard step with a field for `path`, or None when no step has one."""
    row = _ROW.match(path)
    if row and row["table"] in ROW_FIELDS and row["key"] is not None and row["key"] not in ROW_FIELDS[row["table"]]:
        return None  # e.g. worker_pools[0].autoscaling: the pool editor has no field for it
    return next((step for step, fields in STEP_FIELDS.items() if owns(fields, path)), None)


def has_field(path: str) -> bool:
    return step_of(path) is not None


def entry_name(data: dict[str, Any], table: str, index: int) -> str | None:
    """The `name` of entry `index` of the list at dotted `table` in `data`, if it has one."""
    node: Any = data
    for part in table.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    if isinstance(node, list) and 0 <= index < len(node) and isinstance(node[index], dict):
        name = node[index].get("name")
        return name if isinstance(name, str) and name else None
    return None


_NOUNS = {"worker_pools": "pool", "storage.volumes": "volume"}


def readable_path(path: str, data: dict[str, Any]) -> str:
    """`worker_pools[1].count` as `pool "web" count`: entries by their name, as the tables show them."""
    row = _ROW.match(path)
    if row is None or row["table"] not in _NOUNS:
        return path
    name = entry_name(data, row["table"], int(row["index"]))
    who = f'{_NOUNS[row["table"]]} "{name}"' if name else f"{_NOUNS[row['table']]} {int(row['index']) + 1}"
    rest = path[row.end("index") + 1:].lstrip(".")
    return f"{who} {rest}".strip()


def _parts(path: str) -> list[str | int]:
    parts: list[str | int] = []
    for name, index in re.findall(r"([^.\[\]]+)|\[(\d+)\]", path):
        parts.append(int(index) if index else name)
    return parts


def remove_key(data: dict[str, Any], path: str) -> bool:
    """Take the key (or list item) at `path` out of `data`; False when it is not there.

    Keys containing dots (label keys such as `example.com/role`) are found by trying the longest
    dotted name the table holds."""
    parts = _parts(path)
    node: Any = data
    i = 0
    while i < len(parts):
        part = parts[i]
        last = i == len(parts) - 1
        if isinstance(part, int):
            if not isinstance(node, list) or not 0 <= part < len(node):
                return False
            if last:
                del node[part]
                return True
            node, i = node[part], i + 1
            continue
        if not isinstance(node, dict):
            return False
        for end in range(len(parts), i, -1):  # the longest run of names that is one key of this table
            names = parts[i:end]
            if all(isinstance(n, str) for n in names) and ".".join(map(str, names)) in node:
                key = ".".join(map(str, names))
                if end == len(parts):
                    del node[key]
                    return True
                node, i = node[key], end
                break
        else:
            return False
    return False
