"""k3s on one node, once it answers SSH: the seed installs (`cluster-init`) unless k3s already runs
there; workers join as soon as the API answers; further control planes join one at a time once the
seed is Ready."""

from __future__ import annotations

from khz_tui.engine.apply.progress import ApplyProgress, Node
from khz_tui.engine.nodes import cluster_api, cluster_token, k3s_install, k3s_unit, node_readiness, node_removal
from khz_tui.engine.nodes.k3s_config import pin_version


async def install_or_join(run: ApplyProgress, node: Node) -> None:
    """Install k3s on the seed, or join this node to it once the API (and for a control plane, the
    seed's readiness) allows; a node already in the cluster is left as it is."""
    slot = node.slot
    facts = run.node_facts(node)
    if slot.role == "control-plane":
        await run.seed_known.wait()
    if node is run.seed:
        await _install_seed(run, node, facts)
        return
    await run.api_up.wait()
    if slot.name in run.k8s_nodes:
        if node.existed and (
            run.k8s_nodes[slot.name] or await run.retrying(node, k3s_unit.is_running, slot.role)
        ):
            run.phase(node, "joined")
            return
        if node.existed and await run.retrying(node, k3s_unit.unit_enabled, slot.role):
            # k3s was installed on this very server: the Node object (for a control plane, its etcd
            # member) is its own. It is never deleted; k3s starts again below with its data kept.
            run.bus.log(f"k3s is installed on {slot.name} but not running; starting it again, keeping its Node "
                        "object and data", node=slot.name, level="warning")
        else:
            # Kubernetes knows the name, but k3s never ran on this server: the old server was deleted
            # behind our back. Its Node object goes first, or k3s refuses the new machine (for a
            # control plane, k3s removes its etcd member with it).
            live = {n.facts.id for n in run.nodes.values() if n.facts is not None} | {
                s.id for s in run.inv.servers.values()}
            await run.retrying(run.seed_node(), node_removal.delete_stale_node, slot.name, run.bus, live_server_ids=live)
            run.k8s_nodes.pop(slot.name, None)
    if slot.role == "control-plane":
        # etcd admits one learner at a time: control planes join one after another, once the
        # seed is Ready.
        await run.first_ready.wait()
        async with run.cp_join:
            run.phase(node, "installing")
            await run.retrying(
                node, k3s_install.join_server, _joining_plan(run), facts, token=run.token, join_url=run.join_url(),
                tls_sans=run.tls_sans(), bus=run.bus, retry_delay=run.ctx.scaled(5.0),
            )
    else:
        run.phase(node, "installing")
        await run.retrying(
            node, k3s_install.join_agent, _joining_plan(run), facts, token=run.token, join_url=run.join_url(), bus=run.bus
        )
    run.phase(node, "joined")


async def _install_seed(run: ApplyProgress, node: Node, facts) -> None:
    """Install the seed (unless k3s runs there already) and release everything waiting for the API."""
    if not run.seed_running:
        run.phase(node, "installing")
        await run.retrying(
            node, k3s_install.install_first_server, run.plan, facts, token=run.token,
            tls_sans=run.tls_sans(), bus=run.bus,
        )
        # Joins use the token k3s wrote: its full K10<CA hash>::server:<secret> form lets a joining
        # node verify the cluster's CA before trusting it. (An installer an earlier run started, and
        # lost the session to, may also have finished first with that run's token.)
        actual = await run.retrying(node, cluster_token.read_cluster_token)
        if actual and actual != run.token:
            if not actual.endswith(f"::server:{run.token}"):
                run.bus.log(f"k3s on {node.slot.name} was started by an earlier run; using its cluster token",
                            node=node.slot.name)
            run.token = actual
    # The release the seed runs is the cluster's: a channel is resolved once, by the seed's install;
    # every join installs exactly that release (recorded for the next runs and for render).
    run.k3s_version = await run.retrying(node, cluster_api.installed_version)
    run.ctx.files.record_k3s_version(run.k3s_version)
    run.k8s_nodes = await run.retrying(node, node_readiness.node_readiness)
    run.phase(node, "joined")
    run.api_up.set()


def _joining_plan(run: ApplyProgress):
    """The plan joins install from: k3s pinned to the release the seed runs."""
    assert run.k3s_version, "the seed's release is read before anything joins"
    return pin_version(run.plan, run.k3s_version)
