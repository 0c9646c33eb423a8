"""One node up to `ssh-ready`: find or create its server, wait for the create action (recreating a
server whose create failed, powering on one found off), then open the SSH session with its pinned key;
attach a server taken off the cluster's network again, and wait for the k3s of a powered-on one."""

from __future__ import annotations

from pathlib import Path

from hcloud.servers.domain import Server

from khz_tui.engine.apply.node_network import attach_again
from khz_tui.engine.apply.progress import ApplyProgress, Node
from khz_tui.engine.apply.records import Infrastructure, ProvisionedNode
from khz_tui.engine.cloud.client import ActionFailed, CloudError
from khz_tui.engine.cloud.cloud_base import ident
from khz_tui.engine.cloud.servers import ServerFacts, server_drift, server_facts
from khz_tui.engine.cluster_files import HostKey
from khz_tui.engine.events import NodeRepaired, ResourceFound
from khz_tui.engine.nodes import k3s_unit
from khz_tui.engine.nodes.cloud_init import render_user_data
from khz_tui.engine.nodes.session import NodeSession, SshEndpoint


async def provision(run: ApplyProgress, node: Node, infra: Infrastructure) -> ProvisionedNode:
    """Bring the node's server up to `ssh-ready`: find or create it, then open its pinned SSH session."""
    slot = node.slot
    host_key = _host_key(run, node)
    facts = await _ensure_server(run, node, infra, host_key)
    _maybe_servers_known(run)
    if facts.private_ip is None:
        fresh = await run.cloud.read_server(facts.id, slot.name)
        facts = node.facts = server_facts(fresh, infra.network.id)
    endpoint = await run.ctx.access.endpoint(run.client, facts.id, facts.public_ipv4)
    # A connection dropped while waiting for cloud-init (a reboot) is simply opened again.
    session = await run.until_not_lost(slot.name, lambda: NodeSession.connect(
        node=slot.name,
        endpoint=SshEndpoint(endpoint.host, endpoint.port),
        host_key=host_key,
        client_key=Path(run.plan.ssh.private_key).expanduser(),
        bus=run.bus,
        deadline=run.policy.ssh_deadline,
        retry_interval=run.policy.ssh_retry_interval,
        max_interval=run.policy.ssh_max_interval,
    ))
    run.sessions[slot.name] = session
    if facts.private_ip is None:
        facts, private_ip = await attach_again(run, node, facts, session, infra.network)
    else:
        private_ip = facts.private_ip
    if node.powered_on:
        # systemd starts k3s at boot, but it serves only a while after sshd answers: a check made
        # before that would take a member of the cluster for a server without k3s.
        await run.retrying(
            session, k3s_unit.wait_started, slot.role, timeout=run.policy.k3s_start_deadline,
            interval=run.policy.k3s_start_poll, bus=run.bus,
        )
    run.phase(node, "ssh-ready")
    return ProvisionedNode(slot=slot, facts=facts, session=session, private_ip=private_ip, existed=node.existed)


def _host_key(run: ApplyProgress, node: Node) -> HostKey:
    """The key to pin: generated (once) and stored before this run creates the server, so the server
    gets it through cloud-init. A server that exists already keeps the key stored when it was created;
    when this machine has none, the server was created elsewhere (another machine, a lost state
    folder) and a new key could only be a wrong pin: nothing is written and nothing is sent to it."""
    state, name = run.ctx.files, node.slot.name
    if name not in run.inv.servers:
        return state.host_key(name)
    pinned = state.pinned_host_key(name)
    if pinned is None:
        raise CloudError(
            f"server {name} exists, but this machine holds no host key for it (it was created by a run on "
            "another machine, or this machine's khz-tui state folder was lost), so khz-tui cannot verify "
            "whom it talks to and sends it nothing",
            code="host_key_unknown",
            hint=f"run apply from the machine that created {name}, or copy that machine's "
                 f"clusters/{run.plan.name}/host-keys folder into {state.dir}",
        )
    return pinned


