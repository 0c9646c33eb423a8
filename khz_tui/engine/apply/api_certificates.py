"""The API's certificates must name the address the kubeconfig points at.

A control plane's serving certificate carries its `tls-san` names, read by k3s only when it starts.
When the API load balancer was created again (deleted outside khz-tui), it has a new address that no
certificate names: the kubeconfig would point at it and every TLS client would refuse it. So before
the kubeconfig is written, each control plane whose config.yaml lacks the load balancer's addresses
gets them added and is restarted, one at a time (etcd keeps its quorum), and must be Ready again
before the next one."""

from __future__ import annotations

from khz_tui.engine import run_lock
from khz_tui.engine.apply.progress import ApplyProgress
from khz_tui.engine.apply.records import ProvisionedNode
from khz_tui.engine.events import NodeRepaired
from khz_tui.engine.nodes import k3s_unit, node_readiness
from khz_tui.engine.steps import step


async def cover_api_addresses(run: ApplyProgress) -> None:
    """Add the load balancer's addresses to every control plane's tls-san that lacks them, restarting
    those servers one at a time. Nothing is written or restarted when every one has them."""
    wanted = run.milestones.load_balancer.value().all()
    if not wanted:
        return  # no load balancer: the kubeconfig names the seed, whose own addresses k3s always adds
    servers = [n for n in run.milestones.provisioned() if n.slot.role == "control-plane"]
    lacking = []
    for node in servers:
        missing = await run.retrying(node.session, k3s_unit.missing_tls_sans, wanted)
        if missing:
            lacking.append((node, missing))
    if not lacking:
        return
    guard = run_lock.current()
    if guard is not None:
        await guard.before_changes()  # a rerun that found nothing else to change holds no marker yet
    title = f"Adding the API load balancer's address to {len(lacking)} certificate(s)"
    async with step(run.bus, "api-certificates", title):
        for node, missing in lacking:
            await _restart_with(run, node, missing)


async def _restart_with(run: ApplyProgress, node: ProvisionedNode, missing: list[str]) -> None:
    name = node.name
    await run.retrying(node.session, k3s_unit.add_tls_sans, missing)
    run.bus.emit(NodeRepaired(node=name, repair="k3s-restarted", reason=(
        f"the certificate of {name} does not name the API load balancer's address {', '.join(missing)} (the load "
        f"balancer was created again); restarting k3s on {name} so that it does")))
    await run.retrying(node.session, k3s_unit.restart, node.slot.role, timeout=run.policy.k3s_start_deadline)
    # The next server restarts only once this one is back: etcd keeps its quorum throughout.
    await run.retrying(
        node.session, node_readiness.wait_ready, name, timeout=run.policy.k3s_start_deadline, bus=run.bus,
        interval=run.policy.restarted_ready_poll,
    )
