"""k3s on the nodes: install the first server, join servers and agents, wait for Ready, add-ons.

Every step works over a verified `NodeSession` and is safe to rerun: an installed k3s is detected and
left alone, the join token is read back from a live server rather than minted anew, and manifests are
applied with `kubectl apply`. The join token travels only inside /etc/rancher/k3s/config.yaml
(written 0600 over SFTP) and is registered with the EventBus so no event can show it.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
from collections.abc import Callable, Collection
from dataclasses import dataclass

import yaml

from khz_tui.engine.bus import EventBus
from khz_tui.engine.nodes import cluster_api
from khz_tui.engine.nodes.addons import Addon, addon_list, cni_addon, hcloud_secret
from khz_tui.engine.nodes.k3s_config import CONFIG_PATH, NodeFacts, installer_command, render_k3s_config
from khz_tui.engine.nodes.session import CommandFailed, CommandResult, NodeError, NodeSession
from khz_tui.plan.model import ClusterPlan

NODE_TOKEN_PATH = "/var/lib/rancher/k3s/server/node-token"
KUBECONFIG_PATH = "/etc/rancher/k3s/k3s.yaml"
KUBECTL = "k3s kubectl"
INSTALL_TIMEOUT = 900.0
LEARNER_ERROR = "too many learner members"
#: Join attempts while etcd still has a learner (another server is being promoted).
LEARNER_ATTEMPTS = 8
_INET = re.compile(r"^\d+:\s+(?P<iface>\S+)\s+inet\s+(?P<addr>[0-9.]+)/\d+")


class NodesNotReady(NodeError):
    """Some nodes did not report Ready in time; `pending` names them."""

    def __init__(self, message: str, *, node: str, address: str, pending: list[str]) -> None:
        super().__init__(message, node=node, address=address)
        self.pending = pending


def _config_path_note(node: NodeFacts) -> str:
    return f"{CONFIG_PATH} on {node.name}"


async def detect_private_iface(
    session: NodeSession, private_ip: str, *, timeout: float = 60.0, interval: float = 2.0
) -> str:
    """The interface holding `private_ip` (enp7s0 on current Hetzner images, eth1 on some), from
    `ip -o -4 addr show`. Waits up to `timeout` for the private network's DHCP to finish."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while True:
        result = await session.run("ip -o -4 addr show", stream=False, timeout=30)
        for line in result.stdout.splitlines():
            match = _INET.match(line.strip())
            if match and match.group("addr") == private_ip:
                return match.group("iface")
        if loop.time() >= end:
            raise session.failure(
                f"{session.node} ({session.endpoint}) has no interface with its private address {private_ip}. "
                "Check that the server is attached to the cluster's network (Hetzner console, Networks tab).",
                command="ip -o -4 addr show", result=result,
            )
        await asyncio.sleep(interval)


async def is_installed(session: NodeSession, role: str) -> bool:
    """Whether k3s already runs on the node (`systemctl is-active k3s` / `k3s-agent`)."""
    unit = "k3s" if role in ("control-plane", "server") else "k3s-agent"
    result = await session.run(f"systemctl is-active {unit}", check=False, stream=False, timeout=60)
    return result.exit_status == 0 and result.stdout.strip() == "active"


@dataclass(frozen=True)
class TokenState:
    """What a control plane says about the cluster token."""

    token: str | None
    started: bool
    """k3s wrote its node-token: this server has been part of a running cluster (it holds cluster
    data), unlike a node where only an installer was started with a token in config.yaml."""


async def read_token_state(session: NodeSession) -> TokenState:
    """The cluster's join token as this server knows it (None when no run ever installed k3s there).
    A resumed run must use this one: a freshly minted token would not let new nodes join.

    The node-token file exists once k3s has started. Before that, a config.yaml with a `token`
    means an earlier run already started the installer with it (and may have been killed while
    k3s was still starting): k3s will come up with that token, so it is the one to keep."""
    text = await session.read_file(NODE_TOKEN_PATH)
    token = text.strip() if text else ""
    started = bool(token)
    if not token:
        config = await session.read_file(CONFIG_PATH)
        try:
            data = yaml.safe_load(config) if config else None
        except yaml.YAMLError:
            data = None
        value = data.get("token") if isinstance(data, dict) else None
        token = value.strip() if isinstance(value, str) else ""
    if not token:
        return TokenState(None, False)
    _register_token(session.bus, token)
    return TokenState(token, started)


async def read_cluster_token(session: NodeSession) -> str | None:
    """The join token from `read_token_state`, whether k3s has started or only its installer."""
    return (await read_token_state(session)).token


def _register_token(bus: EventBus, token: str) -> None:
    bus.add_secret(token)
    # A full token is K10<CA hash>::<user>:<password>; the password alone is a secret too.
    if "::" in token:
        bus.add_secret(token.split("::", 1)[1])
        bus.add_secret(token.rsplit(":", 1)[-1])


async def _write_config(session: NodeSession, text: str) -> None:
    await session.run("mkdir -p /etc/rancher/k3s", timeout=60, stream=False)
    await session.write_file(CONFIG_PATH, text, mode=0o600)


