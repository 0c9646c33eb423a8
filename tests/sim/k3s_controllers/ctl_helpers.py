"""Helpers for the in-cluster controller tests: build with the real engine, run `k3s kubectl` on a
node over SSH, read the simulator's API over HTTP, poll with a bound."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import asyncssh
from support.simulator import target_of

from khz_tui.engine.api import run
from khz_tui.engine.events import RunFinished
from khz_tui.engine.options import RunOptions
from khz_tui.plan.model import ClusterPlan
from khz_tui.sim.simulator import Simulator

T = TypeVar("T")
READ_ONLY_TOKEN = "a-read-only-token-of-the-same-project"
POLL_ROUNDS = 400
POLL_SECONDS = 0.05


async def build(plan: ClusterPlan, sim: Simulator, tmp_path: Path) -> RunFinished:
    """`apply` with the real engine; the run must succeed."""
    finished = await run("apply", plan, target_of(sim), sink=lambda e: None,
                         options=RunOptions(yes=True, kubeconfig=tmp_path / f"{plan.name}.kubeconfig"))
    assert finished.ok, (finished.failed_step, finished.message)
    return finished


async def api(sim: Simulator, method: str, path: str, body: dict[str, Any] | None = None,
              token: str | None = None) -> tuple[int, dict[str, Any]]:
    """One request to the simulated Hetzner API."""
    headers = {"Authorization": f"Bearer {token or sim.token}"}
    async with aiohttp.ClientSession(headers=headers) as session:
        async with session.request(method, sim.endpoint + path, json=body) as resp:
            data = await resp.json(content_type=None) if resp.status != 204 else {}
            return resp.status, data or {}


async def get(sim: Simulator, path: str) -> dict[str, Any]:
    status, data = await api(sim, "GET", path)
    assert status == 200, data
    return data


async def server_ids(sim: Simulator) -> dict[str, int]:
    return {s["name"]: s["id"] for s in (await get(sim, "/servers"))["servers"]}


async def on_node(sim: Simulator, key: Path, server_id: int, command: str, stdin: str | None = None) -> asyncssh.SSHCompletedProcess:
    """A command on a simulated server over SSH."""
    targets = (await get(sim, f"/x-sim/ssh-targets?id={server_id}"))["targets"]
    async with asyncssh.connect(targets[0]["host"], targets[0]["port"], username="root", client_keys=[str(key)],
                                known_hosts=None, config=[], agent_path=None) as conn:
        return await conn.run(command, input=stdin, check=False)


class Kube:
    """`k3s kubectl` on one control plane, over SSH."""

    def __init__(self, sim: Simulator, key: Path, server_id: int) -> None:
        self.sim, self.key, self.server_id = sim, key, server_id

    async def run(self, args: str, stdin: str | None = None) -> asyncssh.SSHCompletedProcess:
        return await on_node(self.sim, self.key, self.server_id, f"k3s kubectl {args}", stdin)

    async def apply(self, manifest: str) -> None:
        done = await self.run("apply -f -", manifest)
        assert done.exit_status == 0, done.stderr

    async def json(self, args: str) -> Any:
        done = await self.run(f"{args} -o json")
        assert done.exit_status == 0, done.stderr
        return json.loads(done.stdout)

    async def events(self, namespace: str) -> list[dict[str, Any]]:
        return (await self.json(f"get events -n {namespace}"))["items"]


async def until(probe: Callable[[], Awaitable[T | None]], what: str, rounds: int = POLL_ROUNDS) -> T:
    """Poll `probe` until it returns something truthy (bounded)."""
    for _ in range(rounds):
        found = await probe()
        if found:
            return found
        await asyncio.sleep(POLL_SECONDS)
    raise AssertionError(f"timed out waiting for {what}")


def ingress_ips(svc: dict[str, Any]) -> list[str]:
    return [i.get("ip") for i in ((svc.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []]


def dns_probe(node: str, name: str = "kubernetes.default") -> str:
    """The command shape `verify` uses: a throwaway pod on NODE resolving NAME."""
    overrides = json.dumps({"apiVersion": "v1", "spec": {"nodeName": node}})
    return (f"run dns-{node} --image=busybox:1.36 --restart=Never --rm -i -q "
            f"--overrides='{overrides}' -- nslookup {name}")
