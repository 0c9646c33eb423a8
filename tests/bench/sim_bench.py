"""Benchmark of the built-in Hetzner Cloud simulator (a script, not a test).

    python tests/bench/sim_bench.py [--nodes 200] [--requests 2000] [--seconds 10] [--json]
    python -m tests.bench.sim_bench ...

Three figures, each on a fresh `Simulator` in this process, driven by a client in a separate
process (so the client does not share this interpreter's GIL or show up in its memory):

1. Idle API latency: N sequential keep-alive GETs over a few representative endpoints, p50/p99.
2. Sustained throughput: concurrent client tasks for a bounded time and request count; the
   simulator's rate limit is raised for this (the default bucket would answer 429 after 3600).
3. Memory per simulated node: this process's RSS before and after creating N servers through the
   API (in networks of at most 100 servers), each booted with its own SSH listener and cloud-init
   applied; every node is checked over real SSH (`cloud-init status --wait` must exit 0).
   Optionally a simulated k3s cluster is then installed on a few of those nodes over SSH.

Everything listens on and connects to 127.0.0.1 only. Every loop is bounded in count and time; a
slow machine gives slower figures, never an error. Targets are printed as met or not.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import multiprocessing
import os
import platform
import resource
import shlex
import statistics
import sys
import time
from typing import Any

if __package__ in (None, ""):  # run as a file: make the repository importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

MIB = 1024 * 1024
MEMORY_TARGET_MIB = 1024.0
"""Issue target: all simulated nodes of one process in under 1 GiB."""
RAISED_RATE_LIMIT = 1_000_000_000
"""Requests per hour for the throughput and memory phases (the default is 3600)."""
TIME_SCALE = 0.01
PHASE_TIMEOUT = 600.0
"""Hard upper bound, in seconds, on any one client phase."""


# --- measurements in this process -----------------------------------------------------------------

def rss_mib() -> float:
    """Current resident set size of this process (VmRSS), or peak RSS where /proc is absent."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / MIB if sys.platform == "darwin" else peak / 1024.0


def rss_source() -> str:
    return "VmRSS" if os.path.exists("/proc/self/status") else "ru_maxrss (peak)"


