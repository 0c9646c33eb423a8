"""A naive apply strategy, for comparison with the engine (a benchmark script, not a test).

    .venv/bin/python tests/bench/naive_apply.py [--time-scale 0.2] [--only 3+2] [--json]

It provisions the same cluster as the engine, from the engine's own building blocks — the counting,
pacing, retrying `CloudClient`, the `ensure_*` resource functions, `create_server`, `NodeSession`
(pinned host keys, cloud-init wait) and the k3s `bootstrap` functions — on the same simulator with the
same durations. Only the strategy differs, in exactly three ways:

1. **Per-action polling.** Every action is waited on by its own loop of `GET /actions/{id}` at a
   constant interval (hcloud-python's `wait_until_finished` default: 1 s, scaled by the simulator's
   clock), instead of the engine's one batched `GET /actions?id=..` poller.
2. **Workers only after all servers are up and the control plane is done.** Every server is created
   (the same 10 POSTs in flight) and reached over SSH before any k3s install starts; workers start
   joining only when every control plane is Ready.
3. **Serial joins.** Every node joins after the previous one's installer returned (control planes
   and workers alike), instead of workers joining in parallel as soon as the API answers.

Everything else is kept as the engine does it, which makes this baseline a fair (not a straw-man)
one: infrastructure resources created concurrently, the load balancer alongside the servers, add-ons
installed as soon as the API answers, one readiness poller (`kubectl get nodes` on the first server),
and the simulator's SSH-port lookups batched (they do not exist against Hetzner).

At the end it asserts, on the simulator's own k3s state, that every planned node is Ready in one
cluster, so the figures are for a working cluster.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a file: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import asyncssh

from khz_tui.engine.bus import EventBus
from khz_tui.engine.cloud import resources
from khz_tui.engine.cloud.client import ActionFailed, CloudClient
from khz_tui.engine.cloud.inventory import discover
from khz_tui.engine.cloud.names import network_name, planned_nodes, planned_placement_groups
from khz_tui.engine.cloud.node_access import probe_node_access
from khz_tui.engine.cloud.resources import lb_addresses
from khz_tui.engine.cloud.servers import ServerFacts, create_server, server_facts
from khz_tui.engine.cluster_files import ClusterFiles
from khz_tui.engine.events import NodePhaseChanged, NodePlanned
from khz_tui.engine.nodes import bootstrap, kubeconfig
from khz_tui.engine.nodes.cloud_init import render_user_data
from khz_tui.engine.nodes.k3s_config import NodeFacts
from khz_tui.engine.nodes.session import NodeSession, SshEndpoint
from khz_tui.plan.model import ClusterPlan
from khz_tui.sim.simulator import Simulator

#: The same figures the engine uses (khz_tui/engine/apply/run_state.py), at time scale 1.
CREATE_PARALLEL = 10
SSH_DEADLINE = 600.0
READY_DEADLINE = 900.0
API_PORT = 6443
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
            action = await self.call(self.hcloud.actions.get_by_id, action_id, what=what or "waiting for an action")
            if action.status == "error":
                err = action.error or {}
                raise ActionFailed(f"{what or action.command} failed: {err.get('message', 'unknown error')}",
                                   code=err.get("code"), what=what)
            if action.status == "success":
                return {"id": action.id, "status": action.status, "command": action.command}
            await asyncio.sleep(self.poll_interval)
        raise TimeoutError(f"{what}: action {action_id} still running after {MAX_POLLS} polls")


@dataclass
class NaiveNode:
    name: str
    slot: Any
    facts: ServerFacts | None = None
    session: NodeSession | None = None
    phase: str = "planned"


@dataclass
class NaiveRun:
    plan: ClusterPlan
    client: PerActionPollingClient
    bus: EventBus
    access: Any
    state: ClusterFiles
    scale: float
    hcloud_token: str
    kubeconfig_path: Path
    nodes: dict[str, NaiveNode] = field(default_factory=dict)
    progress: float = 0.0
    """Loop time of the last phase change: the readiness deadline counts from there, since serial
    joins of many nodes take longer in all than the engine's whole-cluster deadline."""

    def scaled(self, seconds: float, floor: float = 0.01) -> float:
        return max(floor, seconds * self.scale)

    def phase(self, node: NaiveNode, phase: str) -> None:
        if node.phase == phase:
            return
        node.phase = phase
        self.progress = asyncio.get_running_loop().time()
        f = node.facts
        self.bus.emit(NodePhaseChanged, node=node.name, phase=phase, server_id=f.id if f else None,
                      public_ip=f.public_ipv4 if f else None, private_ip=f.private_ip if f else None)

    def node_facts(self, node: NaiveNode) -> NodeFacts:
        f = node.facts
        assert f is not None
        return NodeFacts(name=node.name, role=node.slot.role, pool=node.slot.pool, server_id=f.id,
                         public_ipv4=f.public_ipv4 or "", private_ip=f.private_ip or "",
                         location=f.location, server_type=f.server_type)

    async def run(self) -> None:
        plan, bus, client = self.plan, self.bus, self.client
        for slot in planned_nodes(plan):
            self.nodes[slot.name] = NaiveNode(slot.name, slot)
            bus.emit(NodePlanned, node=slot.name, role=slot.role, pool=slot.pool,
                     server_type=slot.server_type, location=slot.location)
        inv = await discover(client, plan.name)
        if inv.count():
            raise SystemExit("the naive baseline only provisions into an empty project")
        public_key = Path(plan.ssh.public_key).expanduser().read_text(encoding="utf-8").strip()
        pg_names = planned_placement_groups(plan)
        network, firewall, key, *pgs = await asyncio.gather(
            resources.ensure_network(client, bus, plan, inv),
            resources.ensure_firewall(client, bus, plan, inv, self.access.caller_cidr),
            resources.ensure_ssh_key(client, bus, plan, inv, public_key),
            *(resources.ensure_placement_group(client, bus, plan, inv, n) for n in pg_names),
        )
        groups = dict(zip(pg_names, pgs))
        lb_task = asyncio.create_task(resources.ensure_load_balancer(client, bus, plan, inv, network))

        # (2) every server created and reachable before any install
        gate = asyncio.Semaphore(CREATE_PARALLEL)

        async def server(node: NaiveNode) -> None:
            slot = node.slot
            host_key = self.state.host_key(slot.name)
            self.phase(node, "creating")
            async with gate:
                node.facts = await create_server(
                    client, bus, plan, slot, network=network, firewall=firewall,
                    placement_group=groups[slot.placement_group], ssh_key=key,
                    user_data=render_user_data(plan, slot.name, host_key),
                )
            assert node.facts.action_id is not None
            await client.wait_action(node.facts.action_id, what=f"creating server {slot.name}")  # (1)
            self.phase(node, "booting")
            if node.facts.private_ip is None:
                fresh = await client.call(client.hcloud.servers.get_by_id, node.facts.id, what=f"reading {slot.name}")
                node.facts = server_facts(fresh, network.id)
            endpoint = await self.access.endpoint(client, node.facts.id, node.facts.public_ipv4)
            node.session = await NodeSession.connect(
                node=slot.name, endpoint=SshEndpoint(endpoint.host, endpoint.port), host_key=host_key,
                client_key=Path(plan.ssh.private_key).expanduser(), bus=bus,
                deadline=max(5.0, SSH_DEADLINE * self.scale), retry_interval=self.scaled(1.0),
                max_interval=self.scaled(2.0, floor=0.05),
            )
            self.phase(node, "ssh-ready")

        await asyncio.gather(*(server(n) for n in self.nodes.values()))
        lb = await lb_task
        lb_public, lb_private = lb_addresses(lb)

        nodes = list(self.nodes.values())
        cp1 = nodes[0]
        cps = [n for n in nodes if n.slot.role == "control-plane"]
        workers = [n for n in nodes if n.slot.role == "worker"]
        sans = [a for a in (lb_public, lb_private) if a]
        for n in cps:
            sans += [a for a in (n.facts.public_ipv4, n.facts.private_ip) if a]
        sans = list(dict.fromkeys(sans))
        join_url = f"https://{cp1.facts.private_ip}:{API_PORT}"

        token = secrets.token_hex(32)
        bus.add_secret(token)
        self.phase(cp1, "installing")
        await bootstrap.install_first_server(cp1.session, plan, self.node_facts(cp1), token=token, tls_sans=sans, bus=bus)
        await bootstrap.node_readiness(cp1.session)
        self.phase(cp1, "joined")

        ready_changed = asyncio.Event()
        addons = asyncio.create_task(bootstrap.install_addons(
            cp1.session, plan, hcloud_token=self.hcloud_token, network=network_name(plan.name), bus=bus))
        watcher = asyncio.create_task(self._watch_readiness(cp1, ready_changed))

        async def until_ready(group: list[NaiveNode]) -> None:
            while not all(n.phase == "ready" for n in group):
                if watcher.done():
                    watcher.result()  # raises the watcher's error
                ready_changed.clear()
                waiter = asyncio.create_task(ready_changed.wait())
                await asyncio.wait([waiter, watcher], return_when=asyncio.FIRST_COMPLETED)
                waiter.cancel()

        try:
            await until_ready([cp1])
            for n in cps[1:]:  # (3) one after another
                self.phase(n, "installing")
                await bootstrap.join_server(n.session, plan, self.node_facts(n), token=token, join_url=join_url,
                                            tls_sans=sans, bus=bus, retry_delay=self.scaled(5.0))
                self.phase(n, "joined")
            await until_ready(cps)  # (2) the control plane is done
            for n in workers:  # (3) serial joins
                self.phase(n, "installing")
                await bootstrap.join_agent(n.session, plan, self.node_facts(n), token=token, join_url=join_url, bus=bus)
                self.phase(n, "joined")
            await until_ready(nodes)
            await addons
            await watcher
        finally:
            for task in (addons, watcher):
                if not task.done():
                    task.cancel()
        raw = await bootstrap.fetch_kubeconfig(cp1.session)
        text = kubeconfig.rewrite_kubeconfig(raw, plan.name, f"https://{lb_public or cp1.facts.public_ipv4}:{API_PORT}")
        kubeconfig.write_kubeconfig(text, self.kubeconfig_path)

    async def _watch_readiness(self, cp1: NaiveNode, changed: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        patience = max(10.0, READY_DEADLINE * self.scale)
        while True:
            ready = await bootstrap.node_readiness(cp1.session)
            for name, is_ready in ready.items():
                node = self.nodes.get(name)
                if node is not None and is_ready and node.phase in ("joined", "installing"):
                    self.phase(node, "ready")
                    changed.set()
            if all(n.phase == "ready" for n in self.nodes.values()):
                return
            if loop.time() > self.progress + patience:
                raise TimeoutError("nodes not Ready in time (no progress)")
            await asyncio.sleep(self.scaled(1.0))

    async def close(self) -> None:
        for node in self.nodes.values():
            if node.session is not None:
                await node.session.close()


def sim_ready_names(sim: Simulator, server_ids: set[int]) -> set[str]:
    """Names of the nodes the simulator's own k3s reports Ready, in the cluster holding these servers."""
    for cluster in sim.nodes.clusters:
        if {n.server_id for n in cluster.nodes.values()} & server_ids:
            return {n.name for n in cluster.nodes.values() if cluster.is_ready(n)}
    return set()


async def naive_apply(plan: ClusterPlan, sim: Simulator, scale: float, state_dir: Path,
                      sink=lambda event: None) -> dict[str, Any]:
    """Provision `plan` into `sim` the naive way; return figures (after checking the sim's k3s)."""
    all_ready: float | None = None
    phases: list[tuple[str, str, float]] = []
    total = len(planned_nodes(plan))
    current: dict[str, str] = {}

    def on_event(event) -> None:
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
    run = None
    try:
        access = await probe_node_access(client, ssh_port=plan.ssh.port)
        run = NaiveRun(plan=plan, client=client, bus=bus, access=access, state=ClusterFiles(plan.name, base=state_dir),
                       scale=scale, hcloud_token=sim.token, kubeconfig_path=state_dir / f"{plan.name}.kubeconfig")
        await run.run()
    finally:
        if run is not None:
            await run.close()
        client.close()
    wall = time.monotonic() - started
    ids = {n.facts.id for n in run.nodes.values() if n.facts}
    ready = sim_ready_names(sim, ids)
    missing = sorted(set(run.nodes) - ready)
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
