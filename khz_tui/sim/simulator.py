"""The whole simulator in one object: the API emulator over HTTP and the simulated machines, wired
through the contracts in `sim.contracts`.

    async with Simulator(time_scale=0.02) as sim:
        client = hcloud.Client(token=sim.token, api_endpoint=sim.endpoint)
        sim.inspect.servers()      # what the simulated cloud holds (see `sim.inspection`)

`SimulatorThread` runs the same thing on a background event loop for synchronous callers (the
hcloud client in tests, the TUI's `--sim`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import secrets
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from khz_tui.sim.api.actions import ActionFailure
from khz_tui.sim.api.addresses import BlockClaim, PublicAddresses, claim_block
from khz_tui.sim.api.app import RequestCounts, build_app
from khz_tui.sim.api.config import Durations, SimConfig
from khz_tui.sim.api.ratelimit import TokenBucket
from khz_tui.sim.api.store import CloudStore
from khz_tui.sim.contracts import CloudView, NodeFaults, NodeHost, NodeSpec
from khz_tui.sim.faults import FaultDice, FaultProfile
from khz_tui.sim.inspection import Inspection
from khz_tui.sim.nodes.host import SimNodes

log = logging.getLogger(__name__)

NodeHostFactory = Callable[[CloudView, float, int, NodeFaults], NodeHost]


class RecordingNodeHost:
    """A stand-in node host that only records calls: API-only tests exercise the API emulator on its own."""

    def __init__(self, cloud: CloudView, *, time_scale: float = 1.0, seed: int = 0, faults: NodeFaults | None = None):
        self.cloud = cloud
        self.calls: list[tuple[str, Any]] = []
        self.booted: dict[int, NodeSpec] = {}

    async def boot(self, spec: NodeSpec, boot_seconds: float) -> None:
        self.calls.append(("boot", spec.server_id))
        self.booted[spec.server_id] = spec

    async def power_off(self, server_id: int) -> None:
        self.calls.append(("power_off", server_id))

    async def reboot(self, server_id: int, boot_seconds: float) -> None:
        self.calls.append(("reboot", server_id))

    async def networks_changed(self, server_id: int, private_ips: dict[int, str]) -> None:
        self.calls.append(("networks_changed", (server_id, dict(private_ips))))
        if server_id in self.booted:
            self.booted[server_id].private_ips = dict(private_ips)

    async def remove(self, server_id: int) -> None:
        self.calls.append(("remove", server_id))
        self.booted.pop(server_id, None)

    def ssh_target(self, server_id: int) -> tuple[str, int] | None:
        return None

    def listening(self, server_id: int, port: int) -> bool:
        return False  # nothing runs on a recorded machine

    def public_addresses_changed(self) -> None:
        pass

    def export_state(self) -> dict[str, Any]:
        return {}

    async def import_state(self, state: dict[str, Any], specs: list[NodeSpec]) -> None:
        for spec in specs:
            self.booted[spec.server_id] = spec

    async def close(self) -> None:
        self.calls.append(("close", None))


def recording_node_host(cloud: CloudView, time_scale: float, seed: int, faults: NodeFaults) -> NodeHost:
    """Factory for `RecordingNodeHost` (pass as `node_host_factory` for API-only tests)."""
    return RecordingNodeHost(cloud, time_scale=time_scale, seed=seed, faults=faults)


def default_node_host(cloud: CloudView, time_scale: float, seed: int, faults: NodeFaults) -> NodeHost:
    """The simulated machines (`sim.nodes`): sshd, cloud-init and k3s."""
    return SimNodes(cloud, time_scale=time_scale, seed=seed, faults=faults)


class Simulator:
    """A running simulated Hetzner Cloud project (async context manager)."""

    def __init__(
        self,
        *,
        token: str | None = None,
        time_scale: float = 1.0,
        seed: int = 0,
        faults: FaultProfile | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        state_file: Path | None = None,
        server_limit: int = 200,
        rate_limit_per_hour: int = 3600,
        node_host_factory: NodeHostFactory | None = None,
        durations: Durations | None = None,
        announce: bool = True,
        read_only_token: str | None = None,
    ):
        if time_scale <= 0:
            raise ValueError("time_scale must be positive")
        self.token = token or secrets.token_urlsafe(32)
        if read_only_token is not None and (not read_only_token or read_only_token == self.token):
            raise ValueError("read_only_token must be non-empty and differ from token")
        self.read_only_token = read_only_token
        """A second token of the same project that may only GET (`401 token_readonly` otherwise)."""
        self.time_scale = time_scale
        self.seed = seed
        self.faults = faults or FaultProfile()
        self.host = host
        self.port = port
        self.state_file = Path(state_file) if state_file else None
        self.announce = announce
        """Serve the simulator-only `/x-sim` routes; False makes the API indistinguishable from Hetzner's."""
        self.config = SimConfig(time_scale=time_scale, seed=seed, server_limit=server_limit, durations=durations or Durations())
        self.bucket = TokenBucket(rate_limit_per_hour)
        self.counts = RequestCounts()
        self.controller_counts = RequestCounts()
        """Requests of the simulated in-cluster controllers (hcloud CCM, CSI driver), counted apart
        from `counts` so a test of the engine's requests measures the engine only."""
        self.dice = FaultDice(self.faults, seed)
        self.cloud = CloudStore(self.config)
        """The simulated cloud's resources (tests read them through `inspect`)."""
        self.cloud.create_failure = self._create_failure
        factory = node_host_factory or default_node_host
        self.nodes: NodeHost = factory(self.cloud, time_scale, seed, self.faults.node)
        self.cloud.nodes = self.nodes
        self._loop: asyncio.AbstractEventLoop | None = None
        self.inspect = Inspection(self.cloud, self.nodes, lambda: self._loop)
        """Read-only queries over the simulated cloud and machines, for tests (`sim.inspection`)."""
        self._runner: web.AppRunner | None = None
        self._controller_runner: web.AppRunner | None = None
        self._claim: BlockClaim | None = None
        self.endpoint = ""

    def _create_failure(self, kind: str, name: str) -> ActionFailure | None:
        if self.dice.create_fails(kind, name):
            code = "action_failed" if kind == "server" else "server_error"
            return ActionFailure(code, f"simulated failure creating {kind} {name}")
        return None

    @property
    def request_count(self) -> int:
        """Authenticated requests answered so far."""
        return self.counts.total

    @property
    def mutating_request_count(self) -> int:
        """POST/PUT/DELETE requests answered so far."""
        return self.counts.mutating

    def deprecate_server_type(self, name: str, *, announced: str, unavailable_after: str) -> None:
        """Hetzner announces that a server type goes out of sale (ISO 8601 times): the catalog this
        simulator serves shows the deprecation from now on."""
        record = self.cloud.offer.server_type(name)
        record.update(deprecated=True, deprecation={"announced": announced, "unavailable_after": unavailable_after})

    def __repr__(self) -> str:  # never show the token
        return f"Simulator(endpoint={self.endpoint!r}, time_scale={self.time_scale}, seed={self.seed})"

    async def start(self) -> None:
        """Claim a block of public addresses, restore saved state if any, then listen."""
        saved = None
        if self.state_file and self.state_file.exists():
            saved = json.loads(self.state_file.read_text(encoding="utf-8"))
        # A restored project keeps its block: its addresses are in the servers and kubeconfigs.
        self._claim = claim_block((saved or {}).get("cloud", {}).get("public_block"), random.Random())
        if not self._claim.loopback:
            log.warning("cannot bind loopback aliases here: public addresses come from %s and each "
                        "simulated Kubernetes API listens on 127.0.0.1 with a port of its own", self._claim.block)
        self.cloud.public = PublicAddresses(self._claim.block)
        loop = self._loop = asyncio.get_running_loop()

        def addresses_changed() -> None:
            loop.call_soon(self.nodes.public_addresses_changed)

        self.cloud.public.on_change = addresses_changed
        if saved is not None:
            await self._restore(saved)
        app = build_app(self.cloud, token=self.token, bucket=self.bucket, dice=self.dice, counts=self.counts,
                        announce=self.announce, read_only_token=self.read_only_token)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = self._runner.addresses[0][1]
        self.endpoint = f"http://{self.host}:{self.port}/v1"
        # The in-cluster controllers reach the same API (same state, tokens and rate limit) on a
        # listener of their own, whose requests are counted in `controller_counts`.
        controllers = build_app(self.cloud, token=self.token, bucket=self.bucket, dice=self.dice,
                                counts=self.controller_counts, announce=False, read_only_token=self.read_only_token)
        self._controller_runner = web.AppRunner(controllers, access_log=None, handle_signals=False)
        await self._controller_runner.setup()
        controller_site = web.TCPSite(self._controller_runner, "127.0.0.1", 0)
        await controller_site.start()
        port = self._controller_runner.addresses[0][1]
        self.cloud.endpoint = f"http://127.0.0.1:{port}/v1"

    async def _restore(self, data: dict[str, Any]) -> None:
        self.cloud.restore(data.get("cloud", {}))
        running = [self.cloud.node_spec(s) for s in self.cloud.servers.values() if s["status"] == "running"]
        await self.nodes.import_state(data.get("nodes", {}), running)

    def export(self) -> dict[str, Any]:
        """The whole simulated project (API state and machines) as JSON-serialisable data."""
        return {"version": 1, "cloud": self.cloud.export(), "nodes": self.nodes.export_state()}

    async def stop(self) -> None:
        """Stop listening, save state if asked, stop the machines."""
        for runner in (self._runner, self._controller_runner):
            if runner is not None:
                await runner.cleanup()
        self._runner = self._controller_runner = None
        await self.cloud.actions.close()
        if self.state_file:
            tmp = self.state_file.with_suffix(self.state_file.suffix + ".tmp")
            tmp.write_text(json.dumps(self.export(), indent=1), encoding="utf-8")
            tmp.replace(self.state_file)
        await self.nodes.close()
        if self._claim is not None:
            self._claim.release()
            self._claim = None

    async def __aenter__(self) -> Simulator:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


class SimulatorThread:
    """A `Simulator` on its own event loop in a daemon thread, for synchronous callers.

    `with SimulatorThread(time_scale=0.02) as sim:` gives the started `Simulator`; `run(coro)`
    executes a coroutine on the simulator's loop (to change what it holds safely; `sim.inspect`
    reads from any thread).
    """

    def __init__(self, **kwargs: Any):
        self._kwargs = kwargs
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="khz-sim", daemon=True)
        self.sim: Simulator | None = None

    def run(self, coro: Any, timeout: float = 30.0) -> Any:
        """Run a coroutine on the simulator's loop and return its result."""
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def __enter__(self) -> Simulator:
        self._thread.start()

        async def make() -> Simulator:
            sim = Simulator(**self._kwargs)
            await sim.start()
            return sim

        self.sim = self.run(make())
        return self.sim

    def __exit__(self, *exc: object) -> None:
        try:
            if self.sim is not None:
                self.run(self.sim.stop())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
            self._loop.close()
