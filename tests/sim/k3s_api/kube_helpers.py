"""Helpers for the kube-apiserver tests: the real engine and the real kubectl as subprocess."""

from __future__ import annotations

import base64
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import asyncssh
import yaml
from support.simulator import target_of

from khz_tui.engine.api import run
from khz_tui.engine.events import EngineEvent, RunFinished
from khz_tui.engine.options import RunOptions
from khz_tui.plan.model import ClusterPlan
from khz_tui.sim.simulator import Simulator


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


def _tls(kubeconfig: Path) -> tuple[str, ssl.SSLContext]:
    """The API URL and a verifying TLS context (CA, client certificate) from a kubeconfig."""
    config = yaml.safe_load(kubeconfig.read_text())
    cluster, user = config["clusters"][0]["cluster"], config["users"][0]["user"]
    ctx = ssl.create_default_context(cadata=base64.b64decode(cluster["certificate-authority-data"]).decode())
    with tempfile.TemporaryDirectory() as tmp:
        pem = Path(tmp) / "client.pem"
        pem.write_bytes(base64.b64decode(user["client-certificate-data"]) + base64.b64decode(user["client-key-data"]))
        ctx.load_cert_chain(pem)
    return cluster["server"], ctx


async def api_get(kubeconfig: Path, path: str) -> dict[str, Any]:
    server, ctx = _tls(kubeconfig)
    async with aiohttp.ClientSession() as session:
        async with session.get(server + path, ssl=ctx, timeout=aiohttp.ClientTimeout(total=20)) as resp:
            assert resp.status == 200, (resp.status, await resp.text())
            return await resp.json()


async def ready_nodes(kubeconfig: Path) -> set[str]:
    nodes = (await api_get(kubeconfig, "/api/v1/nodes"))["items"]
    return {n["metadata"]["name"] for n in nodes
            if any(c["type"] == "Ready" and c["status"] == "True" for c in n["status"]["conditions"])}


async def hcloud(sim: Any, path: str) -> dict[str, Any]:
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {sim.token}"}) as session:
        async with session.get(sim.endpoint + path) as resp:
            assert resp.status == 200, await resp.text()
            return await resp.json()


async def on_node(sim: Any, key: Path, server_id: int, command: str) -> asyncssh.SSHCompletedProcess:
    """Run a command on a simulated server over SSH (its sshd's port from the simulator's x-sim API)."""
    targets = (await hcloud(sim, f"/x-sim/ssh-targets?id={server_id}"))["targets"]
    async with asyncssh.connect(targets[0]["host"], targets[0]["port"], username="root", client_keys=[str(key)],
                                known_hosts=None, config=[], agent_path=None) as conn:
        return await conn.run(command, check=False)
