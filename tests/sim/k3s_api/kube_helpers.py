"""Helpers for the kube-apiserver tests: the real engine and the real kubectl as subprocess."""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from pathlib import Path

from khz_tui.engine.api import run
from khz_tui.engine.events import EngineEvent, RunFinished
from khz_tui.engine.options import RunOptions
from khz_tui.plan.model import ClusterPlan
from khz_tui.sim.simulator import Simulator
from support.simulator import target_of

KUBECTL_TIMEOUT = 60.0


@dataclass
class Built:
    finished: RunFinished
    events: list[EngineEvent]
    kubeconfig: Path


async def engine(mode: str, plan: ClusterPlan, sim: Simulator, kubeconfig: Path) -> Built:
    """Run the real engine (`apply` or `destroy`) against the simulator over HTTP and SSH."""
    events: list[EngineEvent] = []
    finished = await run(mode, plan, target_of(sim), sink=events.append,
                         options=RunOptions(yes=True, kubeconfig=kubeconfig))
    return Built(finished, events, kubeconfig)


@dataclass
class Ran:
    code: int
    out: str
    err: str


async def kubectl(path: str, kubeconfig: Path, *args: str) -> Ran:
    """`kubectl --kubeconfig FILE ARGS...` as a subprocess (the simulator keeps serving meanwhile)."""
    proc = await asyncio.create_subprocess_exec(
        path, "--kubeconfig", str(kubeconfig), "--request-timeout=20s", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=dict(os.environ))
    try:
        out, err = await asyncio.wait_for(proc.communicate(), KUBECTL_TIMEOUT)
    except asyncio.TimeoutError:
        proc.kill()
        await proc.wait()
        raise AssertionError(f"kubectl {' '.join(args)} did not finish in {KUBECTL_TIMEOUT}s") from None
    return Ran(proc.returncode or 0, out.decode(), err.decode())