async def _install(session: NodeSession, plan: ClusterPlan, role: str) -> CommandResult:
    command, _secret_env = installer_command(plan, role)  # the token is in config.yaml: no secret env
    return await session.run(command, timeout=INSTALL_TIMEOUT, check=False)


def _install_failure(
    session: NodeSession, plan: ClusterPlan, node: NodeFacts, result: CommandResult, hint: str
) -> CommandFailed:
    tail = "\n".join([ln for ln in (result.stderr + result.stdout).splitlines() if ln.strip()][-8:])
    return CommandFailed(
        f"the k3s installer failed on {node.name} ({session.endpoint}) with exit status {result.exit_status}: "
        f"{session.bus.scrub(tail) or 'no output'}. {hint}",
        node=node.name,
        address=str(session.endpoint),
        command=installer_command(plan, node.role)[0],
        result=result,
    )


async def _configure(
    session: NodeSession,
    plan: ClusterPlan,
    node: NodeFacts,
    *,
    server: bool,
    token: str,
    join_url: str | None,
    tls_sans: list[str],
    bus: EventBus,
) -> bool:
    """Write the node's k3s config.yaml (the first server's when `join_url` is None); False, with
    nothing written, when k3s already runs there (a rerun leaves an installed node as it is)."""
    _register_token(bus, token)
    if await is_installed(session, "control-plane" if server else "worker"):
        bus.log(f"k3s{'' if server else ' agent'} already runs on {node.name}; leaving it as it is", node=node.name)
        return False
    iface = await detect_private_iface(session, node.private_ip)
    config = render_k3s_config(
        plan, node, first=join_url is None, join_url=join_url, tls_sans=tls_sans, private_iface=iface, token=token
    )
    await _write_config(session, config)
    return True


async def install_first_server(
    session: NodeSession,
    plan: ClusterPlan,
    node: NodeFacts,
    *,
    token: str,
    tls_sans: list[str],
    bus: EventBus,
) -> None:
    """Start the cluster on its first control plane (`cluster-init`), with `token` as the join token.
    Does nothing when k3s already runs there (resume: read its token with `read_cluster_token`)."""
    if not await _configure(session, plan, node, server=True, token=token, join_url=None, tls_sans=tls_sans, bus=bus):
        return
    bus.log(f"installing k3s server on {node.name} (cluster-init)", node=node.name)
    result = await _install(session, plan, "control-plane")
    if result.exit_status != 0:
        raise _install_failure(
            session, plan, node, result,
            f"Look at {_config_path_note(node)} and `journalctl -u k3s` on the node; the step is safe to rerun.",
        )


async def _learner_busy(session: NodeSession, result: CommandResult) -> bool:
    if LEARNER_ERROR in result.stdout + result.stderr:
        return True
    # On a real node the installer only says the unit failed; the reason is in the journal.
    journal = await session.run("journalctl -u k3s -n 50 --no-pager", check=False, stream=False, timeout=60)
    return journal.exit_status == 0 and LEARNER_ERROR in journal.stdout


async def join_server(
    session: NodeSession,
    plan: ClusterPlan,
    node: NodeFacts,
    *,
    token: str,
    join_url: str,
    tls_sans: list[str],
    bus: EventBus,
    retry_delay: float = 5.0,
) -> None:
    """Join a further control plane to the cluster at `join_url`. Call for one server at a time:
    etcd admits one learner at once; if another is still being promoted ("too many learner
    members") the install is retried with backoff, a bounded number of times."""
    if not await _configure(session, plan, node, server=True, token=token, join_url=join_url, tls_sans=tls_sans, bus=bus):
        return
    delay = retry_delay
    for attempt in range(1, LEARNER_ATTEMPTS + 1):
        bus.log(f"joining {node.name} as a server via {join_url} (attempt {attempt})", node=node.name)
        result = await _install(session, plan, "control-plane")
        if result.exit_status == 0:
            return
        if attempt < LEARNER_ATTEMPTS and await _learner_busy(session, result):
            bus.log(
                f"etcd is still promoting another server; {node.name} retries in {delay:.0f}s",
                node=node.name,
                level="warning",
            )
            await asyncio.sleep(delay * random.uniform(0.8, 1.2))
            delay = min(delay * 2, 60.0)
            continue
        raise _install_failure(
            session, plan, node, result,
            "Check that the join token matches the cluster's (on a rerun it is read back from a control "
            f"plane that runs the cluster) and that {join_url} is reachable over the private network.",
        )


