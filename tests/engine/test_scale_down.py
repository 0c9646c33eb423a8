"""Scale-down against the simulator: control planes leave etcd one at a time and the cluster stays
one; a shrinking pool takes exactly its deleted nodes' volumes with it.

Assertions read what the simulator holds (servers, volumes, actions, what its k3s holds)."""

from __future__ import annotations

from khz_tui.engine.events import NodePhaseChanged


async def yes(question: str) -> bool:
    return True


async def test_five_control_planes_scale_down_to_three(sim, make_plan, engine_run, labeled) -> None:
    big = make_plan("etcd", cp=5, workers=1)
    first = await engine_run("apply", big, sim)
    assert first.finished.ok, (first.finished.failed_step, first.finished.message)
    (before,) = sim.inspect.k3s_clusters({s.id for s in labeled(sim, "servers", "etcd")})
    assert sum(1 for n in before.nodes.values() if n.role == "server") == 5

    out = await engine_run("apply", make_plan("etcd", cp=3, workers=1), sim, confirm=yes)
    assert out.finished.ok, (out.finished.failed_step, out.finished.message)

    left = labeled(sim, "servers", "etcd")
    assert sorted(s.name for s in left) == ["etcd-cp-1", "etcd-cp-2", "etcd-cp-3", "etcd-default-1"]
    (cluster,) = sim.inspect.k3s_clusters()
    assert cluster.id == before.id and cluster.server_ids & {s.id for s in left}
    assert cluster.token == before.token
    # The Node object of a k3s server stands for its etcd member: both removed ones left, the rest stay.
    servers = sorted(n.name for n in cluster.nodes.values() if n.role == "server")
    assert servers == ["etcd-cp-1", "etcd-cp-2", "etcd-cp-3"] and cluster.learner is None
    assert all(n.ready for n in cluster.nodes.values()) and len(cluster.nodes) == 4
    (lb,) = labeled(sim, "load_balancers", "etcd")
    assert {s.name for s in sim.inspect.backends(lb.name)} == {"etcd-cp-1", "etcd-cp-2", "etcd-cp-3"}

    # One member at a time, each drained and out of Kubernetes before its server goes.
    steps = [(e.node, e.phase) for e in out.events if isinstance(e, NodePhaseChanged) and e.phase in ("deleting", "deleted")]
    assert steps == [("etcd-cp-4", "deleting"), ("etcd-cp-4", "deleted"), ("etcd-cp-5", "deleting"), ("etcd-cp-5", "deleted")]
    for name in ("etcd-cp-4", "etcd-cp-5"):
        order = [i for i, e in enumerate(out.events)
                 if (e.kind == "LogLine" and e.text == f"draining {name}")
                 or (e.kind == "ResourceDeleted" and e.resource_type == "server" and e.name == name)]
        assert len(order) == 2, f"{name}: drained once, deleted once"

    again = await engine_run("apply", make_plan("etcd", cp=3, workers=1), sim)
    assert again.finished.ok and not again.of("ResourceDeleted"), "a second run finds nothing to remove"


async def test_a_shrinking_pool_deletes_only_its_removed_nodes_volumes(sim, make_plan, engine_run, labeled) -> None:
    storage = {"volumes": [{"name": "data", "size_gb": 10, "pool": "default"}]}
    first = await engine_run("apply", make_plan("vols", cp=1, workers=3, lb=False, storage=storage), sim)
    assert first.finished.ok, (first.finished.failed_step, first.finished.message)
    before = {v.name: v for v in labeled(sim, "volumes", "vols")}
    assert sorted(before) == ["vols-data-1", "vols-data-2", "vols-data-3"]
    servers = {s.name: s.id for s in labeled(sim, "servers", "vols")}
    assert before["vols-data-3"].server == servers["vols-default-3"]

    out = await engine_run("apply", make_plan("vols", cp=1, workers=2, lb=False, storage=storage), sim, confirm=yes)
    assert out.finished.ok, (out.finished.failed_step, out.finished.message)

    after = {v.name: v for v in labeled(sim, "volumes", "vols")}
    assert sorted(after) == ["vols-data-1", "vols-data-2"]
    for name in after:  # untouched: same volume, same server, same size
        assert (after[name].id, after[name].server, after[name].size) == (
            before[name].id, before[name].server, before[name].size)
    commands = [a.command for a in sim.inspect.actions("volumes", before["vols-data-3"].id)]
    assert "detach_volume" in commands, "the removed node's volume is detached before it is deleted"
    assert [(e.resource_type, e.name) for e in out.of("ResourceDeleted")] == [
        ("volume", "vols-data-3"), ("server", "vols-default-3")]
    assert sorted(s.name for s in labeled(sim, "servers", "vols")) == ["vols-cp-1", "vols-default-1", "vols-default-2"]
