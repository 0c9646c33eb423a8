"""Two clusters whose names collide: cluster `x` with pool `web-a` and cluster `x-web` with pool `a`
both make server `x-web-a-1` (and placement group `x-web-a-pg-1`). The second plan is refused before
any change, naming the other cluster, whose resources stay exactly as they are."""

from __future__ import annotations

import asyncio

from hcloud import Client

from khz_tui import cli
from khz_tui.engine.cloud.names import cluster_labels
from khz_tui.sim.simulator import SimulatorThread, recording_node_host


def write_plan(tmp_path, ssh_keys, name: str, pool: str):
    private, public = ssh_keys
    path = tmp_path / f"{name}.toml"
    path.write_text(
        f'schema_version = 1\nname = "{name}"\n\n[ssh]\npublic_key = "{public}"\nprivate_key = "{private}"\n'
        '\n[control_plane]\ncount = 1\n\n[load_balancer]\nenabled = false\n'
        f'\n[[worker_pools]]\nname = "{pool}"\ncount = 1\n'
    )
    return path


def _create_other_cluster(endpoint: str, token: str) -> None:
    """What applying cluster `x-web` with pool `a` leaves: its worker server and placement group."""
    hc = Client(token=token, api_endpoint=endpoint)
    labels = cluster_labels("x-web", role="worker", pool="a", index="1")
    hc.placement_groups.create(name="x-web-a-pg-1", type="spread", labels=labels)
    hc.servers.create(name="x-web-a-1", server_type=hc.server_types.get_by_name("cpx22"),
                      image=hc.images.get_by_name_and_architecture("ubuntu-24.04", "x86"), labels=labels)


async def test_a_plan_whose_names_another_cluster_uses_is_refused_before_any_change(api_sim, make_plan, engine_run,
                                                                                   labeled) -> None:
    await asyncio.to_thread(_create_other_cluster, api_sim.endpoint, api_sim.token)
    theirs = {kind: [r.id for r in labeled(api_sim, kind, "x-web")] for kind in ("servers", "placement_groups")}
    plan = make_plan("x", cp=1, lb=False, worker_pools=[{"name": "web-a", "count": 1, "server_type": "cpx32"}])
    before = api_sim.mutating_request_count
    out = await engine_run("apply", plan, api_sim)
    assert not out.finished.ok and out.finished.bad_input and out.finished.failed_step == "names"
    message = out.finished.message
    assert "server x-web-a-1" in message and "belongs to cluster x-web" in message
    assert "placement group x-web-a-pg-1" in message
    assert "delet" not in (message + out.finished.hint).lower(), "never advise deleting another cluster's resource"
    assert "rename the pool" in out.finished.hint
    assert api_sim.mutating_request_count == before, "refused before any change"
    assert {kind: [r.id for r in labeled(api_sim, kind, "x-web")] for kind in theirs} == theirs
    assert all(labeled(api_sim, kind, "x") == [] for kind in ("servers", "networks", "firewalls", "placement_groups"))


async def test_a_hand_made_resource_with_a_planned_name_is_refused_too(api_sim, make_plan, engine_run) -> None:
    hc = Client(token=api_sim.token, api_endpoint=api_sim.endpoint)
    await asyncio.to_thread(hc.placement_groups.create, name="solo-cp", type="spread")
    before = api_sim.mutating_request_count
    out = await engine_run("apply", make_plan("solo", cp=1, lb=False), api_sim)
    assert out.finished.failed_step == "names" and out.finished.bad_input
    assert "placement group solo-cp" in out.finished.message and "not a khz-tui resource" in out.finished.message
    assert api_sim.mutating_request_count == before


def test_the_cli_exits_2_naming_the_other_cluster(tmp_path, ssh_keys, monkeypatch, capsys) -> None:
    with SimulatorThread(time_scale=0.02, seed=5, node_host_factory=recording_node_host) as sim:
        monkeypatch.setenv("HCLOUD_TOKEN", sim.token)
        _create_other_cluster(sim.endpoint, sim.token)
        before = sim.mutating_request_count
        code = cli.main(["--apply", str(write_plan(tmp_path, ssh_keys, "x", "web-a")), "--endpoint", sim.endpoint])
        out = capsys.readouterr().out
        assert code == 2, out
        assert "belongs to cluster x-web" in out
        assert sim.mutating_request_count == before
