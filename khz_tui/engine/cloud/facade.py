"""The cloud facade: one object, `Cloud`, bound to a run's client, bus, plan and inventory, whose verbs
are the only way the engine changes or reads its Hetzner project (outside `engine/cloud/` hcloud-python
is only imported for its types; its internals are reached in `hcloud_adapter.py` alone).

Every verb waits for the actions it starts (but `create_server`, whose create action `wait_created` waits
for, so the caller can go on meanwhile), and a change emits one event: a create `ResourceCreated`
(`ResourceFound` for a resource found or adopted instead), a delete `ResourceDeleted`. A delete of a
resource that is already gone succeeds without an event and returns False (the run did not delete it),
whichever path deletes it: destroy, scale-down, or apply recreating a broken server. An action the caller
asks for on a resource that exists (power on, attach to the network) emits nothing: the caller says why
it acts (`NodeRepaired`); a repair an `ensure_*` makes on its own (the firewall applied by its selector
again, a volume attached again) is said in a warning line. Errors are `CloudError`s with a hint
(`client.py`).

The verbs, by module:

- `cloud_base.py`: `discover`, `name_clashes`, `delete(kind, resource)`.
- `shared_resources.py`: `ensure_network`, `ensure_firewall`, `ensure_ssh_key`, `find_ssh_key`,
  `ensure_placement_group`, `ensure_load_balancer`.
- `servers.py`: `create_server`, `wait_created`, `power_on`, `attach_to_network`, `read_server`,
  `ensure_volume`.
- here: reads for destroy and verify (`cluster_servers`, `read_network`, `server_name`,
  `load_balancers`, `volume_named`, `find_addon_resources`) and the run lock's marker
  (`create_run_lock`, `find_run_lock`, `renew_run_lock`, `delete_run_lock`).
"""

from __future__ import annotations

from hcloud.load_balancers.client import BoundLoadBalancer
from hcloud.networks.client import BoundNetwork
from hcloud.placement_groups.client import BoundPlacementGroup
from hcloud.placement_groups.domain import PlacementGroup
from hcloud.servers.client import BoundServer
from hcloud.volumes.client import BoundVolume

from khz_tui.engine.cloud.addon_resources import (
    CCM_SERVICE_UID_LABEL,
    CSI_MANAGED_BY_SELECTOR,
    AddonResources,
    addon_resources,
)
from khz_tui.engine.cloud.client import CloudError
from khz_tui.engine.cloud.inventory import by_name
from khz_tui.engine.cloud.names import cluster_selector
from khz_tui.engine.cloud.servers import Servers
from khz_tui.engine.cloud.shared_resources import SharedResources


class Cloud(SharedResources, Servers):
    """One cluster's resources in its Hetzner Cloud project: every verb the engine uses (module docstring)."""

    # -- reads -------------------------------------------------------------------------------------

    async def cluster_servers(self) -> dict[str, BoundServer]:
        """The cluster's servers, by name (one list request)."""
        selector = cluster_selector(self.plan.name)
        servers = await self.client.call(lambda: self.client.hcloud.servers.get_all(label_selector=selector),
                                         what="listing the cluster's servers")
        return by_name(servers)

    async def read_network(self, network_id: int, name: str) -> BoundNetwork | None:
        """The network as the API has it now; None when it is gone."""
        try:
            return await self.client.call(lambda: self.client.hcloud.networks.get_by_id(network_id),
                                          what=f"reading network {name}")
        except CloudError as exc:
            if exc.not_found:
                return None
            raise

    async def server_name(self, server_id: int) -> str:
        """A server's name for a message (its id when it cannot be read). The members a network lists
        carry ids only, and reading `.name` of one would make hcloud-python fetch it synchronously."""
        try:
            found = await self.client.call(lambda: self.client.hcloud.servers.get_by_id(server_id),
                                           what=f"reading resource {server_id}")
        except CloudError:
            return str(server_id)
        return found.name or str(server_id)

    async def load_balancers(self, label_selector: str | None = None) -> list[BoundLoadBalancer]:
        """Every load balancer of the project (those matching `label_selector`, when given)."""
        what = ("listing load balancers" if label_selector is None
                else "listing the cloud controller's load balancers")
        return await self.client.call(lambda: self.client.hcloud.load_balancers.get_all(label_selector=label_selector),
                                      what=what)

    async def volume_named(self, name: str) -> BoundVolume | None:
        """The project's volume called `name` (the CSI driver names its volumes `pvc-<claim uid>`)."""
        return await self.client.call(lambda: self.client.hcloud.volumes.get_by_name(name),
                                      what="looking up the CSI driver's volume")

    async def find_addon_resources(self) -> AddonResources:
        """The cloud controller's load balancers and the CSI driver's volumes that belong to the cluster
        (`addon_resources`): two list requests, nothing changed."""
        lbs = await self.load_balancers(CCM_SERVICE_UID_LABEL)
        vols = await self.client.call(lambda: self.client.hcloud.volumes.get_all(label_selector=CSI_MANAGED_BY_SELECTOR),
                                      what="listing the CSI driver's volumes")
        return addon_resources(self.plan.name, self.inventory, lbs, vols)

    # -- the run lock's marker -------------------------------------------------------------------
    # A placement group, but not one of the cluster's resources: these verbs emit no resource events
    # (the run lock emits its own) and never adopt.

    async def create_run_lock(self, name: str, labels: dict[str, str]) -> BoundPlacementGroup:
        """Create the marker; CloudError `uniqueness_error` when a resource of that name exists."""
        created = await self.client.call(
            lambda: self.client.hcloud.placement_groups.create(name=name, type="spread", labels=labels),
            what=f"creating the run lock {name}")
        return created.placement_group

    async def find_run_lock(self, name: str, *, what: str) -> BoundPlacementGroup | None:
        """The placement group called `name`, if any (whether it is a marker is for its labels to say)."""
        return await self.client.call(lambda: self.client.hcloud.placement_groups.get_by_name(name), what=what)

    async def renew_run_lock(self, marker_id: int, name: str, labels: dict[str, str]) -> None:
        """Replace the marker's labels (CloudError not found: it was deleted or taken over)."""
        await self.client.call(lambda: self.client.hcloud.placement_groups.update(PlacementGroup(id=marker_id),
                                                                                  labels=labels),
                               what=f"renewing the run lock {name}")

    async def delete_run_lock(self, marker_id: int, *, what: str) -> bool:
        """Delete the marker by id (one made meanwhile by someone else has another id and is kept); False
        when it was gone already."""
        try:
            await self.client.call(lambda: self.client.hcloud.placement_groups.delete(PlacementGroup(id=marker_id)),
                                   what=what)
        except CloudError as exc:
            if exc.not_found:
                return False
            raise
        return True
