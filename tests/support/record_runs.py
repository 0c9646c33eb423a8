"""Record the engine's event streams that the UI tests, the run console snapshots, the screenshots and the
TUI benchmark play back (see `recorded_runs.py`).

    python tests/support/record_runs.py

Runs the real engine against the in-process simulator (seed 1, time scale 0.1: boots, installs and the
engine's own deadlines ten times faster than on Hetzner) on `ClusterPlan(name="demo")` (3 control planes,
2 workers, the API load balancer), with HOME in a temporary folder, and writes one JSON-lines file per run
to tests/support/recorded/:

    dry-run                  the dry-run of an empty project
    apply                    the apply that builds the cluster (and verifies it at its end)
    verify                   verify of that cluster
    destroy-declined         a destroy told no at its question (what the destroy dialog lists)
    destroy                  the destroy that deletes the cluster, told yes
    apply-node-unreachable   an apply in another empty project where demo-default-1 never answers SSH
                             (the simulator's `never_reachable` fault): the run fails on that node

A line is an event as the engine sent it, or `{"asked": question, "answer": yes}` where the engine asked
before going on. The files name nothing of the machine they were made on: the temporary HOME reads `~`,
the simulator's endpoint `http://127.0.0.1:8080/v1`, and times are rounded to 0.1 s.

Record again when the engine changes what it sends, then update the snapshots that change and look at
each before accepting it (`pytest tests/ui --snapshot-update`, then `python screenshots/make_screenshots.py`).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

TESTS = Path(__file__).resolve().parents[1]
if str(TESTS) not in sys.path:  # run as a script: the shared `support` package lives in tests/
    sys.path.insert(0, str(TESTS))

RECORDED = Path(__file__).resolve().with_name("recorded")
#: What the files say instead of the simulator's endpoint (its port differs on every start).
ENDPOINT = "http://127.0.0.1:8080/v1"
TIME_SCALE = 0.1
SEED = 1


class Recording:
    """The lines of one run, normalised as they come."""

    def __init__(self, home: Path, endpoint: str) -> None:
        self.home, self.endpoint = str(home), endpoint
        self.lines: list[str] = []

    def _plain(self, text: str) -> str:
        return text.replace(self.home, "~").replace(self.endpoint, ENDPOINT)

    def sink(self, event: Any) -> None:
        data = event.model_dump(mode="json")
        for key in ("elapsed", "duration"):
            if key in data:
                data[key] = round(data[key], 1)
        self.lines.append(self._plain(json.dumps(data, ensure_ascii=False, separators=(",", ":"))))

    def answering(self, yes: bool) -> Callable[[str], Awaitable[bool]]:
        async def confirm(question: str) -> bool:
            self.lines.append(json.dumps({"asked": self._plain(question), "answer": yes}, ensure_ascii=False,
                                         separators=(",", ":")))
            return yes

        return confirm

    def write(self, name: str) -> Path:
        path = RECORDED / f"{name}.jsonl"
        path.write_text("\n".join(self.lines) + "\n", encoding="utf-8")
        return path


def _isolate(home: Path) -> None:
    """HOME in `home` with a fresh SSH key where the plan's defaults look; the usual XDG folders under it."""
    from support.keys import write_private_key

    (home / ".ssh").mkdir(parents=True)
    _, key = write_private_key(home / ".ssh")
    (home / ".ssh" / "id_ed25519.pub").write_bytes(key.export_public_key("openssh"))
    os.environ["HOME"] = str(home)
    for var in ("XDG_CONFIG_HOME", "XDG_STATE_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME", "KUBECONFIG",
                "HCLOUD_TOKEN", "HCLOUD_CONTEXT", "HCLOUD_ENDPOINT", "HCLOUD_CONFIG"):
        os.environ.pop(var, None)
    os.environ["KHZ_TUI_MY_IP_URLS"] = ""  # the simulator says where khz-tui runs from; never the internet


async def _record(home: Path) -> list[Path]:
    from khz_tui.engine.api import run
    from khz_tui.engine.events import RunMode
    from khz_tui.plan.model import ClusterPlan
    from khz_tui.sim.contracts import NodeFaults
    from khz_tui.sim.faults import FaultProfile
    from khz_tui.sim.simulator import Simulator
    from support.simulator import target_of

    plan = ClusterPlan(name="demo")
    written: list[Path] = []

    async def one(sim: Simulator, name: str, mode: RunMode, *, answer: bool = True, ok: bool = True) -> None:
        recording = Recording(home, sim.endpoint)
        finished = await run(mode, plan, target_of(sim), sink=recording.sink, confirm=recording.answering(answer))
        if finished.ok is not ok:
            raise SystemExit(f"{name}: the {mode} {'failed' if ok else 'succeeded'}, which this recording is not "
                             f"meant to show: {finished.message}")
        written.append(recording.write(name))

    async with Simulator(time_scale=TIME_SCALE, seed=SEED) as sim:
        await one(sim, "dry-run", "dry-run")
        await one(sim, "apply", "apply")
        await one(sim, "verify", "verify")
        await one(sim, "destroy-declined", "destroy", answer=False, ok=False)
        await one(sim, "destroy", "destroy")
    faults = FaultProfile(node=NodeFaults(never_reachable=["demo-default-1"]))
    async with Simulator(time_scale=TIME_SCALE, seed=SEED, faults=faults) as sim:
        await one(sim, "apply-node-unreachable", "apply", ok=False)
    return written


def main() -> None:
    RECORDED.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="khz-record-") as tmp:
        home = Path(tmp) / "home"
        _isolate(home)
        for path in asyncio.run(_record(home)):
            print(f"wrote {path.relative_to(TESTS.parent)} ({len(path.read_text().splitlines())} lines)")


if __name__ == "__main__":
    main()