async def _ensure_server(run: ApplyProgress, node: Node, infra: Infrastructure, host_key: HostKey) -> ServerFacts:
    """Find or create the node's server and wait until its create action has succeeded.

    A server whose create action failed (found so, or failing in this run) is deleted and created
    again, up to the policy's `create_attempts` times: on Hetzner such a server stays `off` and can
    only be deleted, and a rerun must not wait for SSH from it."""
    slot = node.slot
    existing = run.inv.servers.get(slot.name)
    if existing is not None:
        node.existed = True
        node.facts = server_facts(existing, infra.network.id)
        server_drift(run.bus, slot, node.facts, ident(infra.network))
        run.bus.emit(ResourceFound(resource_type="server", name=slot.name, id=node.facts.id))
        run.phase(node, "booting")
    attempts = run.policy.create_attempts
    for attempt in range(1, attempts):
        facts = node.facts or await _create(run, node, infra, host_key)
        try:
            await _wait_created(run, facts)
        except ActionFailed as exc:
            run.bus.emit(NodeRepaired(node=slot.name, repair="server-recreated", reason=(
                f"{exc.message}; deleting server {slot.name} and creating it again (attempt {attempt + 1} of {attempts})")))
            await _delete_broken(run, facts)
            node.facts, node.existed = None, False
            run.inv.servers.pop(slot.name, None)
            continue
        return await _running(run, node, facts)
    facts = node.facts or await _create(run, node, infra, host_key)
    await _wait_created(run, facts)  # the last attempt: a create that fails now fails the node
    return await _running(run, node, facts)


async def _create(run: ApplyProgress, node: Node, infra: Infrastructure, host_key: HostKey) -> ServerFacts:
    slot = node.slot
    run.phase(node, "creating")
    user_data = render_user_data(run.plan, slot.name, host_key)
    async with run.turns.create:
        node.facts = await run.cloud.create_server(
            slot,
            network=infra.network, firewall=infra.firewall,
            placement_group=infra.placement_groups[slot.placement_group], ssh_key=infra.ssh_key,
            user_data=user_data,
        )
    return node.facts


async def _running(run: ApplyProgress, node: Node, facts: ServerFacts) -> ServerFacts:
    """The created server, powered on when it was found off."""
    if node.existed and facts.status == "off":
        await _power_on(run, node, facts)
    node.server_ok = True
    run.phase(node, "booting")
    return facts


async def _wait_created(run: ApplyProgress, f: ServerFacts) -> None:
    """Wait for the server's create action: the one this run started, or (for a server found not
    running: an earlier run stopped, or a create whose answer was lost) the one in its history."""
    await run.cloud.wait_created(f)


async def _power_on(run: ApplyProgress, node: Node, f: ServerFacts) -> None:
    """Start a server someone powered off. The plan asks for this node in the cluster, and the
    rerun would otherwise wait out the SSH deadline for a machine that cannot answer; powering
    on loses nothing (its disk and k3s data are kept), so apply does it and says so. A node meant
    to stay down is taken out of the plan (scale-down) instead."""
    run.bus.emit(NodeRepaired(node=f.name, repair="server-powered-on", reason=(
        f"server {f.name} is powered off (stopped outside khz-tui); powering it on, because the plan "
        "has it in the cluster (lower the count in the plan to remove it instead)")))
    await run.cloud.power_on(f.id, f.name)
    f.status = "running"
    node.powered_on = True


async def _delete_broken(run: ApplyProgress, f: ServerFacts) -> None:
    await run.cloud.delete("server", Server(id=f.id, name=f.name))


def _maybe_servers_known(run: ApplyProgress) -> None:
    # The seed is chosen once every control plane's server is known to exist (see seed.find_seed).
    if not run.milestones.servers_known.reached and all(
        n.server_ok for n in run.nodes.values() if n.slot.role == "control-plane"
    ):
        run.milestones.servers_known.reach(None)
