"""Every khz-tui benchmark in one go, one table at the end (a script that prints figures, not a test).

    .venv/bin/python tests/bench/run_all.py                 # everything once (about 4.5 minutes on 2 cores)
    .venv/bin/python tests/bench/run_all.py --repeat 3      # medians of 3 (about 13 minutes)
    .venv/bin/python tests/bench/run_all.py --quick         # smaller settings (about 2 minutes)
    .venv/bin/python tests/bench/run_all.py --only engine --only naive
    .venv/bin/python -m tests.bench ...                     # the same (tests/bench/__main__.py)

Each part runs in its own subprocess with a hard timeout, one after another (never side by side, so
they do not compete for the CPU):

- engine: `engine_bench.py` — time to all-Ready vs the critical-path bound for 1, 3+2, 3+20, 3+97
  nodes; API requests (per node beyond the single-node run); 429s.
- naive: `naive_apply.py` — the same clusters provisioned with per-action polling, serial joins and
  workers after the whole control plane; the table shows naive ÷ engine for wall time and requests.
- sim: `sim_bench.py` — simulator RSS per simulated node (plus its API latency).
- tui: `tui_bench.py` — TUI start-up ratio to a minimal Textual app; run-console log throughput.
- plot: `phase_plot.render()` on the engine's (and naive's) 3+20 timelines from the runs above,
  written to docs/benchmarks/phases-3-20.png.

With --repeat N every part runs N times and the table shows the median and the range. --json prints
all raw figures instead of the table.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))

import phase_plot  # noqa: E402

ENGINE_TOPOLOGIES = ["1", "3+2", "3+20", "3+97"]
NAIVE_TOPOLOGIES = ["3+2", "3+20"]
PARTS = ["engine", "naive", "sim", "tui", "plot"]
#: Hard timeouts per subprocess, in seconds (the whole run is bounded by their sum times --repeat).
TIMEOUTS = {"engine": 600, "naive": 1200, "sim": 600, "tui": 300}


def run_json(part: str, script: str, args: list[str]) -> dict[str, Any]:
    started = time.monotonic()
    cmd = [sys.executable, str(HERE / script), *args, "--json"]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUTS[part], cwd=ROOT)
    except subprocess.TimeoutExpired:
        raise SystemExit(f"{part}: {script} took longer than {TIMEOUTS[part]} s; stopped") from None
    if out.returncode != 0:
        raise SystemExit(f"{part}: {script} failed (exit {out.returncode}):\n{out.stderr[-3000:]}")
    text = out.stdout.strip()
    data = json.loads(text[text.index("{"):])  # JSON is the last thing each script prints
    print(f"  {part}: {script} {' '.join(args)} ({time.monotonic() - started:.0f} s)", file=sys.stderr, flush=True)
    return data


def med(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def spread(values: list[float], fmt: str) -> str:
    """'median' alone for one run, 'median (min-max)' for several."""
    if not values:
        return "—"
    m = fmt.format(med(values))
    if len(values) == 1:
        return m
    return f"{m} ({fmt.format(min(values))}–{fmt.format(max(values))})"


def machine() -> str:
    import os

    import hcloud
    import textual

    return (f"{os.cpu_count()} CPUs, {platform.python_implementation()} {platform.python_version()}, "
            f"{platform.system()} {platform.machine()}, textual {textual.__version__}, hcloud {hcloud.__version__}")


def collect(args: argparse.Namespace) -> dict[str, Any]:
    parts = args.only or PARTS
    scale = str(args.time_scale)
    engine_tops = args.topology or (["1", "3+2", "3+20"] if args.quick else ENGINE_TOPOLOGIES)
    naive_tops = args.naive or (["3+2"] if args.quick else NAIVE_TOPOLOGIES)
    if "naive" in parts:  # the comparison needs the engine's figures for the same topologies
        engine_tops = list(dict.fromkeys(engine_tops + naive_tops))
    raw: dict[str, Any] = {"time_scale": args.time_scale, "repeat": args.repeat, "machine": machine(),
                           "engine": [], "naive": [], "sim": [], "tui": []}
    started = time.monotonic()
    for i in range(args.repeat):
        print(f"pass {i + 1} of {args.repeat}", file=sys.stderr, flush=True)
        if "engine" in parts or "naive" in parts or "plot" in parts:
            only = [a for t in engine_tops for a in ("--only", t)]
            raw["engine"].append(run_json("engine", "engine_bench.py", ["--time-scale", scale, *only]))
        if "naive" in parts or ("plot" in parts and not args.no_naive_plot):
            tops = naive_tops if "naive" in parts else ["3+20"]
            only = [a for t in tops for a in ("--only", t)]
            raw["naive"].append(run_json("naive", "naive_apply.py", ["--time-scale", scale, *only]))
        if "sim" in parts:
            sim_args = ["--nodes", "50", "--requests", "500", "--seconds", "3"] if args.quick else ["--seconds", "5"]
            raw["sim"].append(run_json("sim", "sim_bench.py", sim_args))
        if "tui" in parts:
            raw["tui"].append(run_json("tui", "tui_bench.py", ["--runs", "2" if args.quick else "5"]))
    raw["seconds"] = time.monotonic() - started
    raw["parts"] = parts
    return raw


def rows_by(raw_runs: list[dict], label: str) -> list[dict]:
    return [r for run in raw_runs for r in run["rows"] if r["label"] == label]


def table(raw: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(figure, value, target) lines of the one table."""
    out: list[tuple[str, str, str]] = []
    engine, naive = raw["engine"], raw["naive"]
    labels = list(dict.fromkeys(r["label"] for run in engine for r in run["rows"]))
    singles = rows_by(engine, "1")
    fixed = med([r["requests"] for r in singles]) if singles else None
    if "engine" in raw["parts"]:
        for label in labels:
            rs = rows_by(engine, label)
            ready = [r["ready"] for r in rs]
            ratio = [r["ready"] / r["bound"] for r in rs]
            out.append((f"engine {label}: all Ready / bound (wall s)",
                        f"{spread(ready, '{:.2f}')} / {rs[0]['bound']:.2f} = {spread(ratio, '{:.2f}')}", "ratio ≤ 1.10"))
        for label in labels:
            rs = rows_by(engine, label)
            reqs = [r["requests"] for r in rs]
            per = [(r["requests"] - fixed) / (r["nodes"] - 1) for r in rs] if fixed is not None and rs[0]["nodes"] > 1 else []
            value = f"{spread(reqs, '{:.0f}')} total" + (f", {spread(per, '{:.2f}')} per node" if per else
                                                          " (the fixed overhead)" if label == "1" else "")
            out.append((f"engine {label}: API requests", value, "≤ 4 per node" if per else ""))
        throttled = [r["throttled"] for run in engine for r in run["rows"]]
        out.append(("engine: 429 answers, all runs", f"{sum(throttled)} in {len(throttled)} applies", "0"))
        not_ready = [r for run in engine for r in run["rows"] if r.get("sim_ready", r["nodes"]) != r["nodes"]]
        out.append(("engine: nodes Ready in the simulated k3s", "all, every run" if not not_ready else
                    f"MISSING in {len(not_ready)} run(s)", "all"))
    if naive:
        for label in dict.fromkeys(r["label"] for run in naive for r in run["rows"]):
            ns, es = rows_by(naive, label), rows_by(engine, label)
            if not es:
                continue
            wall = [n["ready"] for n in ns]
            out.append((f"naive {label}: all Ready (wall s) / requests",
                        f"{spread(wall, '{:.2f}')} / {spread([n['requests'] for n in ns], '{:.0f}')}", ""))
            out.append((f"naive ÷ engine {label}: wall time",
                        f"{med(wall) / med([e['ready'] for e in es]):.2f}×", "> 1 (engine faster)"))
            out.append((f"naive ÷ engine {label}: API requests",
                        f"{med([n['requests'] for n in ns]) / med([e['requests'] for e in es]):.2f}×", "> 1 (engine leaner)"))
    if raw["tui"]:
        t = raw["tui"]
        out.append(("TUI start-up: wizard ÷ minimal Textual app", spread([x["startup_ratio"] for x in t], "{:.2f}") +
                    f" ({med([x['startup_wizard'] for x in t]):.2f} s vs {med([x['startup_minimal'] for x in t]):.2f} s)",
                    "≤ 1.3"))
        out.append(("TUI log throughput (lines/s)", spread([x["log_lines_per_s"] for x in t], "{:,.0f}"), "≥ 20,000"))
        out.append(("TUI worst keypress latency under that flood (ms)",
                    spread([x["worst_keypress_s"] * 1000 for x in t], "{:.0f}"), "< 100"))
    if raw["sim"]:
        s = raw["sim"]
        mem = [x["memory"] for x in s if "memory" in x]
        if mem:
            out.append((f"simulator RSS per node ({mem[0]['nodes_requested']} booted nodes, MiB)",
                        spread([m["per_node_mib"] for m in mem], "{:.3f}") +
                        f", {med([m['rss_after_mib'] for m in mem]):.0f} MiB total", "all nodes < 1024 MiB"))
        lat = [x["latency"] for x in s if "latency" in x]
        if lat:
            out.append(("simulator idle API latency p50 / p99 (ms)",
                        f"{med([x['p50_ms'] for x in lat]):.2f} / {med([x['p99_ms'] for x in lat]):.2f}", ""))
    return out


