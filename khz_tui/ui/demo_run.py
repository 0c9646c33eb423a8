"""A scripted, deterministic engine run: for screenshots, snapshot tests and the benchmark.

It follows the engine's event stream for a plan (the same node names, phases and steps) without any
cloud, clock or randomness, so the run console can be shown mid-run and at the end, always the same.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from khz_tui.engine.api import Confirm, EventSink
from khz_tui.engine.events import (
    NODE_PHASES,
    Change,
    EngineEvent,
    KubeconfigWritten,
    LogLine,
    NodePhaseChanged,
    NodePlanned,
    PlanDiffed,
    RunFinished,
    RunMode,
    RunStarted,
    StepFailed,
    StepFinished,
    StepStarted,
)
from khz_tui.plan.model import ClusterPlan
from khz_tui.ui.engine_runs import Runner, RunnerFactory


def demo_nodes(plan: ClusterPlan) -> list[NodePlanned]:
    nodes = [
        NodePlanned(node=f"{plan.name}-cp-{i + 1}", role="control-plane", pool="control-plane",
                    server_type=plan.control_plane.server_type, location=loc)
        for i, loc in enumerate(plan.control_plane_locations())
    ]
    for pool in plan.worker_pools:
        nodes += [
            NodePlanned(node=f"{plan.name}-{pool.name}-{i + 1}", role="worker", pool=pool.name,
                        server_type=pool.server_type, location=plan.pool_location(pool))
            for i in range(pool.count)
        ]
    return nodes


def demo_apply(plan: ClusterPlan, *, fail_node: int | None = None) -> list[EngineEvent]:
    """A whole apply; with `fail_node`, that node's install fails and the run ends with the failure."""
    nodes = demo_nodes(plan)
    out: list[EngineEvent] = [RunStarted(cluster=plan.name, mode="apply", endpoint="http://127.0.0.1:8080/v1",
                                         simulated=True, node_count=len(nodes))]
    t, requests = 0.0, 0

    def stamp(event_type: type, **fields) -> EngineEvent:
        return event_type(elapsed=round(t, 1), api_requests=requests, rate_limit_remaining=3600 - requests, **fields)

    for step, title in (("infrastructure", "Create the private network"), ("load-balancer", "Create the firewall")):
        out.append(stamp(StepStarted, step=step, title=title))
        requests += 2
        t += 1.5
        out.append(stamp(StepFinished, step=step, title=title, duration=1.5))
    out += nodes
    out.append(stamp(StepStarted, step="servers", title="Create servers and install k3s"))
    for phase_no, phase in enumerate(NODE_PHASES[1:], start=1):
        for n, node in enumerate(nodes):
            t += 0.7
            requests += 1
            ips = {"public_ip": f"203.0.113.{10 + n}", "private_ip": f"10.0.1.{2 + n}"} if phase == "booting" else {}
            if fail_node == n and phase == "installing":
                out.append(stamp(NodePhaseChanged, node=node.node, phase="failed", reason="k3s install exited 1"))
                out.append(stamp(StepFailed, step="servers", title="Create servers and install k3s",
                                 message=f"{node.node}: k3s install script exited with status 1",
                                 hint="look at the node's log lines; apply again to retry from this step"))
                out.append(stamp(RunFinished, mode="apply", ok=False, message="a node failed to install k3s",
                                 nodes_ready=0, nodes_total=len(nodes), failed_step="servers"))
                return out
            out.append(stamp(NodePhaseChanged, node=node.node, phase=phase, **ips))
            out.append(stamp(LogLine, node=node.node, stream="stdout", text=f"{phase}: ok (step {phase_no})"))
    out.append(stamp(StepFinished, step="servers", title="Create servers and install k3s", duration=t))
    path = f"~/.local/state/khz-tui/{plan.name}/kubeconfig"
    out.append(stamp(KubeconfigWritten, path=path, context=plan.name, server="https://203.0.113.9:6443",
                     command=f"kubectl --kubeconfig {path} get nodes"))
    out.append(stamp(RunFinished, mode="apply", ok=True, message=f"cluster {plan.name} is ready",
                     nodes_ready=len(nodes), nodes_total=len(nodes)))
    return out