def percentile(samples: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty list."""
    ordered = sorted(samples)
    k = max(0, min(len(ordered) - 1, round(q / 100.0 * len(ordered) + 0.5) - 1))
    return ordered[k]


# --- the client (runs in a child process) ---------------------------------------------------------

def _headers(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}


async def _json(session: Any, method: str, url: str, body: Any = None) -> tuple[int, Any]:
    async with session.request(method, url, json=body) as resp:
        return resp.status, await resp.json(content_type=None)


async def _wait_actions(session: Any, endpoint: str, ids: list[int], deadline: float) -> dict[str, int]:
    """Poll `GET /actions?id=..` (50 at a time) until every action has ended or the deadline."""
    pending = list(ids)
    outcome = {"success": 0, "error": 0, "running": 0}
    while pending and time.monotonic() < deadline:
        still = []
        for i in range(0, len(pending), 50):
            chunk = pending[i:i + 50]
            query = "&".join(f"id={a}" for a in chunk)
            status, data = await _json(session, "GET", f"{endpoint}/actions?{query}&per_page=50")
            if status != 200:
                still += chunk
                continue
            seen = {a["id"]: a["status"] for a in data.get("actions", [])}
            for a in chunk:
                st = seen.get(a, "running")
                if st == "running":
                    still.append(a)
                else:
                    outcome[st] = outcome.get(st, 0) + 1
        pending = still
        if pending:
            await asyncio.sleep(0.05)
    outcome["running"] = len(pending)
    return outcome


async def _client_setup_small(endpoint: str, token: str) -> dict[str, Any]:
    """A small project for the latency phase: one network and three servers (API only)."""
    import aiohttp

    async with aiohttp.ClientSession(headers=_headers(token)) as s:
        _, net = await _json(s, "POST", f"{endpoint}/networks", {
            "name": "bench-net", "ip_range": "10.0.0.0/16",
            "subnets": [{"type": "cloud", "network_zone": "eu-central", "ip_range": "10.0.0.0/24"}]})
        server_ids, action_ids = [], []
        for i in range(3):
            _, data = await _json(s, "POST", f"{endpoint}/servers", {
                "name": f"lat-{i}", "server_type": "cx22", "image": "ubuntu-24.04", "location": "fsn1",
                "networks": [net["network"]["id"]]})
            server_ids.append(data["server"]["id"])
            action_ids.append(data["action"]["id"])
            action_ids += [a["id"] for a in data.get("next_actions", [])]
        await _wait_actions(s, endpoint, action_ids, time.monotonic() + 60)
    return {"server_ids": server_ids, "action_ids": action_ids}


async def _client_latency(endpoint: str, token: str, requests: int, max_seconds: float) -> dict[str, Any]:
    import aiohttp

    setup = await _client_setup_small(endpoint, token)
    sid = setup["server_ids"][0]
    ids = "&".join(f"id={a}" for a in setup["action_ids"][:4])
    paths = {
        "GET /servers": "/servers",
        "GET /servers/{id}": f"/servers/{sid}",
        "GET /server_types": "/server_types",
        "GET /actions?id=..": f"/actions?{ids}",
    }
    names = list(paths)
    per: dict[str, list[float]] = {n: [] for n in names}
    errors = 0
    connector = aiohttp.TCPConnector(limit=1)  # one keep-alive connection
    async with aiohttp.ClientSession(headers=_headers(token), connector=connector) as s:
        for i in range(20):  # warm-up (connection, caches), not counted
            async with s.get(endpoint + paths[names[i % len(names)]]) as r:
                await r.read()
        deadline = time.monotonic() + max_seconds
        for i in range(requests):
            if time.monotonic() > deadline:
                break
            name = names[i % len(names)]
            t0 = time.perf_counter()
            async with s.get(endpoint + paths[name]) as r:
                await r.read()
                ok = r.status == 200
            per[name].append((time.perf_counter() - t0) * 1000.0)
            errors += not ok
    every = [x for v in per.values() for x in v]
    return {
        "requests": len(every), "errors": errors,
        "p50_ms": percentile(every, 50), "p99_ms": percentile(every, 99), "mean_ms": statistics.fmean(every),
        "by_endpoint": {n: {"requests": len(v), "p50_ms": percentile(v, 50), "p99_ms": percentile(v, 99)}
                        for n, v in per.items() if v},
    }


async def _client_throughput(endpoint: str, token: str, concurrency: int, seconds: float,
                             max_requests: int) -> dict[str, Any]:
    import aiohttp

    setup = await _client_setup_small(endpoint, token)
    sid = setup["server_ids"][0]
    paths = ["/servers", f"/servers/{sid}", "/server_types",
             "/actions?" + "&".join(f"id={a}" for a in setup["action_ids"][:4])]
    budget = {"left": max_requests}
    counts = {"ok": 0, "error": 0, "rate_limited": 0}
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(headers=_headers(token), connector=connector) as s:
        # warm-up so every worker has a connection
        await asyncio.gather(*(s.get(endpoint + "/server_types") for _ in range(concurrency)),
                             return_exceptions=True)
        deadline = time.monotonic() + seconds

        async def worker(k: int) -> None:
            i = k
            while budget["left"] > 0 and time.monotonic() < deadline:
                budget["left"] -= 1
                async with s.get(endpoint + paths[i % len(paths)]) as r:
                    await r.read()
                    if r.status == 200:
                        counts["ok"] += 1
                    elif r.status == 429:
                        counts["rate_limited"] += 1
                    else:
                        counts["error"] += 1
                i += 1

        t0 = time.monotonic()
        await asyncio.gather(*(worker(k) for k in range(concurrency)))
        elapsed = time.monotonic() - t0
    total = counts["ok"] + counts["error"] + counts["rate_limited"]
    return {"concurrency": concurrency, "seconds": elapsed, "requests": total, **counts,
            "requests_per_s": total / elapsed if elapsed > 0 else 0.0}


def _cloud_config(public_key: str) -> str:
    return "#cloud-config\n" + json.dumps({
        "ssh_authorized_keys": [public_key],
        "write_files": [{"path": "/etc/khz/bench.conf", "content": "node: simulated\n", "permissions": "0644"}],
        "runcmd": [["mkdir", "-p", "/etc/rancher/k3s"], "echo booted > /root/bench-booted"],
    })


async def _client_populate(endpoint: str, token: str, nodes: int, k3s_nodes: int,
                           max_seconds: float) -> dict[str, Any]:
    """Create `nodes` servers with networks and SSH keys, wait for their actions, then log in to
    every node over SSH and wait for cloud-init; optionally install k3s on a few."""
    import aiohttp
    import asyncssh

    t_start = time.monotonic()
    deadline = t_start + max_seconds
    key = asyncssh.generate_private_key("ssh-ed25519")
    public = key.export_public_key("openssh").decode().strip()
    user_data = _cloud_config(public)
    result: dict[str, Any] = {}
    async with aiohttp.ClientSession(headers=_headers(token),
                                     connector=aiohttp.TCPConnector(limit=16)) as s:
        status, data = await _json(s, "POST", f"{endpoint}/ssh_keys", {"name": "bench", "public_key": public})
        assert status == 201, data
        network_ids = []
        for n in range((nodes + 99) // 100):  # Hetzner: at most 100 servers per network
            status, data = await _json(s, "POST", f"{endpoint}/networks", {
                "name": f"bench-net-{n}", "ip_range": f"10.{n}.0.0/16",
                "subnets": [{"type": "cloud", "network_zone": "eu-central", "ip_range": f"10.{n}.0.0/16"}]})
            assert status == 201, data
            network_ids.append(data["network"]["id"])

        sem = asyncio.Semaphore(16)
        server_ids: list[int] = []
        action_ids: list[int] = []
        create_errors: list[str] = []

        async def create(i: int) -> None:
            async with sem:
                if time.monotonic() > deadline:
                    return
                status, data = await _json(s, "POST", f"{endpoint}/servers", {
                    "name": f"node-{i:03d}", "server_type": "cx22", "image": "ubuntu-24.04",
                    "location": "fsn1", "ssh_keys": ["bench"], "user_data": user_data,
                    "networks": [network_ids[i // 100]], "labels": {"bench": "1"}})
                if status != 201:
                    create_errors.append(f"{status}: {data.get('error', {}).get('code')}")
                    return
                server_ids.append(data["server"]["id"])
                action_ids.append(data["action"]["id"])
                action_ids.extend(a["id"] for a in data.get("next_actions", []))

        await asyncio.gather(*(create(i) for i in range(nodes)))
        result["servers_created"] = len(server_ids)
        result["create_errors"] = create_errors[:5]
        result["actions"] = await _wait_actions(s, endpoint, action_ids, deadline)
        result["api_seconds"] = time.monotonic() - t_start

        targets: dict[int, tuple[str, int]] = {}
        for i in range(0, len(server_ids), 50):
            query = "&".join(f"id={x}" for x in server_ids[i:i + 50])
            status, data = await _json(s, "GET", f"{endpoint}/x-sim/ssh-targets?{query}")
            for t in data.get("targets", []) if status == 200 else []:
                assert t["host"] == "127.0.0.1"
                targets[t["server_id"]] = (t["host"], t["port"])

        private_ip: dict[int, str] = {}
        for sid in server_ids[:k3s_nodes]:
            status, data = await _json(s, "GET", f"{endpoint}/servers/{sid}")
            if status == 200 and data["server"]["private_net"]:
                private_ip[sid] = data["server"]["private_net"][0]["ip"]

    ssh_sem = asyncio.Semaphore(16)
    ready = 0
    failures: list[str] = []

    async def check(sid: int) -> None:
        nonlocal ready
        host, port = targets[sid]
        async with ssh_sem:
            last = ""
            while time.monotonic() < deadline:
                try:
                    async with asyncssh.connect(host, port, username="root", client_keys=[key],
                                                known_hosts=None, connect_timeout=10) as conn:
                        r = await asyncio.wait_for(conn.run("cloud-init status --wait"), 60)
                        if r.exit_status == 0:
                            ready += 1
                        else:
                            failures.append(f"{sid}: cloud-init exit {r.exit_status}")
                        return
                except (TimeoutError, OSError, asyncssh.Error) as exc:
                    last = type(exc).__name__
                    await asyncio.sleep(0.1)
            failures.append(f"{sid}: no SSH ({last})")

    t_ssh = time.monotonic()
    await asyncio.gather(*(check(sid) for sid in server_ids if sid in targets))
    result["ssh_ready"] = ready
    result["ssh_failures"] = failures[:5]
    result["ssh_seconds"] = time.monotonic() - t_ssh
    result["server_ids"] = server_ids
    result["k3s_plan"] = {"key": key.export_private_key("openssh").decode(),
                          "targets": {sid: targets[sid] for sid in server_ids[:k3s_nodes] if sid in targets},
                          "private_ip": private_ip}
    return result


async def _client_k3s(plan: dict[str, Any], max_seconds: float) -> dict[str, Any]:
    """Install a simulated k3s cluster over SSH: the first node with cluster-init, the others join
    it one at a time (etcd admits one learner at a time)."""
    import asyncssh

    key = asyncssh.import_private_key(plan["key"])
    order = list(plan["targets"])
    if not order:
        return {"nodes": 0}
    deadline = time.monotonic() + max_seconds
    first_ip = plan["private_ip"].get(order[0]) or plan["private_ip"].get(str(order[0]))
    token = "bench-cluster-token"
    outcome: dict[str, Any] = {"nodes": len(order), "installed": 0, "errors": []}
    t0 = time.monotonic()
    for n, sid in enumerate(order):
        host, port = plan["targets"][sid]
        ip = plan["private_ip"].get(sid) or plan["private_ip"].get(str(sid))
        flags = ["server", f"--node-ip={ip}", "--flannel-iface=enp7s0"]
        flags += ["--cluster-init"] if n == 0 else [f"--server=https://{first_ip}:6443"]
        command = (f"curl -sfL https://get.k3s.io | K3S_TOKEN={token} "
                   f"sh -s - {' '.join(shlex.quote(f) for f in flags)}")
        for _attempt in range(20):
            if time.monotonic() > deadline:
                break
            try:
                async with asyncssh.connect(host, port, username="root", client_keys=[key],
                                            known_hosts=None, connect_timeout=10) as conn:
                    r = await asyncio.wait_for(conn.run(command), 60)
                if r.exit_status == 0:
                    outcome["installed"] += 1
                    break
                if "learner" not in str(r.stderr):
                    outcome["errors"].append(f"{sid}: exit {r.exit_status}: {str(r.stderr).strip()[-120:]}")
                    break
            except (TimeoutError, OSError, asyncssh.Error) as exc:
                outcome["errors"].append(f"{sid}: {type(exc).__name__}")
                break
            await asyncio.sleep(0.2)
    outcome["seconds"] = time.monotonic() - t0
    return outcome


def _child_main(conn: Any, phase: str, kwargs: dict[str, Any]) -> None:
    """Entry point of the client process: run one phase, send back its result."""
    fn = {"latency": _client_latency, "throughput": _client_throughput,
          "populate": _client_populate, "k3s": _client_k3s}[phase]
    try:
        conn.send({"ok": True, "result": asyncio.run(fn(**kwargs))})
    except BaseException as exc:  # report, never hang the parent
        conn.send({"ok": False, "error": f"{type(exc).__name__}: {exc}"})
    finally:
        conn.close()


async def run_client(phase: str, **kwargs: Any) -> dict[str, Any]:
    """Run a client phase in a fresh process while this process's loop keeps serving."""
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child_main, args=(child, phase, kwargs), daemon=True)
    proc.start()
    child.close()
    loop = asyncio.get_running_loop()
    ready = await loop.run_in_executor(None, parent.poll, PHASE_TIMEOUT)
    if not ready:
        proc.terminate()
        raise RuntimeError(f"client phase {phase} did not finish within {PHASE_TIMEOUT:.0f} s")
    reply = await loop.run_in_executor(None, parent.recv)
    await loop.run_in_executor(None, proc.join, 30)
    if not reply["ok"]:
        raise RuntimeError(f"client phase {phase} failed: {reply['error']}")
    return reply["result"]