async def join_agent(
    session: NodeSession,
    plan: ClusterPlan,
    node: NodeFacts,
    *,
    token: str,
    join_url: str,
    bus: EventBus,
) -> None:
    """Join a worker to the cluster at `join_url` (agents may join in parallel)."""
    if not await _configure(session, plan, node, server=False, token=token, join_url=join_url, tls_sans=[], bus=bus):
        return
    bus.log(f"joining {node.name} as an agent via {join_url}", node=node.name)
    result = await _install(session, plan, "worker")
    if result.exit_status != 0:
        raise _install_failure(
            session, plan, node, result,
            f"Check that the join token matches the cluster's and that {join_url} is reachable over the "
            "private network; `journalctl -u k3s-agent` on the node tells more.",
        )


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
        ready = next((c for c in conditions if c.get("type") == "Ready"), {})
        is_ready = ready.get("status") == "True"
        why = "" if is_ready else ": ".join(
            str(p) for p in (f"Ready={ready.get('status', 'missing')}", ready.get("reason"), ready.get("message")) if p)
        found[name] = NodeCondition(is_ready, why)
    return found


async def node_readiness(session: NodeSession) -> dict[str, bool]:
    """Every node the cluster knows, and whether its Ready condition is True."""
    return {name: c.ready for name, c in (await node_conditions(session)).items()}


async def wait_nodes_ready(
    session: NodeSession,
    names: list[str],
    *,
    timeout: float,
    bus: EventBus,
    on_ready: Callable[[str], None] | None = None,
    interval: float = 2.0,
) -> None:
    """Poll the API until every node in `names` is Ready, calling `on_ready(name)` once per node as it
    turns Ready. An API that does not answer yet (server still starting) is waited for, not fatal.
    Raises NodesNotReady naming the stragglers after `timeout` seconds."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    pending = list(dict.fromkeys(names))
    last_error = ""
    while True:
        try:
            readiness = await node_readiness(session)
            last_error = ""
        except CommandFailed as exc:
            readiness = {}
            last_error = str(exc)
        for name in list(pending):
            if readiness.get(name):
                pending.remove(name)
                bus.log(f"{name} is Ready", node=name)
                if on_ready is not None:
                    on_ready(name)
        if not pending:
            return
        if loop.time() >= end:
            known = [n for n in pending if n in readiness]
            missing = [n for n in pending if n not in readiness]
            detail = []
            if known:
                detail.append(f"not Ready: {', '.join(known)}")
            if missing:
                detail.append(f"never registered: {', '.join(missing)}")
            if last_error:
                detail.append(f"last error: {bus.scrub(last_error)}")
            raise NodesNotReady(
                f"after {timeout:.0f}s {len(pending)} node(s) are not Ready ({'; '.join(detail)}). "
                f"`kubectl describe node` shows why (CNI, cloud controller, kubelet).",
                node=session.node,
                address=str(session.endpoint),
                pending=pending,
            )
        await asyncio.sleep(min(interval, max(0.0, end - loop.time())))


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
    bus.log(f"Kubernetes still lists {node_name} from a server that no longer exists; deleting that Node "
            "object so the new server can join under the same name", node=node_name)
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


async def _apply(session: NodeSession, manifest: str) -> None:
    # The manifest goes on stdin: never on a command line, never into an event. Right after the
    # first server starts, k3s may not have registered HelmChart yet: that is waited for (bounded).
    await cluster_api.apply_manifest(session, manifest)


async def install_cni(session: NodeSession, plan: ClusterPlan, *, bus: EventBus) -> str | None:
    """Install Cilium or Calico when the plan chooses one; returns its name, or None for flannel.
    With these CNIs nodes stay NotReady until this runs, so call it right after the first server."""
    addon = cni_addon(plan)
    if addon is None:
        return None
    bus.log(f"installing {addon.name}", node=session.node)
    await _apply(session, addon.manifest())
    return addon.name


async def install_addons(
    session: NodeSession, plan: ClusterPlan, *, hcloud_token: str, network: str, bus: EventBus
) -> list[str]:
    """Apply the `hcloud` Secret (token + network, on stdin only) and every add-on the plan asks for;
    returns the names installed. Safe to rerun: everything goes through `kubectl apply`."""
    bus.add_secret(hcloud_token)
    installed: list[str] = []
    if plan.addons.cloud_controller or plan.storage.hcloud_csi:
        await _apply(session, hcloud_secret(hcloud_token, network))
        installed.append("hcloud-secret")
    addons: list[Addon] = addon_list(plan)
    for addon in addons:
        bus.log(f"installing {addon.name}", node=session.node)
        await _apply(session, addon.manifest())
        installed.append(addon.name)
    return installed


async def fetch_kubeconfig(session: NodeSession) -> str:
    """The admin kubeconfig k3s wrote on this server (it holds a client key: never logged)."""
    text = await session.read_file(KUBECONFIG_PATH)
    if not text:
        raise session.failure(
            f"{KUBECONFIG_PATH} does not exist on {session.node} ({session.endpoint}); k3s has not finished starting",
            command=f"read {KUBECONFIG_PATH}",
        )
    _register_kubeconfig_secrets(session.bus, text)
    return text


def _register_kubeconfig_secrets(bus: EventBus, text: str) -> None:
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError:
        return
    for user in data.get("users") or []:
        creds = (user or {}).get("user") or {}
        for key in ("client-key-data", "token", "password"):
            if isinstance(creds.get(key), str):
                bus.add_secret(creds[key])