def demo_dry_run(plan: ClusterPlan) -> list[EngineEvent]:
    changes = [Change(action="create", resource_type="network", name=f"{plan.name}"),
               Change(action="create", resource_type="firewall", name=f"{plan.name}")]
    changes += [Change(action="create", resource_type="server", name=n.node, detail=n.server_type)
                for n in demo_nodes(plan)]
    if plan.load_balancer.enabled:
        changes.append(Change(action="create", resource_type="load balancer", name=f"{plan.name}-api"))
    return [RunStarted(cluster=plan.name, mode="dry-run", endpoint="http://127.0.0.1:8080/v1", simulated=True,
                       node_count=len(demo_nodes(plan))),
            PlanDiffed(changes=changes),
            RunFinished(mode="dry-run", ok=True, message=f"{len(changes)} to create", api_requests=6,
                        rate_limit_remaining=3594)]


def demo_destroy(plan: ClusterPlan) -> list[EngineEvent]:
    nodes = demo_nodes(plan)
    out: list[EngineEvent] = [RunStarted(cluster=plan.name, mode="destroy", endpoint="http://127.0.0.1:8080/v1",
                                         simulated=True, node_count=len(nodes))]
    for n, node in enumerate(nodes):
        out.append(NodePhaseChanged(node=node.node, phase="deleting", elapsed=n * 0.5, api_requests=n))
        out.append(NodePhaseChanged(node=node.node, phase="deleted", elapsed=n * 0.5 + 0.4, api_requests=n + 1))
    out.append(RunFinished(mode="destroy", ok=True, message=f"cluster {plan.name} is gone", elapsed=len(nodes) * 0.5))
    return out


def demo_destroy_question(plan: ClusterPlan) -> str:
    """The engine's question before deleting (destroy.py), for the demo's inventory."""
    parts = [f"{len(demo_nodes(plan))} servers"]
    if plan.load_balancer.enabled:
        parts.append("1 load balancers")
    parts += ["1 networks", "1 firewalls", "1 ssh keys"]
    return f"Delete cluster {plan.name!r} ({', '.join(parts)})? This cannot be undone."


def demo_destroy_runner(plan: ClusterPlan) -> Runner:
    """Asks the engine's question first, as a real destroy does; deletes nothing when told no."""
    script = scripted_runner(demo_destroy(plan))

    async def run(sink: EventSink, confirm: Confirm) -> RunFinished:
        if not await confirm(demo_destroy_question(plan)):
            finished = RunFinished(mode="destroy", ok=False, message=f"destroying {plan.name!r} was not confirmed; "
                                   "nothing was deleted")
            sink(finished)
            return finished
        return await script(sink, confirm)

    return run


def scripted_runner(events: Iterable[EngineEvent], *, pause_every: int = 0, pause: float = 0.0) -> Runner:
    """A runner that sends `events` in order; with `pause_every`, it yields to the UI now and then."""
    script = list(events)

    async def run_script(sink: EventSink, confirm: Confirm) -> RunFinished:
        finished = RunFinished(mode="apply", ok=False, message="the script ended without RunFinished")
        for i, event in enumerate(script, start=1):
            sink(event)
            if isinstance(event, RunFinished):
                finished = event
            if pause_every and i % pause_every == 0:
                await asyncio.sleep(pause)
        return finished

    return run_script


def demo_runner_factory(*, fail_node: int | None = None) -> RunnerFactory:
    def factory(mode: RunMode, plan: ClusterPlan) -> Runner:
        if mode == "dry-run":
            return scripted_runner(demo_dry_run(plan))
        if mode == "destroy":
            return demo_destroy_runner(plan)
        return scripted_runner(demo_apply(plan, fail_node=fail_node))

    return factory
