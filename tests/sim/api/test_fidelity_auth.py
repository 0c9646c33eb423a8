"""Fidelity of authentication and rate limiting, probed over HTTP as any client would.

Spec ("Error Codes"): `401 token_readonly`: "The token is only allowed to perform GET requests."
Spec ("Rate Limiting"): "All requests, whether they are authenticated or not, are subject to rate
limiting. [...] Responses contain several headers which provide information about your current rate
limit status."
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import requests

from khz_tui.sim.simulator import Simulator, recording_node_host

READ_ONLY = "read-only-token"
HEADERS = ("RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset")


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    async with Simulator(time_scale=0.01, seed=1, node_host_factory=recording_node_host, read_only_token=READ_ONLY,
                         rate_limit_per_hour=20) as running:
        yield running


@pytest.fixture
async def plain_sim() -> AsyncIterator[Simulator]:
    """One token only, as most projects use the simulator."""
    async with Simulator(time_scale=0.01, seed=1, node_host_factory=recording_node_host, rate_limit_per_hour=20) as running:
        yield running


async def call(sim: Simulator, method: str, path: str, token: str | None, body: Any = None,
               local: str | None = None) -> tuple[int, dict[str, Any], dict[str, str]]:
    """One request; `local` picks the client's source address (Linux routes all of 127/8 to loopback)."""
    connector = aiohttp.TCPConnector(local_addr=(local, 0)) if local else None
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    async with aiohttp.ClientSession(connector=connector) as session:
        async with session.request(method, f"{sim.endpoint}{path}", json=body, headers=headers) as reply:
            return reply.status, await reply.json(), dict(reply.headers)


# -- read-only token ------------------------------------------------------------------------------


async def test_read_only_token_reads(sim: Simulator) -> None:
    # "The token is only allowed to perform GET requests": GETs succeed.
    status, body, _ = await call(sim, "GET", "/servers", READ_ONLY)
    assert status == 200 and body["servers"] == []


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/networks", {"name": "n", "ip_range": "10.0.0.0/16"}),
        ("PUT", "/networks/1", {"name": "m"}),
        ("DELETE", "/networks/1", None),
        ("POST", "/servers/1/actions/poweroff", None),
    ],
)
async def test_read_only_token_refused_on_any_other_method(sim: Simulator, method: str, path: str, body: Any) -> None:
    # Spec: `401 token_readonly` "The token is only allowed to perform GET requests." Refused before
    # the request is looked at: even a change of a server that does not exist is not a 404.
    status, reply, headers = await call(sim, method, path, READ_ONLY, body)
    assert status == 401 and reply["error"]["code"] == "token_readonly"
    assert all(h in headers for h in HEADERS)
    status, reply, _ = await call(sim, "GET", "/networks", sim.token)
    assert reply["networks"] == [], "a refused change must change nothing"


async def test_read_only_token_shares_the_project_bucket(sim: Simulator) -> None:
    # A second token of the same project: the spec's limit is "per hour and per Project".
    _, _, first = await call(sim, "GET", "/servers", sim.token)
    _, _, second = await call(sim, "GET", "/servers", READ_ONLY)
    _, _, third = await call(sim, "POST", "/networks", READ_ONLY, {"name": "n", "ip_range": "10.0.0.0/16"})
    remaining = [int(h["RateLimit-Remaining"]) for h in (first, second, third)]
    assert remaining == [remaining[0], remaining[0] - 1, remaining[0] - 2]


async def test_read_only_tokens_requests_are_counted_as_authenticated(sim: Simulator) -> None:
    before = sim.request_count
    await call(sim, "GET", "/servers", READ_ONLY)
    await call(sim, "POST", "/networks", READ_ONLY, {"name": "n", "ip_range": "10.0.0.0/16"})
    assert sim.request_count == before + 2


def test_sim_serve_read_only_token() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "khz_tui", "sim", "serve", "--time-scale", "0.01", "--token", "rw",
         "--read-only-token", "ro"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        endpoint = proc.stdout.readline().strip().split("=", 1)[1]
        assert proc.stdout.readline().strip() == "export HCLOUD_TOKEN=rw"
        ro = {"Authorization": "Bearer ro"}
        assert requests.get(f"{endpoint}/servers", headers=ro, timeout=5).status_code == 200
        refused = requests.post(f"{endpoint}/networks", headers=ro, json={"name": "n", "ip_range": "10.0.0.0/16"}, timeout=5)
        assert refused.status_code == 401 and refused.json()["error"]["code"] == "token_readonly"
        rw = {"Authorization": "Bearer rw"}
        made = requests.post(f"{endpoint}/networks", headers=rw, json={"name": "n", "ip_range": "10.0.0.0/16"}, timeout=5)
        assert made.status_code == 201
    finally:
        proc.terminate()
        proc.wait(timeout=15)


def test_sim_serve_refuses_a_read_only_token_equal_to_the_token() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "khz_tui", "sim", "serve", "--token", "same", "--read-only-token", "same"],
        capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 2 and "--read-only-token must be non-empty and differ from --token" in proc.stderr


# -- unauthenticated requests ---------------------------------------------------------------------


async def test_unauthenticated_401_carries_rate_limit_headers(plain_sim: Simulator) -> None:
    sim = plain_sim
    # Spec: "Responses contain several headers which provide information about your current rate limit
    # status." The headers describe the caller's own budget, which each refused request spends.
    remaining = []
    for token in (None, "wrong"):
        status, body, headers = await call(sim, "GET", "/servers", token)
        assert status == 401 and body["error"]["code"] == "unauthorized"
        assert headers["RateLimit-Limit"] == "20" and int(headers["RateLimit-Reset"]) > 0
        remaining.append(int(headers["RateLimit-Remaining"]))
    assert remaining == [19, 18]


async def test_unauthenticated_requests_are_rate_limited_per_client_address(plain_sim: Simulator) -> None:
    sim = plain_sim
    # Spec: "All requests, whether they are authenticated or not, are subject to rate limiting. If you
    # have reached your limit, your requests will be handled with a `429 Too Many Requests` error."
    remaining = []
    for _ in range(20):
        status, _, headers = await call(sim, "GET", "/servers", "wrong", local="127.0.0.1")
        assert status == 401
        remaining.append(int(headers["RateLimit-Remaining"]))
    assert remaining == list(range(19, -1, -1))
    status, body, headers = await call(sim, "GET", "/servers", "wrong", local="127.0.0.1")
    assert status == 429 and body["error"]["code"] == "rate_limit_exceeded" and headers["RateLimit-Remaining"] == "0"
    # Another address has its own bucket; the project's bucket is untouched, and none of it was counted.
    status, _, headers = await call(sim, "GET", "/servers", None, local="127.0.0.2")
    assert status == 401 and headers["RateLimit-Remaining"] == "19"
    status, _, headers = await call(sim, "GET", "/servers", sim.token, local="127.0.0.1")
    assert status == 200 and headers["RateLimit-Remaining"] == "19"
    assert sim.request_count == 1
