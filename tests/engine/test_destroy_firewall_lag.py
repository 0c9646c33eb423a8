"""Destroy against the firewall's detach lag: Hetzner keeps counting deleted servers as users of their
firewall for a while, so `DELETE /firewalls/{id}` right after answers `422 resource_in_use` (spec,
DELETE /firewalls/{id}: "Firewall still applied to a resource"; terraform-provider-hcloud retries it in
resourceFirewallDelete). The engine retries that delete, bounded and at the target's clock."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from hcloud import Client
from hcloud.firewalls.domain import Firewall
from hcloud.images.domain import Image
from hcloud.locations.domain import Location
from hcloud.server_types.domain import ServerType

from khz_tui.engine.cloud.names import cluster_labels, firewall_name
from khz_tui.engine.cloud.pacing import MAX_ATTEMPTS
from khz_tui.sim.api.config import Durations
from khz_tui.sim.simulator import Simulator, recording_node_host

TIME_SCALE = 0.02


@asynccontextmanager
async def lagging_sim(detach_seconds: float) -> AsyncIterator[Simulator]:
    """An API-only simulator whose firewalls detach `detach_seconds` (at scale 1) after a server delete."""
    durations = Durations()
    durations.firewall_detach = detach_seconds
    async with Simulator(time_scale=TIME_SCALE, seed=1, node_host_factory=recording_node_host, durations=durations) as sim:
        yield sim


def build_cluster_resources(sim: Simulator, cluster: str) -> None:
    """What apply leaves behind, as far as this case needs: the cluster's firewall on its servers."""
    hc = Client(token=sim.token, api_endpoint=sim.endpoint, poll_interval=0.02)
    labels = cluster_labels(cluster)
    fw = hc.firewalls.create(name=firewall_name(cluster), labels=labels).firewall
    for i in (1, 2):
        created = hc.servers.create(
            name=f"{cluster}-cp-{i}", server_type=ServerType(name="cx23"), image=Image(name="ubuntu-24.04"),
            location=Location(name="nbg1"), firewalls=[Firewall(id=fw.id)], labels=labels,
        )
        created.action.wait_until_finished()


async def test_destroy_retries_the_firewall_until_it_detaches(make_plan, engine_run, labeled) -> None:
    # 25 s at scale 1 is 0.5 s here: several retries, well inside the engine's bound.
    async with lagging_sim(25.0) as sim:
        plan = make_plan("lag", cp=1, lb=False)
        await asyncio.to_thread(build_cluster_resources, sim, "lag")
        out = await engine_run("destroy", plan, sim, yes=True)
        assert out.finished.ok, out.finished.message
        assert labeled(sim, "firewalls", "lag") == [] and labeled(sim, "servers", "lag") == []
        retried = out.of("DeleteRetried")
        assert retried, "the first firewall delete must have met resource_in_use"
        assert [(e.resource_type, e.name) for e in retried] == [("firewall", "lag")] * len(retried)
        assert [e.attempt for e in retried] == list(range(1, len(retried) + 1))
        assert all("still detaching" in e.reason for e in retried)


async def test_destroy_gives_up_on_a_firewall_that_stays_in_use(make_plan, engine_run, labeled) -> None:
    # 10^4 s at scale 1 is 200 s here, far past the engine's bound of a few seconds at this scale.
    async with lagging_sim(1e4) as sim:
        plan = make_plan("stuck", cp=1, lb=False)
        await asyncio.to_thread(build_cluster_resources, sim, "stuck")
        out = await engine_run("destroy", plan, sim, yes=True)
        assert not out.finished.ok
        assert out.finished.failed_step == "infrastructure"
        assert "firewall stuck" in out.finished.message and "resource_in_use" in out.finished.message
        assert "run destroy again" in out.finished.hint
        assert labeled(sim, "servers", "stuck") == [], "the servers were deleted before the firewall"
        assert len(labeled(sim, "firewalls", "stuck")) == 1
        assert len(out.of("DeleteRetried")) == MAX_ATTEMPTS - 1, "every attempt but the last is retried"
        assert not [e for e in out.of("ResourceDeleted") if e.resource_type == "firewall"]
