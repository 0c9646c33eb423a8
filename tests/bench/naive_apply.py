"""A naive apply strategy, for comparison with the engine (a benchmark script, not a test).

    .venv/bin/python tests/bench/naive_apply.py [--time-scale 0.2] [--only 3+2] [--json]

It is the engine's own apply, on the same simulator with the same durations, run with the `NAIVE`
schedule below instead of the default one. Only the strategy differs, in exactly three ways:

1. **Per-action polling.** Every action is waited on by its own loop of `GET /actions/{id}` at a
   constant interval (hcloud-python's `wait_until_finished` default: 1 s, scaled by the simulator's
   clock), instead of the engine's one batched `GET /actions?id=..` poller (`PerActionPollingClient`).
2. **Installs only after every server is up, workers only after the control plane.** Every server
   is created (the same 10 POSTs in flight) and reached over SSH before any k3s install starts;
   workers start joining only when every control plane is Ready (`NAIVE`).
3. **Serial joins.** One worker installs at a time (control planes join one at a time in any
   schedule: etcd admits one learner at once), instead of every worker joining as soon as the API
   answers (`NAIVE`).

Everything else is the engine itself, which makes this baseline a fair (not a straw-man) one:
infrastructure resources created concurrently, the load balancer alongside the servers, add-ons
installed as soon as the API answers, one readiness poller, the closing verify.

At the end it asserts, on the simulator's own k3s state, that every planned node is Ready in one
cluster, so the figures are for a working cluster.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a file: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import asyncssh

from khz_tui.engine.apply.flow import apply
from khz_tui.engine.apply.policy import DEFAULT_POLICY, WorkerStart
from khz_tui.engine.bus import EventBus
from khz_tui.engine.cloud.client import ActionFailed, CloudClient
from khz_tui.engine.cloud.names import cluster_selector, planned_nodes
from khz_tui.engine.cloud.node_access import probe_node_access
from khz_tui.engine.cluster_files import ClusterFiles
from khz_tui.engine.context import RunContext
from khz_tui.engine.events import EngineEvent, NodePhaseChanged
from khz_tui.engine.options import RunOptions
from khz_tui.plan.model import ClusterPlan
from khz_tui.sim.simulator import Simulator

#: The naive schedule: (2) every server up before any install, workers after the whole control plane;
#: (3) one worker joining at a time. Serial joins of many nodes take longer in all than the default
#: readiness deadline, which counts from the API answering.
NAIVE = replace(
    DEFAULT_POLICY,
    installs_wait_for_every_server=True,
    workers_start=WorkerStart.AFTER_CONTROL_PLANE,
    workers_joining_at_once=1,
    ready_deadline=4 * DEFAULT_POLICY.ready_deadline,
)
#: hcloud-python's default `poll_interval` for `wait_until_finished`, at time scale 1.
HCLOUD_POLL_INTERVAL = 1.0
#: Polls before giving up on one action (hcloud's default `poll_max_retries` is 120).
MAX_POLLS = 600


class PerActionPollingClient(CloudClient):
    """The engine's client, except that each action is polled on its own, like hcloud's
    `BoundAction.wait_until_finished`: `GET /actions/{id}`, sleep, repeat."""

    def __init__(self, *args: Any, poll_interval: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.poll_interval = poll_interval

    async def wait_action(self, action_id: int, *, what: str = "") -> dict[str, Any]:
        for _ in range(MAX_POLLS):
            action = await self.call(lambda: self.hcloud.actions.get_by_id(action_id), what=what or "waiting for an action")
            if action.status == "error":
                err = action.error
                raise ActionFailed(f"{what or action.command} failed: {err['message'] if err else 'unknown error'}",
                                   code=err["code"] if err else None, what=what)
            if action.status == "success":
                return {"id": action.id, "status": action.status, "command": action.command}
            await asyncio.sleep(self.poll_interval)
        raise TimeoutError(f"{what}: action {action_id} still running after {MAX_POLLS} polls")


def sim_ready_names(sim: Simulator, cluster: str) -> set[str]:
    """Names of the nodes the simulator's own k3s reports Ready, in the cluster holding `cluster`'s servers."""
    ids = {s.id for s in sim.inspect.servers(cluster_selector(cluster))}
    found = sim.inspect.k3s_clusters(ids)
    return found[0].ready_nodes if found else set()


async def naive_apply(plan: ClusterPlan, sim: Simulator, scale: float, state_dir: Path,
                      sink: Callable[[EngineEvent], None] = lambda event: None) -> dict[str, Any]:
    """Apply `plan` to `sim` the naive way; return figures (after checking the sim's k3s)."""
    all_ready: float | None = None
    phases: list[tuple[str, str, float]] = []
    total = len(planned_nodes(plan))
    current: dict[str, str] = {}

    def on_event(event: EngineEvent) -> None:
        nonlocal all_ready
        if isinstance(event, NodePhaseChanged):
            phases.append((event.node, event.phase, event.elapsed))
            current[event.node] = event.phase
            if all_ready is None and len(current) == total and all(p == "ready" for p in current.values()):
                all_ready = event.elapsed
        sink(event)

    bus = EventBus(on_event)
    bus.add_secret(sim.token)
    client = PerActionPollingClient(sim.endpoint, sim.token, bus.usage, poll_interval=HCLOUD_POLL_INTERVAL * scale)
    started = time.monotonic()
    try:
        access = await probe_node_access(client, ssh_port=plan.ssh.port)
        ctx = RunContext(plan=plan, client=client, bus=bus, access=access, files=ClusterFiles(plan.name, base=state_dir),
                         options=RunOptions(kubeconfig=state_dir / f"{plan.name}.kubeconfig"), hcloud_token=sim.token,
                         time_scale=scale)
        await apply(ctx, policy=NAIVE)
    finally:
        client.close()
    wall = time.monotonic() - started
    ready = sim_ready_names(sim, plan.name)
    missing = sorted({s.name for s in planned_nodes(plan)} - ready)
    assert not missing, f"naive run ended but the simulated k3s does not report these Ready: {missing}"
    return {"nodes": total, "ready": all_ready or wall, "wall": wall, "requests": sim.request_count,
            "mutating": sim.mutating_request_count, "throttled": bus.usage.throttled,
            "sim_ready": len(ready), "phases": phases}


def bench_keys(base: Path) -> tuple[Path, Path]:
    key = asyncssh.generate_private_key("ssh-ed25519")
    (base / "id").write_bytes(key.export_private_key("openssh"))
    (base / "id").chmod(0o600)
    (base / "id.pub").write_bytes(key.export_public_key("openssh"))
    return base / "id", base / "id.pub"


def make_plan(name: str, cp: int, workers: int, keys: tuple[Path, Path]) -> ClusterPlan:
    return ClusterPlan.model_validate({
        "name": name,
        "ssh": {"public_key": str(keys[1]), "private_key": str(keys[0])},
        "control_plane": {"count": cp},
        "worker_pools": [{"name": "pool", "count": workers}] if workers else [],
    })


TOPOLOGIES = {"1": (1, 0), "3+2": (3, 2), "3+20": (3, 20), "3+97": (3, 97)}


async def one(label: str, scale: float, keys: tuple[Path, Path], state: Path) -> dict[str, Any]:
    cp, workers = TOPOLOGIES[label]
    plan = make_plan(f"naive-{label.replace('+', '-')}", cp, workers, keys)
    async with Simulator(time_scale=scale, seed=5) as sim:  # the engine benchmark's simulator settings
        figures = await naive_apply(plan, sim, scale, state)
    return {"label": label, **figures}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--time-scale", type=float, default=0.2)
    parser.add_argument("--only", choices=list(TOPOLOGIES), action="append")
    parser.add_argument("--json", action="store_true", help="print one JSON object (rows with phase timelines)")
    args = parser.parse_args()
    labels = args.only or ["3+2", "3+20"]
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        os.environ["HOME"] = str(base)
        keys = bench_keys(base)
        await one("1", args.time_scale, keys, base / "warm-up")  # imports and first-use crypto; not measured
        rows = [await one(label, args.time_scale, keys, base / "state") for label in labels]
    if args.json:
        print(json.dumps({"time_scale": args.time_scale, "rows": rows}))
        return
    print(f"naive strategy, time scale {args.time_scale}\n")
    print(f"{'topology':>9} {'nodes':>5} {'all Ready':>10} {'requests':>9} {'mutating':>8} {'429s':>5} {'Ready in sim':>12}")
    for r in rows:
        print(f"{r['label']:>9} {r['nodes']:>5} {r['ready']:>9.2f}s {r['requests']:>9} {r['mutating']:>8} "
              f"{r['throttled']:>5} {r['sim_ready']:>12}")


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