def print_table(raw: dict[str, Any]) -> None:
    lines = table(raw)
    print(f"\nkhz-tui benchmarks — {raw['machine']}")
    print(f"time scale {raw['time_scale']} for engine and naive runs; {raw['repeat']} pass(es), "
          f"median (min–max); {raw['seconds']:.0f} s in all\n")
    w1 = max(len(a) for a, _, _ in lines)
    w2 = max(len(b) for _, b, _ in lines)
    print(f"{'figure':<{w1}}  {'value':<{w2}}  target")
    print(f"{'-' * w1}  {'-' * w2}  {'-' * 20}")
    for a, b, c in lines:
        print(f"{a:<{w1}}  {b:<{w2}}  {c}")


def plot(raw: dict[str, Any], out: Path) -> Path | None:
    """The 3+20 phase Gantt from the first pass's runs (engine, and naive beside it when run)."""
    engine = rows_by(raw["engine"][:1], "3+20")
    if not engine:
        return None
    e = engine[0]
    scale = raw["time_scale"]
    runs = [{"title": "khz-tui engine, 3+20", "phases": e["phases"], "scale": scale, "bound": e["bound"], "ready": e["ready"]}]
    naive = rows_by(raw["naive"][:1], "3+20")
    if naive:
        runs.append({"title": "naive strategy, 3+20", "phases": naive[0]["phases"], "scale": scale,
                     "bound": e["bound"], "ready": naive[0]["ready"]})
    return phase_plot.render(runs, out, title="Node phases over time, 3 control planes + 20 workers, same simulator")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", action="append", choices=PARTS, help="run only these parts (repeatable)")
    parser.add_argument("--repeat", type=int, default=1, help="passes over every part; the table shows medians")
    parser.add_argument("--quick", action="store_true",
                        help="smaller settings: engine 1, 3+2, 3+20; naive 3+2; 50 simulated nodes; 2 TUI start-ups")
    parser.add_argument("--time-scale", type=float, default=0.2, help="simulator clock for engine and naive runs")
    parser.add_argument("--topology", action="append", choices=ENGINE_TOPOLOGIES, help="engine topologies")
    parser.add_argument("--naive", action="append", choices=ENGINE_TOPOLOGIES,
                        help="naive topologies (default 3+2 and 3+20; 3+97 takes about 7 minutes at scale 0.2)")
    parser.add_argument("--plot-out", type=Path, default=phase_plot.DEFAULT_OUT)
    parser.add_argument("--no-naive-plot", action="store_true", help="plot only the engine's 3+20 run")
    parser.add_argument("--json", action="store_true", help="print every raw figure as JSON instead of the table")
    args = parser.parse_args()
    args.repeat = max(1, min(args.repeat, 10))
    raw = collect(args)
    if "plot" in raw["parts"]:
        path = plot(raw, args.plot_out)
        print(f"  plot: {path.relative_to(ROOT) if path and path.is_relative_to(ROOT) else path}", file=sys.stderr)
    if args.json:
        for run in raw["engine"] + raw["naive"]:
            for r in run["rows"]:
                r.pop("phases", None)
        print(json.dumps(raw, indent=1))
        return
    print_table(raw)


if __name__ == "__main__":
    main()