# --- the phases (simulator in this process) --------------------------------------------------------

async def phase_latency(args: argparse.Namespace) -> dict[str, Any]:
    from khz_tui.sim.simulator import Simulator

    # Default rate limit (3600/h bucket): the sequential run stays below it.
    requests = min(args.requests, 3000)
    async with Simulator(time_scale=TIME_SCALE, seed=1) as sim:
        out = await run_client("latency", endpoint=sim.endpoint, token=sim.token,
                               requests=requests, max_seconds=args.seconds * 6)
    out["rate_limit_per_hour"] = 3600
    return out


async def phase_throughput(args: argparse.Namespace) -> dict[str, Any]:
    from khz_tui.sim.simulator import Simulator

    async with Simulator(time_scale=TIME_SCALE, seed=1, rate_limit_per_hour=RAISED_RATE_LIMIT) as sim:
        out = await run_client("throughput", endpoint=sim.endpoint, token=sim.token,
                               concurrency=args.concurrency, seconds=args.seconds,
                               max_requests=args.max_requests)
    out["rate_limit_per_hour"] = RAISED_RATE_LIMIT
    return out


async def phase_memory(args: argparse.Namespace) -> dict[str, Any]:
    from khz_tui.sim.simulator import Simulator

    out: dict[str, Any] = {"nodes_requested": args.nodes, "rss_source": rss_source()}
    async with Simulator(time_scale=TIME_SCALE, seed=1, rate_limit_per_hour=RAISED_RATE_LIMIT,
                         server_limit=max(200, args.nodes)) as sim:
        gc.collect()
        await asyncio.sleep(0.2)
        before = rss_mib()
        pop = await run_client("populate", endpoint=sim.endpoint, token=sim.token, nodes=args.nodes,
                               k3s_nodes=args.k3s_nodes, max_seconds=min(PHASE_TIMEOUT - 30, 300.0))
        await asyncio.sleep(0.5)  # let closed SSH connections be torn down
        gc.collect()
        after = rss_mib()
        booted = sum(1 for m in sim.inspect.machines() if m.first_boot_done)
        out.update({
            "servers_created": pop["servers_created"], "create_errors": pop["create_errors"],
            "actions": pop["actions"], "machines_booted": booted, "ssh_ready": pop["ssh_ready"],
            "ssh_failures": pop["ssh_failures"], "api_seconds": pop["api_seconds"],
            "ssh_seconds": pop["ssh_seconds"],
            "rss_before_mib": before, "rss_after_mib": after, "delta_mib": after - before,
            "per_node_mib": (after - before) / max(1, pop["servers_created"]),
            "target_mib": MEMORY_TARGET_MIB, "target_met": after < MEMORY_TARGET_MIB,
        })
        if args.k3s_nodes > 0 and pop["k3s_plan"]["targets"]:
            k3s = await run_client("k3s", plan=pop["k3s_plan"], max_seconds=120.0)
            await asyncio.sleep(0.5)
            gc.collect()
            k3s["rss_after_mib"] = rss_mib()
            k3s["delta_mib"] = k3s["rss_after_mib"] - after
            out["k3s"] = k3s
        out["rss_peak_mib"] = max(out["rss_after_mib"], resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
                                  / (MIB if sys.platform == "darwin" else 1024.0))
    return out


