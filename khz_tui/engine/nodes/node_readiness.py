"""Whether the cluster's nodes are Ready, as `kubectl get nodes` on a control plane says."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

from khz_tui.engine.bus import EventBus
from khz_tui.engine.nodes.cluster_api import KUBECTL
from khz_tui.engine.nodes.session import CommandFailed, NodeError, NodeSession


class NodesNotReady(NodeError):
    """Some nodes did not report Ready in time; `pending` names them."""

    def __init__(self, message: str, *, node: str, address: str, pending: list[str]) -> None:
        super().__init__(message, node=node, address=address)
        self.pending = pending


@dataclass(frozen=True)
class NodeCondition:
    """A Node's Ready condition: whether it is True, and why not in Kubernetes' words."""

    ready: bool
    why: str = ""


async def node_conditions(session: NodeSession) -> dict[str, NodeCondition]:
    """Every node the cluster knows, with its Ready condition."""
    result = await session.run(f"{KUBECTL} get nodes -o json", stream=False, timeout=60)
    try:
        items = json.loads(result.stdout).get("items", [])
    except (json.JSONDecodeError, AttributeError):
        raise session.failure(
            f"`{KUBECTL} get nodes -o json` on {session.node} did not print JSON",
            command=f"{KUBECTL} get nodes -o json", result=result,
        ) from None
    found: dict[str, NodeCondition] = {}
    for item in items:
        name = item.get("metadata", {}).get("name")
        if not name:
            continue
        conditions = item.get("status", {}).get("conditions", []) or []
        ready: dict[str, Any] = next((c for c in conditions if c.get("type") == "Ready"), {})
        is_ready = ready.get("status") == "True"
        why = "" if is_ready else ": ".join(
            str(p) for p in (f"Ready={ready.get('status', 'missing')}", ready.get("reason"), ready.get("message")) if p)
        found[name] = NodeCondition(is_ready, why)
    return found


async def node_readiness(session: NodeSession) -> dict[str, bool]:
    """Every node the cluster knows, and whether its Ready condition is True."""
    return {name: c.ready for name, c in (await node_conditions(session)).items()}


async def wait_ready(session: NodeSession, name: str, *, timeout: float, interval: float, bus: EventBus) -> None:
    """Poll the API until node `name` is Ready (a control plane k3s was restarted on). An API that
    does not answer yet (the server still starting) is waited for, not fatal. Raises NodesNotReady
    after `timeout` seconds, saying whether the node is known and the API's last error."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    last_error = ""
    while True:
        try:
            readiness = await node_readiness(session)
            last_error = ""
        except CommandFailed as exc:
            readiness = {}
            last_error = str(exc)
        if readiness.get(name):
            bus.log(f"{name} is Ready", node=name)
            return
        if loop.time() >= end:
            detail = ["it is not Ready" if name in readiness else "it never registered with Kubernetes"]
            if last_error:
                detail.append(f"last error: {bus.scrub(last_error)}")
            raise NodesNotReady(
                f"after {timeout:.0f}s {name} is not Ready ({'; '.join(detail)}). "
                f"`kubectl describe node` shows why (CNI, cloud controller, kubelet).",
                node=session.node,
                address=str(session.endpoint),
                pending=[name],
            )
        await asyncio.sleep(min(interval, max(0.0, end - loop.time())))
