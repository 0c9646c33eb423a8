"""The address khz-tui runs from, for plans whose allowed lists are empty (issue 9, finding 5).

No test reaches the internet: KHZ_TUI_MY_IP_URLS points at an echo server on 127.0.0.1 (real HTTP,
aiohttp), or is empty. `Simulator(announce=False)` answers like Hetzner (no /x-sim routes), so the
engine takes the real-cloud path and must ask the echo services itself.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from aiohttp import web

from khz_tui.engine.api import Target, run
from khz_tui.engine.caller_address import (
    SIMULATOR_SOURCE,
    URLS_VARIABLE,
    CallerAddressUnknown,
    configured_urls,
    detect_caller_cidrs,
)
from khz_tui.engine.cloud.names import firewall_name
from khz_tui.engine.events import EngineEvent
from khz_tui.engine.options import RunOptions
from khz_tui.sim.simulator import Simulator, recording_node_host

TIME_SCALE = 0.02


@dataclass
class EchoServer:
    """A loopback stand-in for api64.ipify.org and friends: each path answers its own way."""

    base: str
    hits: list[str] = field(default_factory=list)

    def url(self, path: str) -> str:
        return f"{self.base}/{path}"


async def _serve(host: str, answers: dict[str, str]) -> AsyncIterator[EchoServer]:
    echo: EchoServer | None = None

    async def handle(request: web.Request) -> web.StreamResponse:
        assert echo is not None
        name = request.match_info["name"]
        echo.hits.append(name)
        if name == "slow":
            await asyncio.sleep(30)  # cut short by the client's timeout, and by the runner's cleanup
        if name == "broken":
            return web.Response(status=500, text="oops")
        return web.Response(text=answers.get(name, "not an address at all\n"), content_type="text/plain")

    app = web.Application()
    app.router.add_get("/{name}", handle)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, host, 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    shown = f"[{host}]" if ":" in host else host
    echo = EchoServer(base=f"http://{shown}:{port}")
    try:
        yield echo
    finally:
        await runner.cleanup()


@pytest.fixture
async def echo() -> AsyncIterator[EchoServer]:
    async for server in _serve("127.0.0.1", {"ip": "203.0.113.7\n", "v6": "2001:db8::7"}):
        yield server


def _has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


# -- detection over HTTP -------------------------------------------------------------------------


async def test_an_ipv4_answer_becomes_a_32(echo: EchoServer) -> None:
    found = await detect_caller_cidrs(urls=[echo.url("ip")])
    assert [(f.cidr, f.source) for f in found] == [("203.0.113.7/32", echo.url("ip"))]


async def test_urls_are_tried_in_order_past_errors_junk_and_silence(echo: EchoServer) -> None:
    urls = [echo.url("broken"), echo.url("junk"), echo.url("slow"), echo.url("ip"), echo.url("never")]
    found = await detect_caller_cidrs(urls=urls, timeout=0.3)
    assert [f.cidr for f in found] == ["203.0.113.7/32"]
    assert found[0].source == echo.url("ip"), "the first URL that answers with an address is the source"
    # Over IPv4 each URL is asked in turn up to the one that answers; "never" is not reached.
    assert echo.hits.count("never") == 0 and echo.hits[:4] == ["broken", "junk", "slow", "ip"]


async def test_an_answer_of_the_wrong_family_is_not_taken(echo: EchoServer) -> None:
    # Asked over IPv4, a service that says an IPv6 address is wrong about this connection.
    with pytest.raises(CallerAddressUnknown) as err:
        await detect_caller_cidrs(urls=[echo.url("v6")], timeout=0.5)
    assert "not an IPv4 address" in err.value.message


@pytest.mark.skipif(not _has_ipv6_loopback(), reason="this machine has no IPv6 loopback")
async def test_an_ipv6_answer_becomes_a_128_beside_the_ipv4_one(echo: EchoServer) -> None:
    async for v6 in _serve("::1", {"ip": "2001:db8::7\n"}):
        found = await detect_caller_cidrs(urls=[v6.url("ip"), echo.url("ip")], timeout=1.0)
        # Per family: over IPv6 only [::1] is reachable, over IPv4 only 127.0.0.1.
        assert [(f.cidr, f.source) for f in found] == [
            ("203.0.113.7/32", echo.url("ip")), ("2001:db8::7/128", v6.url("ip"))]


async def test_nothing_answering_names_both_ways_out(echo: EchoServer) -> None:
    with pytest.raises(CallerAddressUnknown) as err:
        await detect_caller_cidrs(urls=[echo.url("broken")], timeout=0.5)
    assert "HTTP 500" in err.value.message
    assert "ssh.allowed_cidrs" in err.value.hint and URLS_VARIABLE in err.value.hint


def test_the_variable_decides_the_urls() -> None:
    assert configured_urls({URLS_VARIABLE: " http://a/ip , http://b/ip ,"}) == ["http://a/ip", "http://b/ip"]
    assert configured_urls({URLS_VARIABLE: ""}) == [], "an empty variable turns detection off"
    defaults = configured_urls({})
    assert len(defaults) >= 2 and all(u.startswith("https://") for u in defaults)


async def test_an_empty_variable_turns_detection_off(monkeypatch) -> None:
    monkeypatch.setenv(URLS_VARIABLE, "")
    with pytest.raises(CallerAddressUnknown) as err:
        await detect_caller_cidrs()
    assert "turned off" in err.value.message and URLS_VARIABLE in err.value.message


async def test_a_simulator_announcement_wins_and_no_service_is_asked(echo: EchoServer) -> None:
    found = await detect_caller_cidrs(simulated_cidr="127.0.0.1/32", urls=[echo.url("ip")])
    assert [(f.cidr, f.source) for f in found] == [("127.0.0.1/32", SIMULATOR_SOURCE)]
    assert echo.hits == []


# -- in runs -------------------------------------------------------------------------------------


def _real_cloud_target(sim: Simulator) -> Target:
    # What `--endpoint URL` gives: not known to be a simulator, so the engine probes /x-sim/info.
    return Target(endpoint=sim.endpoint, simulated=False, token=sim.token, time_scale=sim.time_scale)


def _allowing(plan, **lists: list[str]):
    return plan.model_copy(update={"ssh": plan.ssh.model_copy(update=lists)})


async def _run(mode: str, plan, target: Target) -> list[EngineEvent]:
    events: list[EngineEvent] = []
    await run(mode, plan, target, sink=events.append, options=RunOptions(yes=True))
    return events


async def test_dry_run_on_a_real_cloud_finds_and_says_the_address(make_plan, echo, monkeypatch) -> None:
    monkeypatch.setenv(URLS_VARIABLE, f"{echo.url('broken')},{echo.url('ip')}")
    async with Simulator(time_scale=TIME_SCALE, seed=1, node_host_factory=recording_node_host, announce=False) as sim:
        events = await _run("dry-run", make_plan("mine", cp=1), _real_cloud_target(sim))
    finished = events[-1]
    assert finished.ok, finished.message
    said = [e for e in events if e.kind == "CallerAddressDetected"]
    assert [(e.address, e.source) for e in said] == [("203.0.113.7/32", echo.url("ip"))]
    assert said[0].used_for == ["ssh.allowed_cidrs", "ssh.api_allowed_cidrs"]


async def test_a_filled_plan_needs_no_address(make_plan, echo, monkeypatch) -> None:
    monkeypatch.setenv(URLS_VARIABLE, echo.url("ip"))
    plan = _allowing(make_plan("filled", cp=1), allowed_cidrs=["198.51.100.0/24"], api_allowed_cidrs=["198.51.100.0/24"])
    async with Simulator(time_scale=TIME_SCALE, seed=1, node_host_factory=recording_node_host, announce=False) as sim:
        events = await _run("dry-run", plan, _real_cloud_target(sim))
    assert events[-1].ok and not [e for e in events if e.kind == "CallerAddressDetected"]
    assert echo.hits == []


@pytest.mark.parametrize("mode", ["apply", "dry-run"])
async def test_detection_off_on_a_real_cloud_is_exit_2_before_any_change(make_plan, monkeypatch, mode) -> None:
    monkeypatch.setenv(URLS_VARIABLE, "")
    async with Simulator(time_scale=TIME_SCALE, seed=1, node_host_factory=recording_node_host, announce=False) as sim:
        events = await _run(mode, make_plan("off", cp=1), _real_cloud_target(sim))
        assert sim.mutating_request_count == 0
    finished = events[-1]
    assert not finished.ok and finished.bad_input and finished.failed_step == "caller-address"
    assert "ssh.allowed_cidrs" in finished.hint and URLS_VARIABLE in finished.hint


async def test_apply_on_a_real_cloud_opens_the_firewall_to_the_detected_address(make_plan, echo, monkeypatch) -> None:
    # The run cannot reach nodes here (a real cloud's nodes answer on port 22 of their public address),
    # so it stops at SSH; what matters is the firewall it created before that.
    monkeypatch.setenv(URLS_VARIABLE, echo.url("ip"))
    async with Simulator(time_scale=TIME_SCALE, seed=1, node_host_factory=recording_node_host, announce=False) as sim:
        plan = _allowing(make_plan("fw", cp=1, lb=False), allowed_cidrs=["198.51.100.0/24"])
        events = await _run("apply", plan, _real_cloud_target(sim))
        firewalls = [f for f in sim.inspect.firewalls() if f.name == firewall_name("fw")]
    said = [e for e in events if e.kind == "CallerAddressDetected"]
    assert [(e.address, e.used_for) for e in said] == [("203.0.113.7/32", ["ssh.api_allowed_cidrs"])]
    assert len(firewalls) == 1
    sources = {r.port: r.source_ips for r in firewalls[0].rules}
    assert sources["22"] == ("198.51.100.0/24",), "a filled list is the plan's own"
    assert sources["6443"] == ("203.0.113.7/32",), "the empty list became the detected address"


async def test_a_simulator_announcement_wins_in_a_run(make_plan, sim_with_nodes, echo, monkeypatch, engine_run) -> None:
    monkeypatch.setenv(URLS_VARIABLE, echo.url("ip"))
    out = await engine_run("dry-run", make_plan("simwins", cp=1), sim_with_nodes)
    assert out.finished.ok
    assert [(e.address, e.source) for e in out.of("CallerAddressDetected")] == [("127.0.0.1/32", SIMULATOR_SOURCE)]
    assert echo.hits == []


@pytest.fixture
async def sim_with_nodes() -> AsyncIterator[Simulator]:
    async with Simulator(time_scale=TIME_SCALE, seed=1, node_host_factory=recording_node_host) as running:
        yield running
