"""Joins on the simulator: every node installs the release the first server runs, even when the
plan's channel has moved on since (issue 9, finding 7); joins use the CA-pinning full token and go
through the API load balancer's private address."""

from __future__ import annotations

from khz_tui.engine.cluster_files import ClusterFiles
from khz_tui.sim.k3s import install


def _cluster(sim, name: str):
    ids = {s.id for s in sim.inspect.servers() if s.name.startswith(f"{name}-")}
    (cluster,) = sim.inspect.k3s_clusters(ids)
    return cluster


async def test_a_channel_gives_every_node_the_release_the_cluster_started_with(sim, make_plan, engine_run):
    small = make_plan("chan", cp=1, workers=1, lb=False, k3s={"channel": "stable"})
    assert (await engine_run("apply", small, sim)).finished.ok
    first = install.CHANNELS["stable"]
    assert ClusterFiles("chan").pinned_k3s_version() == first
    # The channel moves on between runs, as stable does at every k3s release.
    sim.nodes.publish_release("stable", "v1.34.2+k3s1")
    bigger = make_plan("chan", cp=1, workers=2, lb=False, k3s={"channel": "stable"})
    out = await engine_run("apply", bigger, sim)
    assert out.finished.ok, out.finished.message
    versions = {n.name: n.version for n in _cluster(sim, "chan").nodes.values()}
    assert set(versions) == {"chan-cp-1", "chan-default-1", "chan-default-2"}
    assert set(versions.values()) == {first}, versions


async def test_joins_use_the_full_token_through_the_api_load_balancer(sim, make_plan, engine_run):
    plan = make_plan("lbj", cp=3, workers=1, lb=True)
    assert (await engine_run("apply", plan, sim)).finished.ok
    cluster = _cluster(sim, "lbj")
    lb_private = sim.inspect.load_balancer("lbj-api").private_net[0].ip
    for server in sim.inspect.servers():
        if not server.name.startswith("lbj-") or server.name == "lbj-cp-1":
            continue
        join = sim.inspect.machine(server.id).k3s
        assert join.server_url == f"https://{lb_private}:6443", server.name
        assert join.token == cluster.token and join.token.startswith("K10"), server.name
