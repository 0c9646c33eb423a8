"""Fixtures for tests that need a running simulator.

- `sim`: an async, running `Simulator` (time scale 0.01) on this test's event loop.
- `sim_thread`: a `Simulator` running on a background thread, for the synchronous hcloud client.
- `hclient`: an `hcloud.Client` pointed at `sim_thread`, polling actions every 50 ms.

API-only tests can use `api_sim_thread`/`api_client`, whose node host only records calls.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from hcloud import Client

from khz_tui.sim.simulator import Simulator, SimulatorThread, recording_node_host

TIME_SCALE = 0.01


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    """A running simulator on the test's event loop."""
    async with Simulator(time_scale=TIME_SCALE, seed=1) as running:
        yield running


@pytest.fixture
def sim_thread() -> Iterator[Simulator]:
    """A running simulator on a background thread (use with the synchronous hcloud client)."""
    with SimulatorThread(time_scale=TIME_SCALE, seed=1) as running:
        yield running


def make_client(sim: Simulator) -> Client:
    """An hcloud client for a simulator, polling actions quickly."""
    return Client(token=sim.token, api_endpoint=sim.endpoint, poll_interval=0.05, timeout=10)


@pytest.fixture
def hclient(sim_thread: Simulator) -> Client:
    """The pinned hcloud client talking to `sim_thread`."""
    return make_client(sim_thread)


@pytest.fixture
def api_sim_thread() -> Iterator[Simulator]:
    """A simulator whose machines only record calls (API tests that need no SSH)."""
    with SimulatorThread(time_scale=TIME_SCALE, seed=1, node_host_factory=recording_node_host) as running:
        yield running


@pytest.fixture
def api_client(api_sim_thread: Simulator) -> Client:
    """The pinned hcloud client talking to `api_sim_thread`."""
    return make_client(api_sim_thread)
