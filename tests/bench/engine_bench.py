"""Engine benchmark (a script, not a test): how close apply gets to the critical path.

For each topology it runs a real apply against an in-process simulator at the simulator's realistic
durations, time-scaled, and prints:

- wall time until every node is Ready (from RunStarted to the last node's `ready` phase),
- the critical-path lower bound computed from the same durations (what no engine could beat given
  the order etcd and k3s impose), and their ratio (target <= 1.10),
- API requests in total and per node beyond the single-node run's fixed overhead (target <= 4),
- 429 answers seen (target 0).

    .venv/bin/python tests/bench/engine_bench.py [--time-scale 0.05] [--only 3+2] [--json]

With --json it prints one JSON object whose rows also carry each node's phase timeline
(node, phase, elapsed seconds) from the NodePhaseChanged events, for tests/bench/phase_plot.py.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import asyncssh

from khz_tui.engine.api import Target, run
from khz_tui.engine.events import EngineEvent, NodePhaseChanged
from khz_tui.engine.options import RunOptions
from khz_tui.plan.model import ClusterPlan
from khz_tui.sim.api.config import Durations
from khz_tui.sim.k3s import service as k3s
from khz_tui.sim.simulator import Simulator

TOPOLOGIES = {"1": (1, 0), "3+2": (3, 2), "3+20": (3, 20), "3+97": (3, 97)}
#: The simulated installer's download step before k3s starts (seconds at scale 1).
INSTALL_DOWNLOAD = 1.0


def lower_bound(control_planes: int, workers: int, d: Durations) -> float:
    """Critical path at time scale 1, from the simulator's own durations.

    SSH answers after create + boot; the first server installs (download + cluster-init); it must be
    Ready before further servers join, which etcd admits one at a time; workers join once the API
    answers; every node is Ready a fixed delay after it joined."""
    ssh_up = d.server_create + d.server_boot
    install = INSTALL_DOWNLOAD + k3s.FIRST_SERVER_SECONDS
    join = INSTALL_DOWNLOAD + k3s.JOIN_SECONDS
    api_up = ssh_up + install
    cp1_ready = api_up + k3s.READY_SECONDS
    ends = [cp1_ready]
    if control_planes > 1:
        ends.append(cp1_ready + (control_planes - 1) * join + k3s.READY_SECONDS)
    if workers:
        ends.append(api_up + join + k3s.READY_SECONDS)
    return max(ends)


def make_plan(name: str, cp: int, workers: int, keys: tuple[Path, Path]) -> ClusterPlan:
    return ClusterPlan.model_validate({
        "name": name,
        "ssh": {"public_key": str(keys[1]), "private_key": str(keys[0])},
        "control_plane": {"count": cp},
        "worker_pools": [{"name": "pool", "count": workers}] if workers else [],
    })


async def one(label: str, scale: float, keys: tuple[Path, Path], state: Path) -> dict[str, Any]:
    cp, workers = TOPOLOGIES[label]
    plan = make_plan(f"bench-{label.replace('+', '-')}", cp, workers, keys)
    all_ready: float | None = None
    phases: dict[str, str] = {}
    timeline: list[tuple[str, str, float]] = []

    def sink(event: EngineEvent) -> None:
        nonlocal all_ready
        if isinstance(event, NodePhaseChanged):
            phases[event.node] = event.phase
            timeline.append((event.node, event.phase, event.elapsed))
            if len(phases) == cp + workers and all(p == "ready" for p in phases.values()) and all_ready is None:
                all_ready = event.elapsed

    async with Simulator(time_scale=scale, seed=5) as sim:
        started = time.monotonic()
        finished = await run("apply", plan, Target(sim.endpoint, True, sim.token, time_scale=scale),
                             sink=sink, options=RunOptions(kubeconfig=state / f"{plan.name}.kubeconfig"),
                             state_dir=state)
        wall = time.monotonic() - started
        if not finished.ok:
            raise SystemExit(f"{label}: apply failed: {finished.failed_step}: {finished.message}")
        bound = lower_bound(cp, workers, sim.config.durations) * scale
        return {
            "label": label, "nodes": cp + workers, "ready": all_ready or wall, "wall": wall, "bound": bound,
            "requests": sim.request_count, "mutating": sim.mutating_request_count,
            "throttled": finished.api_throttled, "sim_ready": sim_ready(sim, plan.name), "phases": timeline,
        }


def sim_ready(sim: Simulator, cluster: str) -> int:
    """Nodes of `cluster` that the simulator's own k3s reports Ready (a check, not the engine's word)."""
    ids = {s.id for s in sim.inspect.servers() if s.name.startswith(f"{cluster}-")}
    found = sim.inspect.k3s_clusters(ids) if ids else []
    return len(found[0].ready_nodes) if found else 0


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--time-scale", type=float, default=0.05)
    parser.add_argument("--only", choices=list(TOPOLOGIES), action="append")
    parser.add_argument("--json", action="store_true", help="print one JSON object (rows with phase timelines)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        os.environ["HOME"] = str(base)
        key = asyncssh.generate_private_key("ssh-ed25519")
        (base / "id").write_bytes(key.export_private_key("openssh"))
        (base / "id").chmod(0o600)
        (base / "id.pub").write_bytes(key.export_public_key("openssh"))
        keys = (base / "id", base / "id.pub")
        # Warm-up: the first apply in a process pays for imports and first-use crypto; not measured.
        await one("1", args.time_scale, keys, base / "warm-up")
        rows = [await one(label, args.time_scale, keys, base / "state") for label in (args.only or TOPOLOGIES)]
    if args.json:
        print(json.dumps({"time_scale": args.time_scale, "rows": rows}))
        return
    single = next((r for r in rows if r["nodes"] == 1), None)
    print(f"time scale {args.time_scale} (1 s simulated = {args.time_scale * 1000:.0f} ms)\n")
    print(f"{'topology':>9} {'nodes':>5} {'all Ready':>10} {'bound':>8} {'ratio':>6} {'requests':>9} "
          f"{'per node*':>9} {'mutating':>8} {'429s':>5}")
    for r in rows:
        per = (r["requests"] - single["requests"]) / (r["nodes"] - 1) if single and r["nodes"] > 1 else float("nan")
        print(f"{r['label']:>9} {r['nodes']:>5} {r['ready']:>9.2f}s {r['bound']:>7.2f}s {r['ready'] / r['bound']:>6.2f} "
              f"{r['requests']:>9} {per:>9.2f} {r['mutating']:>8} {r['throttled']:>5}")
    print("\n* per node beyond the single-node run (the fixed overhead: discovery, network, firewall, key, LB)")


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
