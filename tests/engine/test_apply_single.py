"""A single-node cluster end to end: servers over HTTP, k3s over real SSH, assertions on the simulator."""

from __future__ import annotations


async def test_single_node_cluster_comes_up(sim, make_plan, engine_run, labeled, tmp_path) -> None:
    plan = make_plan("solo", cp=1, workers=0, lb=False)
    kubeconfig = tmp_path / "kubeconfig"
    out = await engine_run("apply", plan, sim, kubeconfig=kubeconfig)
    assert out.finished.ok, (out.finished.failed_step, out.finished.message)
    servers = labeled(sim, "servers", "solo")
    assert [s.name for s in servers] == ["solo-cp-1"]
    phases = [e.phase for e in out.of("NodePhaseChanged") if e.node == "solo-cp-1"]
    assert phases[0] == "creating" and phases[-1] == "ready"
    assert kubeconfig.exists() and oct(kubeconfig.stat().st_mode)[-3:] == "600"
    assert out.finished.nodes_ready == 1
