"""Destroy keeps a network that a server of someone else's is attached to (issue 11, defect 11).

On Hetzner, deleting a network detaches whatever is attached ("Attached resources will be detached
automatically", DELETE /networks/{id} in the API spec; the simulator does the same), so a destroy that
deleted it would silently cut another server off. Destroy checks first: it keeps the network, says which
server holds it and what to do, and still deletes everything else of the cluster, the SSH key included.
"""

from __future__ import annotations

import asyncio

from hcloud import Client
from hcloud.images.domain import Image
from hcloud.locations.domain import Location
from hcloud.networks.domain import Network
from hcloud.server_types.domain import ServerType
from test_destroy_sweep import build_cluster

from khz_tui.engine.cloud.names import cluster_labels
from khz_tui.sim.simulator import Simulator, recording_node_host

TIME_SCALE = 0.02


def _foreign_server_on(sim: Simulator, network: int) -> int:
    hc = Client(token=sim.token, api_endpoint=sim.endpoint, poll_interval=0.02)
    made = hc.servers.create(name="someone-elses", server_type=ServerType(name="cpx22"), image=Image(name="ubuntu-24.04"),
                             location=Location(name="nbg1"), networks=[Network(id=network)], labels={"team": "other"})
    made.action.wait_until_finished()
    hc.ssh_keys.create(name="keep", public_key="ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEnnoWHtz5K0sHh4Lry9bPv0RBU4NqsbMzi3NDDd0Dwq x",
                       labels=cluster_labels("keep"))
    return made.server.id


async def test_destroy_keeps_a_network_another_server_holds_and_deletes_the_rest(make_plan, engine_run) -> None:
    async with Simulator(time_scale=TIME_SCALE, seed=1, node_host_factory=recording_node_host) as sim:
        built = await asyncio.to_thread(build_cluster, sim, "keep", "10.0.0.0/16")
        foreign = await asyncio.to_thread(_foreign_server_on, sim, built.network)

        out = await engine_run("destroy", make_plan("keep", cp=3, lb=False), sim, yes=True)
        assert not out.finished.ok, "a destroy that had to keep something is not a clean success"
        said = f"{out.finished.message} {out.finished.hint}"
        assert "someone-elses" in said and "network keep was kept" in said and "run the same destroy again" in said
        assert built.network in sim.inspect.ids("networks"), "the network stays"
        assert sim.inspect.find("servers", foreign).networks == (built.network,), \
            "the other server keeps its private network"
        assert not sim.inspect.ssh_keys("khz-tui.io/cluster=keep"), "the SSH key is deleted all the same"
        assert not set(built.servers) & sim.inspect.ids("servers")

        # Once the other server has left the network, the same destroy finishes the job.
        hc = Client(token=sim.token, api_endpoint=sim.endpoint, poll_interval=0.02)
        await asyncio.to_thread(lambda: hc.servers.detach_from_network(hc.servers.get_by_id(foreign),
                                                                         Network(id=built.network)).wait_until_finished())
        again = await engine_run("destroy", make_plan("keep", cp=3, lb=False), sim, yes=True)
        assert again.finished.ok, again.finished.message
        assert built.network not in sim.inspect.ids("networks") and foreign in sim.inspect.ids("servers")
