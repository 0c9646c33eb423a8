"""hcloud-python's private attributes the engine relies on (`engine/cloud/hcloud_adapter.py`): each test
fails at once, naming the attribute, when a release of hcloud-python renames, retypes or stops using
one, instead of the engine silently losing its request count, its rate-limit pacing or its single retry
policy."""

from __future__ import annotations

import asyncio

import pytest
import requests
from hcloud import APIException, Client

from khz_tui.engine.cloud.client import CloudClient
from khz_tui.engine.cloud.hcloud_adapter import http_session, new_client, request_headers
from khz_tui.sim.faults import EndpointFaults, FaultProfile
from khz_tui.sim.simulator import Simulator, recording_node_host


def test_the_private_attributes_exist_with_the_types_the_adapter_expects() -> None:
    client = Client(token="t0ken", api_endpoint="http://127.0.0.1:9/v1")
    base = client._client
    assert isinstance(base._session, requests.Session), "hcloud's Client._client._session is gone or retyped"
    assert isinstance(base._headers, dict), "hcloud's Client._client._headers is gone or retyped"
    assert base._headers.get("Authorization") == "Bearer t0ken", "the headers no longer carry the token"
    retries = base.__dict__.get("_retry_max_retries")
    assert type(retries) is int and retries > 0, "hcloud's Client._client._retry_max_retries is gone or retyped"
    assert http_session(client) is base._session and request_headers(client) is base._headers


async def test_a_client_of_the_adapter_never_retries_on_its_own() -> None:
    # hcloud-python retries rate_limit_exceeded itself; with its retries off, one 429 is one request.
    faults = FaultProfile(endpoints=[EndpointFaults(pattern="GET /locations*", rate_limited=1.0)])
    async with Simulator(time_scale=0.02, seed=1, node_host_factory=recording_node_host, faults=faults) as sim:
        client = new_client(sim.endpoint, sim.token, timeout=(5.0, 5.0), pool_size=4)
        assert client._client.__dict__.get("_retry_max_retries") == 0
        seen: list[int] = []
        http_session(client).hooks["response"].append(lambda response, *a, **kw: seen.append(response.status_code))
        with pytest.raises(APIException) as refused:
            await asyncio.to_thread(client.locations.get_all)
        assert refused.value.code == "rate_limit_exceeded"
        assert seen == [429], "hcloud-python retried a request although its retries were switched off"
        http_session(client).close()


async def test_the_response_hook_sees_every_request_and_its_rate_limit_headers(api_sim) -> None:
    client = CloudClient(api_sim.endpoint, api_sim.token)
    try:
        headers: list[requests.structures.CaseInsensitiveDict[str]] = []
        http_session(client.hcloud).hooks["response"].append(lambda response, *a, **kw: headers.append(response.headers))
        await client.request("GET", "/server_types")
        assert len(headers) == 2, "the endpoint check and the request, both through the hooked session"
        for name in ("RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"):
            assert all(h.get(name, "").isdigit() for h in headers), name
        assert client.usage.requests == 2
        assert client.usage.rate_limit_remaining == int(headers[-1]["RateLimit-Remaining"])
    finally:
        client.close()
