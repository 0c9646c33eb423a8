"""The k3s systemd unit on one node: whether k3s runs or was ever installed there, waiting for it after a boot,
and adding names to a server's `tls-san` (k3s reads config.yaml only when it starts, so a restart
follows)."""

from __future__ import annotations

import asyncio
from typing import Any

import yaml

from khz_tui.engine.bus import EventBus
from khz_tui.engine.nodes.k3s_config import CONFIG_PATH
from khz_tui.engine.nodes.session import NodeSession

#: How often the wait for a starting unit reports that it is still waiting, in polls.
_REPORT_EVERY = 10


def unit_name(role: str) -> str:
    return "k3s" if role in ("control-plane", "server") else "k3s-agent"


async def unit_state(session: NodeSession, role: str) -> str:
    """What `systemctl is-active` says: active, activating (k3s is Type=notify: starting until it
    serves), inactive, failed, ..."""
    result = await session.run(f"systemctl is-active {unit_name(role)}", check=False, stream=False, timeout=60)
    return result.stdout.strip().splitlines()[0] if result.stdout.strip() else "unknown"


async def is_running(session: NodeSession, role: str) -> bool:
    """Whether k3s runs on the node now (`systemctl is-active k3s` / `k3s-agent` says active)."""
    result = await session.run(f"systemctl is-active {unit_name(role)}", check=False, stream=False, timeout=60)
    return result.exit_status == 0 and result.stdout.strip() == "active"


async def unit_enabled(session: NodeSession, role: str) -> bool:
    """Whether the installer enabled the unit here: k3s was installed on this very server (and
    systemd starts it at every boot). A server that never ran the installer has no such unit."""
    result = await session.run(f"systemctl is-enabled {unit_name(role)}", check=False, stream=False, timeout=60)
    return result.exit_status == 0 and result.stdout.strip() == "enabled"


async def wait_started(session: NodeSession, role: str, *, timeout: float, interval: float, bus: EventBus) -> str:
    """After the server booted: wait until systemd has started an enabled k3s unit (`active`) or it
    failed; returns that state ("not installed" when the unit is not enabled: nothing starts it).

    Until then the unit is `activating` (or still `inactive` right after boot), and a check made in
    that window would take a healthy member for a node without k3s. Raises CommandFailed after
    `timeout` seconds, naming the node and the state it stayed in."""
    unit = unit_name(role)
    if not await unit_enabled(session, role):
        return "not installed"
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    polls = 0
    while True:
        state = await unit_state(session, role)
        if state in ("active", "failed"):
            if polls:
                bus.log(f"{unit} on {session.node} is {state} after the boot", node=session.node,
                        level="info" if state == "active" else "warning")
            return state
        if loop.time() >= end:
            raise session.failure(
                f"{unit} on {session.node} ({session.endpoint}) did not start within {timeout:.0f}s after the "
                f"server was powered on (`systemctl is-active {unit}`: {state}). Its Node object and cluster "
                f"data were left as they are; see `journalctl -u {unit}` on the node, then apply again.",
                command=f"systemctl is-active {unit}",
            )
        if polls % _REPORT_EVERY == 0:
            bus.log(f"waiting for {unit} to start on {session.node} ({state})", node=session.node)
        polls += 1
        await asyncio.sleep(min(interval, max(0.0, end - loop.time())))


async def _server_config(session: NodeSession) -> dict[str, Any]:
    text = await session.read_file(CONFIG_PATH)
    try:
        data = yaml.safe_load(text) if text else None
    except yaml.YAMLError:
        data = None
    if not isinstance(data, dict):
        raise session.failure(
            f"{CONFIG_PATH} on {session.node} ({session.endpoint}) is missing or not a YAML mapping, so its "
            "tls-san cannot be read; khz-tui writes that file when it installs k3s",
            command=f"read {CONFIG_PATH}",
        )
    return data


def _sans(data: dict[str, Any]) -> list[str]:
    current = data.get("tls-san") or []
    return [str(s) for s in (current if isinstance(current, list) else str(current).split(","))]


async def missing_tls_sans(session: NodeSession, addresses: list[str]) -> list[str]:
    """Those of `addresses` this server's config.yaml does not list under `tls-san`."""
    sans = _sans(await _server_config(session))
    return [a for a in dict.fromkeys(addresses) if a and a not in sans]


async def add_tls_sans(session: NodeSession, addresses: list[str]) -> list[str]:
    """Add `addresses` to the `tls-san` list of this server's config.yaml, keeping everything else;
    returns the ones that were missing (nothing is written when none was). The file holds the join
    token: it is rewritten 0600 and never shown. k3s reads it when it starts: restart it after."""
    data = await _server_config(session)
    sans = _sans(data)
    missing = [a for a in dict.fromkeys(addresses) if a and a not in sans]
    if missing:
        data["tls-san"] = sans + missing
        text = yaml.safe_dump(data, sort_keys=False, default_flow_style=False)
        await session.write_file(CONFIG_PATH, text, mode=0o600)
    return missing


async def restart(session: NodeSession, role: str, *, timeout: float) -> None:
    """`systemctl restart` the unit (k3s is Type=notify: this returns once it serves again)."""
    unit = unit_name(role)
    result = await session.run(f"systemctl restart {unit}", check=False, stream=False, timeout=timeout)
    if result.exit_status != 0:
        raise session.failure(
            f"restarting {unit} on {session.node} ({session.endpoint}) failed: "
            f"{session.bus.scrub((result.stderr or result.stdout).strip()[-300:]) or 'no output'}. "
            f"See `journalctl -u {unit}` on the node; the step is safe to rerun.",
            command=f"systemctl restart {unit}", result=result,
        )


async def configured_node_ip(session: NodeSession) -> str | None:
    """The private address k3s was configured with here (`node-ip` in config.yaml), or None when k3s
    was never configured on this server."""
    text = await session.read_file(CONFIG_PATH)
    try:
        data = yaml.safe_load(text) if text else None
    except yaml.YAMLError:
        return None
    value = data.get("node-ip") if isinstance(data, dict) else None
    if isinstance(value, list):
        value = value[0] if value else None
    return str(value).split(",")[0].strip() or None if value else None
