"""What a run checks before it changes anything, in the order the runner asks (which checks a mode
needs is in `run_modes.py`):

1. the SSH key pair: on a simulated target an unusable pair is swapped for a generated one; apply
   needs a pair OpenSSH would accept (see `preflight.py` for the private key's checks);
2. the endpoint: one probe tells a simulator from a real cloud (and fails fast on a wrong endpoint or token);
3. the catalog: the plan against what this project's API sells today;
4. the caller's address, for firewall ranges the plan leaves empty;
5. the firewall's sources, known before anything is created.

Each check returns what the run continues with (the plan with a key or addresses filled in, the node
access, the catalog) or raises `Refused`, which ends the run before any change (see `run_ending.py`).
"""

from __future__ import annotations

from pathlib import Path

from khz_tui.engine.bus import EventBus
from khz_tui.engine.caller_address import (
    CallerAddressUnknown,
    detect_caller_cidrs,
    needs_caller_address,
    with_caller_cidrs,
)
from khz_tui.engine.client_key import check_client_key
from khz_tui.engine.cloud import live_catalog
from khz_tui.engine.cloud.client import CloudClient, CloudError
from khz_tui.engine.cloud.node_access import NodeAccess, probe_node_access
from khz_tui.engine.cluster_files import ClusterFiles
from khz_tui.engine.events import CallerAddressDetected
from khz_tui.engine.requests import firewall_rules
from khz_tui.engine.run_ending import Refused, refused_by_cloud
from khz_tui.plan.catalog import Catalog, bundled_catalog
from khz_tui.plan.checks import check_plan
from khz_tui.plan.model import ClusterPlan

KEY_PAIR_HINT = ("point ssh.public_key and ssh.private_key at an existing key pair "
                 "(ssh-keygen -t ed25519 makes one)")
CATALOG_HINT = "change the plan to types, locations and images the API offers (khz-tui validate lists them)"


def ssh_key_problem(plan: ClusterPlan) -> str | None:
    """Why the plan's SSH key pair cannot be used, or None."""
    for what, name in (("public", plan.ssh.public_key), ("private", plan.ssh.private_key)):
        path = Path(name).expanduser()
        if not path.is_file():
            return f"the SSH {what} key {path} does not exist"
    public = Path(plan.ssh.public_key).expanduser().read_text(encoding="utf-8", errors="replace").split()
    if len(public) < 2 or not public[0].startswith(("ssh-", "ecdsa-")):
        return f"{plan.ssh.public_key} is not an OpenSSH public key"
    return None


def with_simulated_client_key(plan: ClusterPlan, files: ClusterFiles, bus: EventBus, problem: str) -> ClusterPlan:
    """The plan with a generated login key pair, for simulated targets whose plan names a key that
    cannot be used (`problem` says why)."""
    private, public = files.simulated_client_key()
    bus.log(f"{problem}; this is a simulated cloud, so a key generated for it is used: {private}")
    ssh = plan.ssh.model_copy(update={"public_key": str(public), "private_key": str(private)})
    return plan.model_copy(update={"ssh": ssh})


async def usable_key_pair(plan: ClusterPlan, *, simulated: bool, required: bool, files: ClusterFiles,
                          bus: EventBus) -> ClusterPlan:
    """The plan with the key pair the run signs in with. On a simulated target an unusable pair is
    replaced by the generated one in every mode (they must agree on it); when `required` (apply) the
    pair is checked as OpenSSH would check it (passphrase, agent, permissions) or the run is refused."""
    problem = ssh_key_problem(plan) if simulated or required else None
    if simulated and problem:
        plan = with_simulated_client_key(plan, files, bus, problem)
        problem = ssh_key_problem(plan)
    if not required:
        return plan
    if problem:
        raise Refused("ssh-key", problem, KEY_PAIR_HINT)
    refusal = await check_client_key(plan, lambda text: bus.log(text, level="warning"))
    if refusal is not None:
        raise Refused("ssh-key", refusal.message, refusal.hint)
    return plan


async def reach(client: CloudClient, plan: ClusterPlan) -> NodeAccess:
    """How this run reaches the target and its nodes (simulator or real cloud); Refused when the
    endpoint cannot be reached or refuses the token."""
    try:
        return await probe_node_access(client, ssh_port=plan.ssh.port)
    except CloudError as exc:
        raise refused_by_cloud("connect", exc) from None


def catalog_refusal(plan: ClusterPlan, catalog: Catalog, bus: EventBus) -> str | None:
    """Check the plan against the run's catalog. What it finds beyond the bundled snapshot's findings
    (those were shown when the plan was loaded): errors as one message, warnings logged."""
    where = "bundled with khz-tui" if catalog.source == "snapshot" else "read from the API"
    bus.log(f"checking the plan against the catalog {where} on {catalog.snapshot_date}")
    if catalog.source == "snapshot":
        return None
    known = {str(p) for p in check_plan(plan, bundled_catalog())}
    new = [p for p in check_plan(plan, catalog) if str(p) not in known]
    for p in new:
        if p.severity != "error":
            bus.log(str(p), level="warning")
    errors = [str(p) for p in new if p.severity == "error"]
    if errors:
        return f"the plan asks for what the API does not offer (catalog of {catalog.snapshot_date}): " + "; ".join(errors)
    return None


async def offered_catalog(client: CloudClient, access: NodeAccess, plan: ClusterPlan, bus: EventBus) -> Catalog:
    """What this project's API sells today (cached for a day); Refused when the plan asks for more.
    The plan was checked against the bundled snapshot when it was loaded."""
    catalog = await live_catalog.load_catalog(client, simulated=access.simulated,
                                              warn=lambda text: bus.log(text, level="warning"))
    refusal = catalog_refusal(plan, catalog, bus)
    if refusal is not None:
        raise Refused("catalog", refusal, CATALOG_HINT)
    return catalog


async def with_caller_address(plan: ClusterPlan, access: NodeAccess, bus: EventBus) -> ClusterPlan:
    """The plan with its empty firewall ranges filled with the address this run comes from (an empty
    list means "the address I run from": found now, at each run); Refused when it cannot be found."""
    if not needs_caller_address(plan):
        return plan
    try:
        found = await detect_caller_cidrs(simulated_cidr=access.caller_cidr if access.simulated else None)
    except CallerAddressUnknown as exc:
        raise Refused("caller-address", exc.message, exc.hint) from None
    used_for = [f"ssh.{k}" for k in ("allowed_cidrs", "api_allowed_cidrs") if not getattr(plan.ssh, k)]
    for address in found:
        bus.emit(CallerAddressDetected(address=address.cidr, source=address.source, used_for=used_for))
    return with_caller_cidrs(plan, found)


def check_firewall_sources(plan: ClusterPlan, access: NodeAccess) -> None:
    """The firewall's sources are known before anything is created, or nothing is."""
    try:
        firewall_rules(plan, access.caller_cidr)
    except CloudError as exc:
        raise Refused("firewall", exc.message, exc.hint) from None
