"""The real `kubectl` as a subprocess, for tests that read a simulated cluster's API with it."""

from __future__ import annotations

import asyncio
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

KUBECTL_TIMEOUT = 60.0


@dataclass
class Ran:
    code: int
    out: str
    err: str


def kubectl_path() -> str:
    """The real kubectl, or a visible skip."""
    path = shutil.which("kubectl")
    if path is None:
        pytest.skip("kubectl is not installed (tests/run.sh installs Debian's kubernetes-client)")
    return path


async def kubectl(path: str, kubeconfig: Path, *args: str) -> Ran:
    """`kubectl --kubeconfig FILE ARGS...` as a subprocess (the simulator keeps serving meanwhile); bounded."""
    proc = await asyncio.create_subprocess_exec(
        path, "--kubeconfig", str(kubeconfig), "--request-timeout=20s", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=dict(os.environ))
    try:
        out, err = await asyncio.wait_for(proc.communicate(), KUBECTL_TIMEOUT)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise AssertionError(f"kubectl {' '.join(args)} did not finish in {KUBECTL_TIMEOUT}s") from None
    return Ran(proc.returncode or 0, out.decode(), err.decode())
