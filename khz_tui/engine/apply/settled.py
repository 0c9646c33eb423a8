"""Whether an apply would change anything: decides if the run must take the cluster's run lock.

Honest and cheap: the dry-run comparison (`diff.compute_changes`) of the plan with the inventory the
run just discovered, every server running, and one `kubectl get nodes` on a control plane showing
every planned node Ready (k3s installed and joined). Anything else, or any doubt (no pinned key for
the control plane, no answer), counts as a change: taking the lock when it was not needed costs two
requests; not taking it when it was needed lets two runs install k3s on the same nodes.
"""

from __future__ import annotations

from pathlib import Path

from khz_tui.engine.apply.progress import ApplyProgress
from khz_tui.engine.cloud.client import CloudError
from khz_tui.engine.cloud.servers import server_facts
from khz_tui.engine.diff import compute_changes
from khz_tui.engine.events import Change
from khz_tui.engine.nodes.node_readiness import node_readiness
from khz_tui.engine.nodes.session import NodeError, NodeSession, SshEndpoint

#: How the comparison marks drift that apply reports but leaves as it is (no request, no lock needed).
_REPORTED_ONLY = "not changed by apply"


def acts_on(change: Change) -> bool:
    """Whether apply would send a request (or a command) for this line of the comparison."""
    if change.action == "keep":
        return False
    return not (change.action == "change" and _REPORTED_ONLY in change.detail)


async def will_change(run: ApplyProgress) -> str | None:
    """What apply would change first, in words; None when it would find nothing to do."""
    inv, plan = run.inv, run.plan
    key_known = bool(inv.ssh_keys) or await _key_known(run)
    changes = [c for c in compute_changes(plan, inv, ssh_key_known=key_known) if acts_on(c)]
    if changes:
        first = changes[0]
        return f"{first.action} {first.resource_type} {first.name}"
    stopped = sorted(name for name, server in inv.servers.items() if server.status != "running")
    if stopped:
        return f"server {stopped[0]} is {inv.servers[stopped[0]].status}"
    return await _not_ready(run)


async def _key_known(run: ApplyProgress) -> bool:
    # The project may hold the plan's key unlabeled (uploaded by hand): apply reuses it, as dry-run says.
    try:
        public = Path(run.plan.ssh.public_key).expanduser().read_text(encoding="utf-8")
        found = await run.cloud.find_ssh_key(public)
    except (OSError, IndexError, ValueError):
        return False
    return found is not None


async def _not_ready(run: ApplyProgress) -> str | None:
    """Ask one control plane (with its pinned host key) whether every planned node is Ready."""
    probe = next((n for n in run.nodes.values() if n.slot.role == "control-plane"
                  and n.slot.name in run.inv.servers and run.ctx.files.has_host_key(n.slot.name)), None)
    if probe is None:
        return "no control plane this machine can verify"
    name = probe.slot.name
    host_key = run.ctx.files.pinned_host_key(name)
    if host_key is None:
        return "no control plane this machine can verify"
    facts = server_facts(run.inv.servers[name], None)
    session = None
    try:
        endpoint = await run.ctx.access.endpoint(run.client, facts.id, facts.public_ipv4)
        session = await NodeSession.connect(
            node=name, endpoint=SshEndpoint(endpoint.host, endpoint.port),
            host_key=host_key, client_key=Path(run.plan.ssh.private_key).expanduser(),
            bus=run.bus, deadline=run.policy.lock_probe_deadline, wait_cloud_init=False,
            retry_interval=run.policy.ssh_retry_interval, max_interval=run.policy.ssh_max_interval,
        )
        ready = await node_readiness(session)
    except (TimeoutError, NodeError, CloudError, OSError) as exc:
        run.bus.log(f"cannot ask {name} whether every node is Ready ({exc}); treating the run as one that changes "
                    "the cluster", level="debug")
        return f"{name} did not say whether every node is Ready"
    finally:
        if session is not None:
            await session.close()
    waiting = [n for n in run.nodes if not ready.get(n)]
    return f"node {waiting[0]} is not Ready" if waiting else None
