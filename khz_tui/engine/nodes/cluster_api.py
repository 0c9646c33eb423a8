"""Two questions apply asks a running first server: which k3s release it runs, and whether the
cluster's API already knows the HelmChart kind (k3s registers its CRDs a moment after it starts)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from khz_tui.engine.nodes.k3s_config import VERSION_COMMAND, parse_installed_version
from khz_tui.engine.nodes.session import CommandFailed, NodeSession

KUBECTL_APPLY = "k3s kubectl apply -f -"
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