# --- output ---------------------------------------------------------------------------------------

def machine_facts() -> dict[str, Any]:
    import aiohttp
    import asyncssh

    return {"cpus": os.cpu_count(), "python": platform.python_version(),
            "implementation": platform.python_implementation(), "platform": platform.platform(terse=True),
            "aiohttp": aiohttp.__version__, "asyncssh": asyncssh.__version__}


def render_table(report: dict[str, Any]) -> str:
    rows: list[tuple[str, str, str]] = []
    lat = report.get("latency")
    if lat:
        rows.append(("API latency, idle (sequential, keep-alive)", "p50", f"{lat['p50_ms']:.2f} ms"))
        rows.append(("", "p99", f"{lat['p99_ms']:.2f} ms"))
        rows.append(("", "requests", f"{lat['requests']} ({lat['errors']} non-200)"))
        for name, v in lat["by_endpoint"].items():
            rows.append((f"  {name}", "p50 / p99", f"{v['p50_ms']:.2f} / {v['p99_ms']:.2f} ms"))
    thr = report.get("throughput")
    if thr:
        rows.append(("Sustained throughput (rate limit raised)", "requests/s", f"{thr['requests_per_s']:.0f}"))
        rows.append(("", "clients", f"{thr['concurrency']} tasks, {thr['seconds']:.1f} s"))
        rows.append(("", "requests", f"{thr['requests']} ({thr['error']} errors, {thr['rate_limited']} 429)"))
    mem = report.get("memory")
    if mem:
        rows.append((f"Memory, {mem['servers_created']} simulated nodes", "RSS before", f"{mem['rss_before_mib']:.1f} MiB"))
        rows.append(("", "RSS after", f"{mem['rss_after_mib']:.1f} MiB (peak {mem['rss_peak_mib']:.1f} MiB)"))
        rows.append(("", "nodes total", f"{mem['delta_mib']:.1f} MiB"))
        rows.append(("", "per node", f"{mem['per_node_mib']:.2f} MiB ({mem['per_node_mib'] * 1024:.0f} KiB)"))
        met = "met" if mem["target_met"] else "NOT met"
        rows.append(("", "target", f"process < {mem['target_mib']:.0f} MiB (1 GiB): {met}"))
        rows.append(("", "booted / SSH ok", f"{mem['machines_booted']} / {mem['ssh_ready']}"))
        rows.append(("", "time", f"API {mem['api_seconds']:.1f} s, SSH checks {mem['ssh_seconds']:.1f} s"))
        k3s = mem.get("k3s")
        if k3s:
            rows.append((f"  + k3s on {k3s['nodes']} nodes", "installed", f"{k3s['installed']}/{k3s['nodes']} in {k3s['seconds']:.1f} s"))
            rows.append(("", "RSS after", f"{k3s['rss_after_mib']:.1f} MiB ({k3s['delta_mib']:+.1f} MiB)"))
    w0 = max(len(r[0]) for r in rows)
    w1 = max(len(r[1]) for r in rows)
    lines = [f"{a:<{w0}}  {b:<{w1}}  {c}" for a, b, c in rows]
    return "\n".join(lines)


