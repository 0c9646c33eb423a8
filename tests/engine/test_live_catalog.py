"""The catalog read live when a token is at hand (issue 9, finding 10): server types, locations, load
balancer types, images and prices from the API, cached with their date for a bounded time; the bundled
snapshot stays the offline fallback, and its deprecation flags follow Hetzner's (CX Gen2 and CPX Gen1
deprecated on 2025-10-16)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from khz_tui.engine.api import Target, run
from khz_tui.engine.caller_address import URLS_VARIABLE
from khz_tui.engine.cloud.client import CloudClient
from khz_tui.engine.cloud.live_catalog import MAX_AGE, cache_file, current_catalog, load_catalog
from khz_tui.engine.events import EngineEvent
from khz_tui.engine.options import RunOptions
from khz_tui.plan.catalog import bundled_catalog
from khz_tui.plan.checks import check_plan
from khz_tui.plan.model import ClusterPlan
from khz_tui.sim.simulator import Simulator, recording_node_host

TIME_SCALE = 0.02
GEN2_CX = ("cx22", "cx32", "cx42", "cx52")
GEN1_CPX = ("cpx11", "cpx21", "cpx31", "cpx41", "cpx51")


@pytest.fixture
async def cloud() -> AsyncIterator[Simulator]:
    # announce=False: the engine takes it for a real cloud, as `--endpoint` to Hetzner would be.
    async with Simulator(time_scale=TIME_SCALE, seed=1, node_host_factory=recording_node_host, announce=False) as sim:
        yield sim


def _gets(sim: Simulator) -> int:
    return sim.counts.by_method["GET"]


# -- the bundled snapshot ------------------------------------------------------------------------


@pytest.mark.parametrize("name", GEN2_CX + GEN1_CPX)
def test_the_snapshot_flags_cx_gen2_and_cpx_gen1_as_deprecated(name: str) -> None:
    st = bundled_catalog().server_type(name)
    assert st is not None and st.deprecated
    assert st.unavailable_after == "2026-01-01"


def test_the_default_plan_uses_no_deprecated_type() -> None:
    plan = ClusterPlan.model_validate({"name": "defaults"})
    catalog = bundled_catalog()
    types = [plan.control_plane.server_type, *(p.server_type for p in plan.worker_pools)]
    assert all(not catalog.server_type(t).deprecated for t in types), types
    assert not [p for p in check_plan(plan, catalog) if "deprecated" in p.message or "no longer sold" in p.message]


def test_a_gen1_cpx_plan_is_refused_with_its_successor() -> None:
    plan = ClusterPlan.model_validate({"name": "old", "control_plane": {"server_type": "cpx21"}})
    messages = [p.message for p in check_plan(plan, bundled_catalog()) if p.path == "control_plane.server_type"]
    assert messages and "cpx22" in messages[0]


# -- read live, cached ---------------------------------------------------------------------------


async def test_read_live_then_from_the_cache_without_a_request(cloud: Simulator, tmp_path: Path) -> None:
    client = CloudClient(cloud.endpoint, cloud.token)
    try:
        catalog = await load_catalog(client, cache_dir=tmp_path)
        assert catalog.source == "live" and catalog.snapshot_date == datetime.now(UTC).date().isoformat()
        assert catalog.server_type("cpx22") and catalog.server_type("cpx11").deprecated
        assert catalog.location("fsn1").network_zone == "eu-central"
        assert catalog.lb_type("lb11").max_targets == 25
        assert catalog.image("ubuntu-24.04", "x86") is not None
        assert catalog.ipv4_price_monthly, "prices come from GET /pricing"
        assert cache_file(cloud.endpoint, tmp_path).exists()
        before = _gets(cloud)
        again = await load_catalog(client, cache_dir=tmp_path)
        assert again.source == "cache" and _gets(cloud) == before
        assert again.server_types.keys() == catalog.server_types.keys()
    finally:
        client.close()


async def test_an_old_cache_is_read_again(cloud: Simulator, tmp_path: Path) -> None:
    client = CloudClient(cloud.endpoint, cloud.token)
    try:
        await load_catalog(client, cache_dir=tmp_path)
        before = _gets(cloud)
        later = datetime.now(UTC) + MAX_AGE + timedelta(minutes=1)
        fresh = await load_catalog(client, cache_dir=tmp_path, now=later)
        assert fresh.source == "live" and _gets(cloud) > before
        assert fresh.snapshot_date == later.date().isoformat()
    finally:
        client.close()


async def test_a_failed_read_falls_back_to_the_cache_then_the_snapshot(cloud: Simulator, tmp_path: Path) -> None:
    good = CloudClient(cloud.endpoint, cloud.token)
    refused = CloudClient(cloud.endpoint, "not-the-token")
    said: list[str] = []
    try:
        snapshot = await load_catalog(refused, cache_dir=tmp_path, warn=said.append)
        assert snapshot.source == "snapshot" and "bundled snapshot" in said[-1]
        await load_catalog(good, cache_dir=tmp_path)
        stale = await load_catalog(refused, cache_dir=tmp_path, now=datetime.now(UTC) + 2 * MAX_AGE, warn=said.append)
        assert stale.source == "cache" and "using the one read on" in said[-1]
    finally:
        good.close()
        refused.close()


async def test_a_simulator_is_read_live_and_never_cached(tmp_path: Path) -> None:
    async with Simulator(time_scale=TIME_SCALE, seed=1, node_host_factory=recording_node_host) as sim:
        client = CloudClient(sim.endpoint, sim.token)
        try:
            catalog = await load_catalog(client, simulated=True, cache_dir=tmp_path)
        finally:
            client.close()
    assert catalog.source == "live" and not list(tmp_path.rglob("*.json"))


# -- in runs -------------------------------------------------------------------------------------


async def _run(mode: str, plan: ClusterPlan, sim: Simulator) -> list[EngineEvent]:
    events: list[EngineEvent] = []
    target = Target(endpoint=sim.endpoint, simulated=False, token=sim.token, time_scale=sim.time_scale)
    await run(mode, plan, target, sink=events.append, options=RunOptions(yes=True))
    return events


def _allowed(plan: ClusterPlan) -> ClusterPlan:
    # Filled lists: these runs need no caller address.
    ssh = plan.ssh.model_copy(update={"allowed_cidrs": ["198.51.100.0/24"], "api_allowed_cidrs": ["198.51.100.0/24"]})
    return plan.model_copy(update={"ssh": ssh})


async def test_a_type_the_api_no_longer_sells_stops_the_run_before_any_change(cloud, make_plan, monkeypatch) -> None:
    # Hetzner retires cpx22 after our snapshot was taken: only the live catalog knows.
    monkeypatch.setenv(URLS_VARIABLE, "")
    cloud.deprecate_server_type("cpx22", announced="2026-01-01T00:00:00Z", unavailable_after="2026-02-01T00:00:00Z")
    for mode in ("dry-run", "apply"):
        events = await _run(mode, _allowed(make_plan("retired", cp=1)), cloud)
        finished = events[-1]
        assert not finished.ok and finished.bad_input and finished.failed_step == "catalog", finished.message
        assert "cpx22 is no longer sold" in finished.message
    assert cloud.mutating_request_count == 0


async def test_a_new_deprecation_is_a_warning_and_the_run_goes_on(cloud, make_plan, monkeypatch) -> None:
    monkeypatch.setenv(URLS_VARIABLE, "")
    cloud.deprecate_server_type("cpx22", announced="2026-11-01T00:00:00Z", unavailable_after="2999-01-01T00:00:00Z")
    events = await _run("dry-run", _allowed(make_plan("soon", cp=1)), cloud)
    assert events[-1].ok, events[-1].message
    warnings = [e.text for e in events if e.kind == "LogLine" and e.level == "warning"]
    assert any("cpx22 is deprecated" in w for w in warnings), warnings
    assert current_catalog() is bundled_catalog(), "outside a run the bundled snapshot is the catalog"
