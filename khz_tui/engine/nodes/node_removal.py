"""Taking nodes out of Kubernetes, through `kubectl` on a control plane: a node the plan no longer has
is drained and deleted; the Node object a deleted server left behind is deleted so a new server can
join under its name."""

from __future__ import annotations

import json
from collections.abc import Collection

from khz_tui.engine.bus import EventBus
from khz_tui.engine.events import NodeRepaired
from khz_tui.engine.nodes.cluster_api import KUBECTL
from khz_tui.engine.nodes.session import NodeSession


async def delete_stale_node(
    session: NodeSession, node_name: str, bus: EventBus, *, live_server_ids: Collection[int] = ()
) -> None:
    """Delete the Node object a deleted server left behind (no drain: its pods are gone with it), so a
    new server under the same name can join: k3s refuses a second machine with a known node name.

    Never the Node of a server that still exists (for a control plane that would remove a live etcd
    member): when its provider ID names one of `live_server_ids`, CommandFailed is raised instead."""
    owner = await _node_server_id(session, node_name)
    if owner is not None and owner in live_server_ids:
        raise session.failure(
            f"Kubernetes lists {node_name} as server {owner}, which still exists, while k3s does not run on "
            f"the server named {node_name}; khz-tui does not delete the Node object (or etcd member) of a "
            "live server. Look at both servers in the Hetzner console and `kubectl get node -o wide`",
            command=f"{KUBECTL} get node {node_name}",
        )
    bus.emit(NodeRepaired(
        node=node_name, repair="stale-node-removed",
        reason=f"Kubernetes still lists {node_name} from a server that no longer exists; deleting that Node "
               "object so the new server can join under the same name",
    ))
    await _delete_node_object(session, node_name, bus, what=f"the stale node {node_name}")


async def _node_server_id(session: NodeSession, node_name: str) -> int | None:
    """The Hetzner server id in a Node's provider ID (`hcloud://<id>`), or None when it names none."""
    result = await session.run(f"{KUBECTL} get node {node_name} -o json", check=False, stream=False, timeout=60)
    if result.exit_status != 0:
        return None
    try:
        provider = (json.loads(result.stdout).get("spec") or {}).get("providerID") or ""
    except (json.JSONDecodeError, AttributeError):
        return None
    value = provider.removeprefix("hcloud://")
    return int(value) if provider.startswith("hcloud://") and value.isdigit() else None


async def _delete_node_object(session: NodeSession, node_name: str, bus: EventBus, *, what: str) -> None:
    """`kubectl delete node`; a node already gone counts as deleted. For a k3s server this also
    removes its etcd member, so a server leaves etcd cleanly."""
    deleted = await session.run(f"{KUBECTL} delete node {node_name}", check=False, timeout=120)
    if deleted.exit_status != 0 and "not found" not in (deleted.stderr + deleted.stdout).lower():
        raise session.failure(
            f"could not delete {what} (via {session.node}): "
            f"{bus.scrub((deleted.stderr or deleted.stdout).strip()[-500:])}",
            command="kubectl delete node", result=deleted,
        )


async def remove_node(session: NodeSession, node_name: str, bus: EventBus) -> None:
    """Drain `node_name` (evicting its pods) and delete it from Kubernetes, before its server goes.
    A node Kubernetes no longer knows is already removed."""
    bus.log(f"draining {node_name}", node=node_name)
    drained = await session.run(
        f"{KUBECTL} drain {node_name} --ignore-daemonsets --delete-emptydir-data --force --timeout=300s",
        check=False,
        timeout=400,
    )
    gone = "not found" in (drained.stderr + drained.stdout).lower()
    if drained.exit_status != 0 and not gone:
        raise session.failure(
            f"could not drain {node_name} (via {session.node}): "
            f"{bus.scrub((drained.stderr or drained.stdout).strip()[-500:])}. Pods with PodDisruptionBudgets may "
            "block eviction; resolve that, then rerun.",
            command="kubectl drain", result=drained,
        )
    if gone:
        bus.log(f"{node_name} is not in the cluster any more", node=node_name)
        return
    await _delete_node_object(session, node_name, bus, what=f"node {node_name} from Kubernetes")
