"""One node up to `ssh-ready`: find or create its server, wait for the create action (recreating a
server whose create failed, powering on one found off), then open the SSH session with its pinned key;
attach a server taken off the cluster's network again, and wait for the k3s of a powered-on one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hcloud.servers.domain import Server

from khz_tui.engine.apply.node_network import attach_again
from khz_tui.engine.apply.progress import CREATE_ATTEMPTS, ApplyProgress, Node
from khz_tui.engine.cloud.client import ActionFailed, CloudError
from khz_tui.engine.cloud.servers import create_server, server_drift, server_facts
from khz_tui.engine.cluster_files import HostKey
from khz_tui.engine.events import ResourceDeleted, ResourceFound
from khz_tui.engine.nodes import k3s_unit
from khz_tui.engine.nodes.cloud_init import render_user_data
from khz_tui.engine.nodes.session import NodeSession, SshEndpoint


async def provision(run: ApplyProgress, node: Node, shared: dict[str, Any]) -> None:
    """Bring the node's server up to `ssh-ready`: find or create it, then open its pinned SSH session."""
    slot = node.slot
    host_key = _host_key(run, node)
    await _ensure_server(run, node, shared, host_key)
    _maybe_servers_known(run)
    if node.facts.private_ip is None:
        fresh = await run.client.call(run.client.hcloud.servers.get_by_id, node.facts.id, what=f"reading server {slot.name}")
        node.facts = server_facts(fresh, run.network.id)
    endpoint = await run.ctx.access.endpoint(run.client, node.facts.id, node.facts.public_ipv4)
    # A connection dropped while waiting for cloud-init (a reboot) is simply opened again.
    node.session = await run.until_not_lost(node, lambda: NodeSession.connect(
        node=slot.name,
        endpoint=SshEndpoint(endpoint.host, endpoint.port),
        host_key=host_key,
        client_key=Path(run.plan.ssh.private_key).expanduser(),
        bus=run.bus,
        deadline=run.ssh_deadline(),
        retry_interval=run.ctx.scaled(1.0),
        max_interval=run.ctx.scaled(2.0, floor=0.05),  # refused connections are cheap
    ))
    if node.facts.private_ip is None:
        await attach_again(run, node)
    if node.powered_on:
        # systemd starts k3s at boot, but it serves only a while after sshd answers: a check made
        # before that would take a member of the cluster for a server without k3s.
        await run.retrying(
            node, k3s_unit.wait_started, slot.role, timeout=run.k3s_start_deadline(),
            interval=run.ctx.scaled(2.0, floor=0.05), bus=run.bus,
        )
    run.phase(node, "ssh-ready")
    node.reachable.set()


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


async def _ensure_server(run: ApplyProgress, node: Node, shared: dict[str, Any], host_key) -> None:
    """Find or create the node's server and wait until its create action has succeeded.

    A server whose create action failed (found so, or failing in this run) is deleted and
    created again, up to CREATE_ATTEMPTS times: on Hetzner such a server stays `off` and can
    only be deleted, and a rerun must not wait for SSH from it."""
    slot = node.slot
    existing = run.inv.servers.get(slot.name)
    if existing is not None:
        node.existed = True
        node.facts = server_facts(existing, run.network.id)
        server_drift(run.bus, slot, node.facts, run.network.id)
        run.bus.emit(ResourceFound(resource_type="server", name=slot.name, id=node.facts.id))
        run.phase(node, "booting")
    for attempt in range(1, CREATE_ATTEMPTS + 1):
        if node.facts is None:
            run.phase(node, "creating")
            user_data = render_user_data(run.plan, slot.name, host_key)
            async with run.create_gate:
                node.facts = await create_server(
                    run.client, run.bus, run.plan, slot,
                    network=shared["network"], firewall=shared["firewall"],
                    placement_group=shared["placement_groups"][slot.placement_group], ssh_key=shared["ssh_key"],
                    user_data=user_data,
                )
        try:
            await _wait_created(run, node)
        except ActionFailed as exc:
            if attempt == CREATE_ATTEMPTS:
                raise
            run.bus.log(
                f"{exc.message}; deleting server {slot.name} and creating it again "
                f"(attempt {attempt + 1} of {CREATE_ATTEMPTS})", node=slot.name, level="warning",
            )
            await _delete_broken(run, node)
            node.facts, node.existed = None, False
            run.inv.servers.pop(slot.name, None)
            continue
        if node.existed and node.facts.status == "off":
            await _power_on(run, node)
        node.server_ok = True
        run.phase(node, "booting")
        return


async def _wait_created(run: ApplyProgress, node: Node) -> None:
    """Wait for the server's create action: the one this run started, or (for a server found not
    running: an earlier run stopped, or a create whose answer was lost) the one in its history."""
    f = node.facts
    assert f is not None
    what = f"creating server {node.slot.name}"
    action_id = f.action_id
    if action_id is None and f.status != "running":
        page = await run.client.call(
            run.client.hcloud.servers.get_actions_list, Server(id=f.id), what=f"reading the actions of server {f.name}"
        )
        for action in page.actions:
            if action.command != "create_server":
                continue
            if action.status == "error":
                err = action.error or {}
                raise ActionFailed(f"{what} failed: {err.get('message', 'unknown error')}", code=err.get("code"), what=what)
            if action.status == "running":
                action_id = action.id
    if action_id is not None:
        await run.client.wait_action(action_id, what=what)


async def _power_on(run: ApplyProgress, node: Node) -> None:
    """Start a server someone powered off. The plan asks for this node in the cluster, and the
    rerun would otherwise wait out the SSH deadline for a machine that cannot answer; powering
    on loses nothing (its disk and k3s data are kept), so apply does it and says so. A node meant
    to stay down is taken out of the plan (scale-down) instead."""
    f = node.facts
    assert f is not None
    what = f"powering on server {f.name}"
    run.bus.log(
        f"server {f.name} is powered off (stopped outside khz-tui); powering it on, because the plan "
        "has it in the cluster (lower the count in the plan to remove it instead)",
        node=f.name, level="warning",
    )
    action = await run.client.call(run.client.hcloud.servers.power_on, Server(id=f.id), what=what)
    if action is not None and getattr(action, "id", None) is not None:
        await run.client.wait_action(action.id, what=what)
    f.status = "running"
    node.powered_on = True


async def _delete_broken(run: ApplyProgress, node: Node) -> None:
    f = node.facts
    assert f is not None
    what = f"deleting the broken server {f.name}"
    try:
        action = await run.client.call(run.client.hcloud.servers.delete, Server(id=f.id), what=what)
    except CloudError as exc:
        if not exc.not_found:
            raise
        action = None
    if action is not None and getattr(action, "id", None) is not None:
        await run.client.wait_action(action.id, what=what)
    run.bus.emit(ResourceDeleted(resource_type="server", name=f.name, id=f.id))


def _maybe_servers_known(run: ApplyProgress) -> None:
    # The seed is chosen once every control plane's server is known to exist (see seed.find_seed).
    if all(n.server_ok for n in run.nodes.values() if n.slot.role == "control-plane"):
        run.servers_known.set()
