"""Empty firewall ranges show the address they stand for and where it came from; ctrl+l writes it into the
plan; review says who can connect and calls a world-open range what it is (issue 13, item 7)."""

from __future__ import annotations

from pathlib import Path

import pytest
from aiohttp import web
from support.recorded_runs import recorded_runner_factory
from textual.widgets import Input, Static

from khz_tui.engine.options import RunOptions
from khz_tui.launch.connect import connect
from khz_tui.plan.model import ClusterPlan
from khz_tui.plan.toml_io import save_plan
from khz_tui.ui.app import KhzApp
from khz_tui.ui.screens.networking import NetworkingStep

SIZE = (100, 32)


async def _settle(pilot) -> None:
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


async def _to_networking(pilot) -> NetworkingStep:
    for _ in range(2):
        await pilot.press("ctrl+n")
        await _settle(pilot)
    assert isinstance(pilot.app.screen, NetworkingStep)
    return pilot.app.screen


async def test_the_simulators_announced_address_fills_the_empty_fields(make_app) -> None:
    # The app's runs are scripted, but the address comes from a real simulated project (an isolated HOME).
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        step = await _to_networking(pilot)
        line = str(step.query_one("#caller-address", Static).render())
        assert "127.0.0.1/32" in line and "the simulator (GET /x-sim/info)" in line, line
        assert "127.0.0.1/32" in step.query_one("#ssh-cidrs", Input).placeholder
        await pilot.press("ctrl+l")
        await pilot.pause()
        assert step.query_one("#ssh-cidrs", Input).value == "127.0.0.1/32"
        assert app.draft.get("ssh.allowed_cidrs") == ["127.0.0.1/32"]
        assert app.draft.get("ssh.api_allowed_cidrs") == ["127.0.0.1/32"]


@pytest.fixture
async def echo_service(monkeypatch: pytest.MonkeyPatch):
    """A local echo service that answers with the caller's address, as the public ones do."""

    async def answer(request: web.Request) -> web.Response:
        return web.Response(text=f"{request.remote}\n")

    app = web.Application()
    app.router.add_get("/ip", answer)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    url = f"http://127.0.0.1:{port}/ip"
    monkeypatch.setenv("KHZ_TUI_MY_IP_URLS", url)
    yield url
    await runner.cleanup()


async def test_on_hetzner_the_echo_services_answer_is_shown_with_its_url(echo_service: str, monkeypatch) -> None:
    monkeypatch.setenv("HCLOUD_TOKEN", "t" * 64)  # the wizard's first step wants a token; nothing uses it here
    app = KhzApp(None, RunOptions(sim=False), connect=connect, runner_factory=recorded_runner_factory())
    async with app.run_test(size=SIZE) as pilot:
        step = await _to_networking(pilot)
        line = str(step.query_one("#caller-address", Static).render())
        assert f"127.0.0.1/32 (from {echo_service})" in line, line


async def test_review_names_who_can_connect_and_a_world_open_range(make_app, tmp_path: Path) -> None:
    path = tmp_path / "open.toml"
    save_plan(ClusterPlan.model_validate({"name": "demo", "ssh": {"allowed_cidrs": ["0.0.0.0/0"]}}), path)
    app = make_app(path)
    async with app.run_test(size=SIZE) as pilot:
        await _settle(pilot)
        access = str(app.screen.query_one("#access", Static).render())
        assert "SSH: 0.0.0.0/0  ⚠ the whole internet" in access, access
        assert "API: this machine only (127.0.0.1/32)" in access, access
