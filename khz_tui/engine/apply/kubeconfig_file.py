"""The last step: the seed's kubeconfig, pointed at the API load balancer (or the seed), written 0600
and optionally merged into ~/.kube/config."""

from __future__ import annotations

from pathlib import Path

from khz_tui.engine.apply.progress import ApplyProgress
from khz_tui.engine.events import KubeconfigWritten
from khz_tui.engine.nodes import kubeconfig
from khz_tui.engine.requests import API_PORT


async def write_kubeconfig(run: ApplyProgress) -> None:
    """Fetch the seed's kubeconfig, point it at the load balancer (or the seed), write it and report it."""
    seed = run.seed_node()
    raw = await run.retrying(seed.session, kubeconfig.fetch_kubeconfig)
    host = run.milestones.load_balancer.value().public or seed.facts.public_ipv4
    server_url = f"https://{host}:{API_PORT}"
    text = kubeconfig.rewrite_kubeconfig(raw, run.plan.name, server_url)
    path = run.ctx.options.kubeconfig or run.ctx.files.kubeconfig_path
    kubeconfig.write_kubeconfig(text, Path(path))
    if run.ctx.options.merge_kubeconfig:
        kubeconfig.merge_kubeconfig(text, kubeconfig.default_merge_target())
    # The simulator serves a simulated cluster's API on this very address too, so the command is
    # the same for both.
    run.bus.emit(KubeconfigWritten(path=str(path), context=run.plan.name, server=server_url,
        command=f"kubectl --kubeconfig {path} get nodes",
    ))
