"""k3s on one node, once it answers SSH: the seed installs (`cluster-init`) unless k3s already runs
there; workers join as soon as the API answers; further control planes join one at a time once the
seed is Ready. The policy can hold installs until every server is up, and workers until the whole
control plane is Ready, one or more at a time."""

from __future__ import annotations

from khz_tui.engine.apply.policy import WorkerStart
from khz_tui.engine.apply.progress import ApplyProgress
from khz_tui.engine.apply.records import ClusterApi, ProvisionedNode, SeedChoice
from khz_tui.engine.events import NodeRepaired
from khz_tui.engine.nodes import cluster_api, cluster_token, k3s_install, k3s_unit, node_readiness, node_removal
from khz_tui.engine.nodes.k3s_config import pin_version
from khz_tui.plan.model import ClusterPlan


async def install_or_join(run: ApplyProgress, node: ProvisionedNode) -> None:
    """Install k3s on the seed, or join this node to it once the API (and for a control plane, the
    seed's readiness) allows; a node already in the cluster is left as it is."""
    if run.policy.installs_wait_for_every_server:
        await run.milestones.every_node_reachable.wait()
    if node.slot.role == "control-plane":
        seed = await run.milestones.seed_known.wait()
        if node.name == seed.name:
            await _install_seed(run, node, seed)
            return
    api = await run.milestones.api_up.wait()
    if node.name in run.registered and await _in_cluster(run, node, api):
        run.phase(node, "joined")
        return
    if node.slot.role == "control-plane":
        await _join_control_plane(run, node, api)
    else:
        await _join_worker(run, node, api)
    run.phase(node, "joined")


async def _in_cluster(run: ApplyProgress, node: ProvisionedNode, api: ClusterApi) -> bool:
    """For a node Kubernetes knows by name: True when it is this very server, running k3s. Otherwise
    it joins (False): with its own Node object kept when k3s was installed here but does not run,
    or after the Node object a deleted server left behind is deleted."""
    name, role = node.name, node.slot.role
    if node.existed and (run.registered[name] or await run.retrying(node.session, k3s_unit.is_running, role)):
        return True
    if node.existed and await run.retrying(node.session, k3s_unit.unit_enabled, role):
        # k3s was installed on this very server: the Node object (for a control plane, its etcd
        # member) is its own. It is never deleted; k3s starts again with its data kept.
        run.bus.emit(NodeRepaired(node=name, repair="k3s-restarted", reason=(
            f"k3s is installed on {name} but not running; starting it again, keeping its Node object and data")))
        return False
    # Kubernetes knows the name, but k3s never ran on this server: the old server was deleted behind
    # our back. Its Node object goes first, or k3s refuses the new machine (for a control plane, k3s
    # removes its etcd member with it).
    live = {n.facts.id for n in run.nodes.values() if n.facts is not None} | {
        s.id for s in run.inv.servers.values() if s.id is not None}
    await run.retrying(api.seed.session, node_removal.delete_stale_node, name, run.bus, live_server_ids=live)
    run.registered.pop(name, None)
    return False


async def _join_control_plane(run: ApplyProgress, node: ProvisionedNode, api: ClusterApi) -> None:
    # etcd admits one learner at a time: control planes join one after another, once the seed is Ready.
    await run.milestones.seed_ready.wait()
    async with run.turns.control_plane_join:
        run.phase(node, "installing")
        await run.retrying(
            node.session, k3s_install.join_server, _joining_plan(run, api), node.k3s_facts(), token=api.token,
            join_url=run.join_url(api), tls_sans=run.tls_sans(), bus=run.bus, retry_delay=run.policy.learner_retry_delay,
            attempts=run.policy.control_plane_join_attempts,
        )


async def _join_worker(run: ApplyProgress, node: ProvisionedNode, api: ClusterApi) -> None:
    if run.policy.workers_start is WorkerStart.AFTER_CONTROL_PLANE:
        await run.milestones.control_plane_ready.wait()
    async with run.turns.worker_join():
        run.phase(node, "installing")
        await run.retrying(
            node.session, k3s_install.join_agent, _joining_plan(run, api), node.k3s_facts(), token=api.token,
            join_url=run.join_url(api), bus=run.bus,
        )


async def _install_seed(run: ApplyProgress, node: ProvisionedNode, seed: SeedChoice) -> None:
    """Install the seed (unless k3s runs there already) and release everything waiting for the API."""
    token = seed.token
    if not seed.running:
        run.phase(node, "installing")
        await run.retrying(
            node.session, k3s_install.install_first_server, run.plan, node.k3s_facts(), token=token,
            tls_sans=run.tls_sans(), bus=run.bus,
        )
        # Joins use the token k3s wrote: its full K10<CA hash>::server:<secret> form lets a joining
        # node verify the cluster's CA before trusting it. (An installer an earlier run started, and
        # lost the session to, may also have finished first with that run's token.)
        actual = await run.retrying(node.session, cluster_token.read_cluster_token)
        if actual and actual != token:
            if not actual.endswith(f"::server:{token}"):
                run.bus.log(f"k3s on {node.name} was started by an earlier run; using its cluster token", node=node.name)
            token = actual
    # The release the seed runs is the cluster's: a channel is resolved once, by the seed's install;
    # every join installs exactly that release (recorded for the next runs and for render).
    version = await run.retrying(node.session, cluster_api.installed_version)
    run.ctx.files.record_k3s_version(version)
    run.registered = await run.retrying(node.session, node_readiness.node_readiness)
    run.phase(node, "joined")
    run.milestones.api_up.reach(ClusterApi(seed=node, token=token, k3s_version=version))


def _joining_plan(run: ApplyProgress, api: ClusterApi) -> ClusterPlan:
    """The plan joins install from: k3s pinned to the release the seed runs."""
    return pin_version(run.plan, api.k3s_version)
