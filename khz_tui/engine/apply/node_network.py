"""A node taken off the cluster's network (outside khz-tui): attach it again, with the private address
its k3s was configured with, or stop at once naming the node and the cause.

Without the network the node cannot be Ready (k3s' node-ip and flannel interface are gone), so
waiting for readiness would only wait out the whole deadline. Attaching it is the plan's state (every
node is on the cluster's network), so apply repairs it, as it powers on a stopped server."""

from __future__ import annotations

from hcloud.networks.client import BoundNetwork

from khz_tui.engine.apply.progress import ApplyProgress, Node
from khz_tui.engine.cloud.client import CloudError
from khz_tui.engine.cloud.servers import ServerFacts, server_facts
from khz_tui.engine.events import NodeRepaired
from khz_tui.engine.nodes import k3s_unit
from khz_tui.engine.nodes.network_interface import detect_private_iface
from khz_tui.engine.nodes.session import NodeSession


async def attach_again(
    run: ApplyProgress, node: Node, f: ServerFacts, session: NodeSession, network: BoundNetwork
) -> tuple[ServerFacts, str]:
    """Attach the node's server (`f`) to the cluster's network with the address its k3s uses (any free
    one when k3s was never configured there), wait until the node has it, and restart a running k3s
    so it binds to the interface again; returns the server as read again, and its private address.
    Raises CloudError naming the node and the cause when the address cannot be had."""
    name = node.slot.name
    address = await run.retrying(session, k3s_unit.configured_node_ip)
    run.bus.emit(NodeRepaired(node=name, repair="network-reattached", reason=(
        f"server {name} is not attached to the cluster's network {network.name} (taken off outside khz-tui); "
        f"attaching it again" + (f" with {address}, the address its k3s uses" if address else ""))))
    what = f"attaching server {name} to network {network.name}"
    try:
        await run.cloud.attach_to_network(f.id, network, address, what=what)
    except CloudError as exc:
        held = " (another server holds that address now)" if exc.code == "ip_not_available" else ""
        raise CloudError(
            f"server {name} was taken off the cluster's network {network.name}, and attaching it again"
            + (f" with {address}, the address its k3s uses," if address else "")
            + f" failed{held}: {exc.message}",
            code=exc.code, what=what,
            hint=(f"free {address} in network {network.name} (detach the server holding it), or delete server "
                  f"{name} so that apply creates it afresh" if address else exc.hint),
        ) from None
    fresh = await run.cloud.read_server(f.id, name)
    node.facts = server_facts(fresh, network.id)
    private = node.facts.private_ip
    if private is None:
        raise CloudError(f"server {name} is still not attached to network {network.name} after attaching it",
                         what=what, hint="look at the server's Networks tab in the Hetzner console")
    await run.retrying(
        session, detect_private_iface, private,
        timeout=run.policy.interface_deadline, interval=run.policy.interface_poll,
    )
    if await run.retrying(session, k3s_unit.unit_state, node.slot.role) == "active":
        # k3s picked its interfaces when it started; the network came back as a new NIC.
        run.bus.emit(NodeRepaired(node=name, repair="k3s-restarted",
                                  reason=f"restarting k3s on {name} so it uses the network again"))
        await run.retrying(session, k3s_unit.restart, node.slot.role, timeout=run.policy.k3s_start_deadline)
    return node.facts, private
