"""Installing k3s on a node: the seed's first server (`cluster-init`), further servers and agents
joining it. Every step is safe to rerun: a node where k3s already runs is left as it is."""

from __future__ import annotations

import asyncio
import random

from khz_tui.engine.bus import EventBus
from khz_tui.engine.nodes import k3s_unit
from khz_tui.engine.nodes.cluster_token import register_token
from khz_tui.engine.nodes.k3s_config import CONFIG_PATH, NodeFacts, installer_command, render_k3s_config
from khz_tui.engine.nodes.network_interface import detect_private_iface
from khz_tui.engine.nodes.session import CommandFailed, CommandResult, NodeSession
from khz_tui.plan.model import ClusterPlan

INSTALL_TIMEOUT = 900.0
LEARNER_ERROR = "too many learner members"
#: Join attempts while etcd still has a learner (another server is being promoted).
LEARNER_ATTEMPTS = 8


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
    register_token(bus, token)
    if await k3s_unit.is_running(session, "control-plane" if server else "worker"):
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
            f"Look at {CONFIG_PATH} on {node.name} and `journalctl -u k3s` on the node; the step is safe to rerun.",
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
    attempts: int = LEARNER_ATTEMPTS,
) -> None:
    """Join a further control plane to the cluster at `join_url`. Call for one server at a time:
    etcd admits one learner at once; if another is still being promoted ("too many learner
    members") the install is tried again with backoff, up to `attempts` times in all."""
    if not await _configure(session, plan, node, server=True, token=token, join_url=join_url, tls_sans=tls_sans, bus=bus):
        return
    delay = retry_delay
    for attempt in range(1, attempts + 1):
        bus.log(f"joining {node.name} as a server via {join_url} (attempt {attempt})", node=node.name)
        result = await _install(session, plan, "control-plane")
        if result.exit_status == 0:
            return
        if attempt < attempts and await _learner_busy(session, result):
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
