"""Gantt-style plot of node phases over time (a benchmark script, not a test).

    .venv/bin/python tests/bench/phase_plot.py [--time-scale 0.2] [--topology 3+20] [--no-naive]
                                               [--out docs/benchmarks/phases-3-20.png]

Runs the engine benchmark (and the naive baseline, `naive_apply.py`) for one topology in
subprocesses, takes the NodePhaseChanged events of each run, and draws one row per node coloured by
phase (creating, booting, ssh-ready, installing, joined, ready). The x axis is simulated seconds
(measured wall seconds divided by the time scale), i.e. what the same run would take at Hetzner's
speed; the dashed line is the critical-path bound. `run_all.py` calls `render()` with the timelines it
already has instead of running them again.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
DEFAULT_OUT = ROOT / "docs" / "benchmarks" / "phases-3-20.png"

PHASES = ["creating", "booting", "ssh-ready", "installing", "joined", "ready"]
COLOURS = {
    "creating": "#9e9e9e",
    "booting": "#f2c14e",
    "ssh-ready": "#7fb3d5",
    "installing": "#e07a5f",
    "joined": "#81b29a",
    "ready": "#2a7f3f",
}
LABELS = {
    "creating": "creating (POST + create action)",
    "booting": "booting (until SSH + cloud-init)",
    "ssh-ready": "ssh-ready (waiting for its turn)",
    "installing": "installing k3s / joining",
    "joined": "joined (until Ready)",
    "ready": "Ready",
}


def segments(phases: list[list[Any]], scale: float) -> tuple[list[str], dict[str, list[tuple[str, float, float]]], float]:
    """Per node: (phase, start, end) in simulated seconds; the last phase lasts until the run's end."""
    order: list[str] = []
    by_node: dict[str, list[tuple[str, float]]] = {}
    for node, phase, elapsed in phases:
        if node not in by_node:
            order.append(node)
            by_node[node] = []
        by_node[node].append((phase, elapsed / scale))
    end = max((t for events in by_node.values() for _, t in events), default=0.0)
    out: dict[str, list[tuple[str, float, float]]] = {}
    for node, events in by_node.items():
        spans = []
        for i, (phase, start) in enumerate(events):
            stop = events[i + 1][1] if i + 1 < len(events) else end
            spans.append((phase, start, stop))
        out[node] = spans
    return order, out, end


def render(runs: list[dict[str, Any]], path: Path, *, title: str = "") -> Path:
    """Draw one Gantt panel per run. Each run: {"title", "phases", "scale", "bound" (real seconds)}."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    parsed = [segments(r["phases"], r["scale"]) for r in runs]
    rows = max(len(order) for order, _, _ in parsed)
    x_end = max(end for _, _, end in parsed) * 1.03
    fig, axes = plt.subplots(1, len(runs), figsize=(6.2 * len(runs), 1.2 + 0.24 * rows), sharex=True, squeeze=False)
    for ax, run, (order, spans, _end) in zip(axes[0], runs, parsed):
        for row, node in enumerate(order):
            for phase, start, stop in spans[node]:
                if phase in COLOURS and stop > start:
                    ax.barh(row, stop - start, left=start, height=0.78, color=COLOURS[phase], edgecolor="none")
        bound = run.get("bound")
        if bound:
            ax.axvline(bound / run["scale"], color="black", linestyle="--", linewidth=1)
            ax.text(bound / run["scale"], -0.9, " bound", fontsize=8, va="bottom")
        ready = run.get("ready")
        if ready:
            ax.axvline(ready / run["scale"], color="#2a7f3f", linewidth=1.2)
            ax.text(ready / run["scale"], rows - 0.2, f" all Ready {ready / run['scale']:.0f} s", fontsize=8,
                    color="#2a7f3f", va="bottom")
        ax.set_yticks(range(len(order)))
        prefix = os.path.commonprefix(order) if len(order) > 1 else ""  # noqa: RUF071 - node names, cut at "-" below
        prefix = prefix[: prefix.rfind("-") + 1] if "-" in prefix else ""
        ax.set_yticklabels([n[len(prefix):] for n in order], fontsize=7)
        ax.set_ylim(rows - 0.3, -1.2)
        ax.set_xlim(0, x_end)
        ax.set_xlabel(f"simulated seconds (wall seconds ÷ time scale {run['scale']})")
        ax.set_title(run["title"], fontsize=10)
        ax.grid(axis="x", color="#dddddd", linewidth=0.6)
        ax.set_axisbelow(True)
    handles = [Patch(color=COLOURS[p], label=LABELS[p]) for p in PHASES]
    fig.legend(handles=handles, loc="lower center", ncol=3, fontsize=8, frameon=False)
    if title:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout(rect=(0, 0.09 if rows > 10 else 0.16, 1, 0.97 if title else 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def run_json(script: str, *args: str, timeout: float = 900.0) -> dict[str, Any]:
    out = subprocess.run([sys.executable, str(HERE / script), *args, "--json"], capture_output=True, text=True,
                         timeout=timeout, check=True, cwd=ROOT)
    figures: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--time-scale", type=float, default=0.2)
    parser.add_argument("--topology", default="3+20", choices=["1", "3+2", "3+20", "3+97"])
    parser.add_argument("--no-naive", action="store_true", help="plot only the engine's run")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    scale = str(args.time_scale)
    engine = run_json("engine_bench.py", "--time-scale", scale, "--only", args.topology)["rows"][0]
    runs = [{"title": f"khz-tui engine, {args.topology}", "phases": engine["phases"], "scale": args.time_scale,
             "bound": engine["bound"], "ready": engine["ready"]}]
    if not args.no_naive:
        naive = run_json("naive_apply.py", "--time-scale", scale, "--only", args.topology)["rows"][0]
        runs.append({"title": f"naive strategy, {args.topology}", "phases": naive["phases"], "scale": args.time_scale,
                     "bound": engine["bound"], "ready": naive["ready"]})
    print(render(runs, args.out, title=f"Node phases over time, {args.topology} nodes, same simulator and durations"))


if __name__ == "__main__":
    main()