def print_report(report: dict[str, Any]) -> None:
    facts = report["machine"]
    print("khz-tui simulator benchmark")
    print(f"command: {report['command']}")
    print(f"machine: {facts['cpus']} CPUs, {facts['implementation']} {facts['python']}, {facts['platform']}, "
          f"aiohttp {facts['aiohttp']}, asyncssh {facts['asyncssh']}")
    print(f"simulator: time_scale {TIME_SCALE}, in this process; client: a separate process on 127.0.0.1")
    if "throughput" in report:
        print(f"note: rate limit raised to {RAISED_RATE_LIMIT}/h for throughput and memory "
              f"(default 3600/h, which latency uses)")
    print()
    print(render_table(report))
    mem = report.get("memory")
    for label, items in (("create errors", mem and mem["create_errors"]), ("SSH failures", mem and mem["ssh_failures"]),
                         ("k3s errors", mem and mem.get("k3s", {}).get("errors"))):
        if items:
            print(f"{label}: {'; '.join(items)}")
    print(f"\ntotal time: {report['seconds']:.1f} s")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="Benchmark the built-in Hetzner Cloud simulator (prints figures).")
    p.add_argument("--nodes", type=int, default=200, help="simulated servers for the memory figure (default 200)")
    p.add_argument("--requests", type=int, default=2000, help="sequential requests for latency (max 3000)")
    p.add_argument("--seconds", type=float, default=10.0, help="duration of the throughput run")
    p.add_argument("--concurrency", type=int, default=16, help="client tasks for throughput (default 16)")
    p.add_argument("--max-requests", type=int, default=200_000, help="request cap for throughput")
    p.add_argument("--k3s-nodes", type=int, default=3, help="nodes to install simulated k3s on (0: skip)")
    p.add_argument("--skip", action="append", default=[], choices=["latency", "throughput", "memory"])
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = p.parse_args(argv)
    if args.nodes < 1 or args.requests < 1 or args.seconds <= 0 or args.concurrency < 1:
        p.error("--nodes, --requests, --concurrency and --seconds must be positive")
    args.seconds = min(args.seconds, 120.0)
    args.concurrency = min(args.concurrency, 256)
    args.k3s_nodes = max(0, min(args.k3s_nodes, args.nodes, 5))
    return args


async def run(args: argparse.Namespace, argv: list[str]) -> dict[str, Any]:
    t0 = time.monotonic()
    launcher = "python -m tests.bench.sim_bench" if __package__ else "python tests/bench/sim_bench.py"
    report: dict[str, Any] = {"command": " ".join([launcher] + [shlex.quote(a) for a in argv]),
                              "machine": machine_facts(),
                              "setup": {"time_scale": TIME_SCALE, "simulator": "this process",
                                        "client": "separate process, 127.0.0.1", "default_rate_limit_per_hour": 3600,
                                        "raised_rate_limit_per_hour": RAISED_RATE_LIMIT}}
    # Memory first, while this process is fresh: later phases would leave freed arenas behind.
    if "memory" not in args.skip:
        report["memory"] = await phase_memory(args)
    if "latency" not in args.skip:
        report["latency"] = await phase_latency(args)
    if "throughput" not in args.skip:
        report["throughput"] = await phase_throughput(args)
    report["seconds"] = time.monotonic() - t0
    return report


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    import logging

    logging.basicConfig(level=logging.WARNING)
    report = asyncio.run(run(args, argv))
    if args.json:
        print(json.dumps(report, indent=2, sort_keys=True))
    else:
        print_report(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
