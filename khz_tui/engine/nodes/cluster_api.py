"""Asking the cluster through `k3s kubectl` over SSH on a control plane: which k3s release a server
runs, applying manifests while k3s still registers its CRDs (HelmChart right after the first server
starts), and opening a session on a running control plane whose host key this machine pinned (for
destroy's release of add-on resources and for verify)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from khz_tui.engine.cloud.names import ROLE_LABEL
from khz_tui.engine.nodes.k3s_config import VERSION_COMMAND, parse_installed_version
from khz_tui.engine.nodes.session import CommandFailed, CommandResult, NodeError, NodeSession, SshEndpoint

if TYPE_CHECKING:
    from khz_tui.engine.context import RunContext

KUBECTL = "k3s kubectl"
KUBECTL_APPLY = f"{KUBECTL} apply -f -"
#: kubectl's words when a document's kind has no CRD (yet): "no matches for kind "HelmChart" in
#: version "helm.cattle.io/v1"" and, from kubectl 1.26 on, "ensure CRDs are installed first".
_MISSING_KIND = ("no matches for kind", "ensure CRDs are installed first",
                 "the server could not find the requested resource")
#: Attempts and pause while the kinds are missing: k3s' helm controller registers them within
#: seconds of starting; a minute at time scale 1 is plenty, and then the real error is shown.
CRD_ATTEMPTS = 30
CRD_INTERVAL = 2.0


def missing_kind(output: str) -> bool:
    """Whether kubectl refused a manifest because a kind it names is not registered yet."""
    return any(marker in output for marker in _MISSING_KIND)


async def installed_version(session: NodeSession) -> str:
    """The exact k3s release on the node (`k3s --version`)."""
    result = await session.run(VERSION_COMMAND, stream=False, timeout=60)
    version = parse_installed_version(result.stdout)
    if version is None:
        raise session.failure(
            f"`{VERSION_COMMAND}` on {session.node} named no k3s release: {result.stdout.strip()[:200]!r}",
            command=VERSION_COMMAND, result=result,
        )
    return version


async def retry_while_kinds_missing(
    attempt: Callable[[], Awaitable[None]], *, attempts: int = CRD_ATTEMPTS, interval: float = CRD_INTERVAL,
    on_wait: Callable[[int], None] | None = None,
) -> None:
    """Run `attempt` until it does not fail for a missing kind, at most `attempts` times with
    `interval` seconds between; any other failure, or the last one, is raised as it is."""
    for n in range(1, attempts + 1):
        try:
            await attempt()
            return
        except CommandFailed as exc:
            result = exc.result
            output = f"{exc}\n{result.stdout}\n{result.stderr}" if result is not None else str(exc)
            if n == attempts or not missing_kind(output):
                raise
            if on_wait is not None:
                on_wait(n)
            await asyncio.sleep(interval)


async def apply_manifest(session: NodeSession, manifest: str, *, interval: float = CRD_INTERVAL) -> None:
    """`kubectl apply` of `manifest` on stdin (never on a command line), waiting (bounded) for kinds
    the cluster has not registered yet, such as HelmChart right after the first server started."""

    async def once() -> None:
        await session.run(KUBECTL_APPLY, stdin=manifest, timeout=300)

    def waiting(n: int) -> None:
        session.bus.log(f"the cluster does not know every kind in the manifest yet (k3s is still registering its "
                        f"CRDs); trying again ({n}/{CRD_ATTEMPTS})", node=session.node)

    await retry_while_kinds_missing(once, interval=interval, on_wait=waiting)


def pinned_control_planes(ctx: RunContext, servers: Iterable[Any]) -> list[Any]:
    """Running control planes (hcloud servers) whose host key this machine pinned, by name: only
    those can be reached without trusting an unknown key."""
    return [s for s in sorted(servers, key=lambda s: s.name)
            if (s.labels or {}).get(ROLE_LABEL) == "control-plane" and s.status == "running"
            and ctx.files.has_host_key(s.name)]


async def open_control_plane(ctx: RunContext, server: Any, *, deadline: float) -> NodeSession:
    """A host-key-verified session on `server` (a running control plane with a pinned key), retried
    until `deadline` seconds; cloud-init is not waited for (the node was set up long ago)."""
    from khz_tui.engine.cloud.servers import server_facts

    facts = server_facts(server, None)
    endpoint = await ctx.access.endpoint(ctx.client, facts.id, facts.public_ipv4)
    host_key = ctx.files.pinned_host_key(server.name)
    if host_key is None:
        raise NodeError(f"this machine holds no host key for {server.name}", node=server.name, address=str(endpoint))
    return await NodeSession.connect(
        node=server.name, endpoint=SshEndpoint(endpoint.host, endpoint.port), host_key=host_key,
        client_key=Path(ctx.plan.ssh.private_key).expanduser(), bus=ctx.bus, deadline=deadline,
        wait_cloud_init=False, retry_interval=ctx.scaled(1.0), max_interval=ctx.scaled(2.0, floor=0.05),
    )


async def kubectl(session: NodeSession, args: str, *, timeout: float = 60.0, stdin: str | None = None) -> CommandResult:
    """`k3s kubectl ARGS` on the node; its exit status is the caller's to judge (not raised), its
    output is not streamed into the run's events."""
    return await session.run(f"{KUBECTL} {args}", stdin=stdin, timeout=timeout, check=False, stream=False)

