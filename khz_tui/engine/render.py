"""`khz-tui render PLAN --dir DIR`: every file an apply would send, written out, secrets redacted.

Built by the same functions apply uses (cloud-init user data, k3s config, installer line, add-on
manifests, firewall and load balancer requests). Without a cloud it renders from the plan alone and
writes `<... of NAME>` placeholders for what only the cloud knows (addresses, server ids); with
`--sim` or `--endpoint` it reads what already exists and fills those in. It never writes to the
cluster's local state: host keys that do not exist yet are not generated.

    DIR/<server>/user-data.yaml   DIR/<server>/config.yaml   DIR/<server>/install.sh
    DIR/addons/<add-on>.yaml      DIR/firewall.json          DIR/load-balancers.json
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import platformdirs
import yaml

from khz_tui.engine.cloud.names import NodeSlot, network_name, planned_nodes
from khz_tui.engine.cluster_files import HostKey
from khz_tui.engine.nodes.addons import Addon, addon_list, ccm_env, hcloud_secret_document, needs_hcloud_secret
from khz_tui.engine.nodes.cloud_init import render_user_data
from khz_tui.engine.nodes.k3s_config import (
    NodeFacts,
    installer_command,
    join_url,
    pin_version,
    render_k3s_config,
    tls_sans,
)
from khz_tui.engine.requests import api_load_balancer, firewall_body
from khz_tui.plan.model import ClusterPlan

if TYPE_CHECKING:
    from khz_tui.engine.api import Connect
    from khz_tui.engine.caller_address import CallerAddress
    from khz_tui.engine.cloud.client import CloudClient
    from khz_tui.engine.options import RunOptions

REDACTED = "<redacted>"


def placeholder(what: str, name: str) -> str:
    return f"<{what} of {name}>"


@dataclass
class RenderFacts:
    """What render knows beyond the plan: from the cloud (`--sim`, `--endpoint`) or placeholders."""

    nodes: dict[str, NodeFacts]
    lb_public: str | None = None
    lb_private: str | None = None
    network: int | str = ""
    caller_cidr: str = "<the address khz-tui runs from>"
    host_public_keys: dict[str, str] = field(default_factory=dict)
    k3s_version: str | None = None
    """The exact release the cluster runs (recorded or read), for the joins of a channel plan."""
    private_iface: str = "<private interface, found at apply time>"
    from_cloud: bool = False
    placeholders: list[str] = field(default_factory=list)
    """What only the cloud knows and was written as a placeholder, in words."""
    caller_addresses: list[CallerAddress] = field(default_factory=list)
    """The addresses khz-tui runs from (`caller_address.CallerAddress`), found as apply finds them, for
    the plan's empty allowed lists."""


def _facts_of(slot: NodeSlot, public: str | None, private: str | None, server_id: int | str) -> NodeFacts:
    return NodeFacts(name=slot.name, role=slot.role, pool=slot.pool, server_id=server_id,
                     public_ipv4=public, private_ip=private or "", location=slot.location,
                     server_type=slot.server_type)


def plan_facts(plan: ClusterPlan, state_dir: Path | None = None) -> RenderFacts:
    """Facts from the plan alone: placeholders for addresses and ids, and whatever the cluster's
    local state already holds (host public keys, the recorded k3s version), read without creating it."""
    nodes = {s.name: _facts_of(s, placeholder("public ip", s.name), placeholder("private ip", s.name),
                               placeholder("server id", s.name)) for s in planned_nodes(plan)}
    facts = RenderFacts(nodes=nodes, network=placeholder("id", f"network {network_name(plan.name)}"))
    if plan.load_balancer.enabled:
        lb = api_load_balancer(plan).name
        facts.lb_public, facts.lb_private = placeholder("public ip", lb), placeholder("private ip", lb)
    facts.placeholders = ["server addresses and ids", "the network id", "the address khz-tui runs from"]
    _read_local(plan, facts, state_dir)
    return facts


def _cluster_dir(plan: ClusterPlan, state_dir: Path | None) -> Path:
    root = Path(state_dir) if state_dir is not None else Path(platformdirs.user_data_dir("khz-tui"))
    return root / "clusters" / plan.name


def _read_local(plan: ClusterPlan, facts: RenderFacts, state_dir: Path | None) -> None:
    folder = _cluster_dir(plan, state_dir)
    for name in facts.nodes:
        pub = folder / "host-keys" / f"{name}.pub"
        if pub.is_file():
            facts.host_public_keys[name] = pub.read_text(encoding="utf-8").strip()
    recorded = folder / "k3s-version"
    if recorded.is_file():
        facts.k3s_version = recorded.read_text(encoding="utf-8").strip() or None


async def cloud_facts(plan: ClusterPlan, client: CloudClient, *, caller_cidr: str | None,
                      state_dir: Path | None = None) -> RenderFacts:
    """Facts from what exists in the project (read only): each existing server's addresses and id,
    the network's id, the API load balancer's addresses; placeholders for what does not exist yet."""
    from khz_tui.engine.cloud.inventory import discover
    from khz_tui.engine.cloud.servers import server_facts
    from khz_tui.engine.cloud.shared_resources import lb_addresses

    facts = plan_facts(plan, state_dir)
    facts.from_cloud, facts.placeholders = True, []
    inv = await discover(client, plan.name)
    network = inv.networks.get(network_name(plan.name))
    if network is not None and network.id is not None:
        facts.network = network.id
    else:
        facts.placeholders.append("the network id (no network yet)")
    missing = []
    for slot in planned_nodes(plan):
        server = inv.servers.get(slot.name)
        if server is None:
            missing.append(slot.name)
            continue
        f = server_facts(server, network.id if network is not None else None)
        facts.nodes[slot.name] = _facts_of(slot, f.public_ipv4, f.private_ip or placeholder("private ip", slot.name), f.id)
    if missing:
        facts.placeholders.append(f"addresses and ids of {len(missing)} server(s) not created yet")
    lb = inv.load_balancers.get(api_load_balancer(plan).name) if plan.load_balancer.enabled else None
    if lb is not None:
        facts.lb_public, facts.lb_private = lb_addresses(lb)
    elif plan.load_balancer.enabled:
        facts.placeholders.append("the API load balancer's addresses (not created yet)")
    if caller_cidr:
        facts.caller_cidr = caller_cidr
    elif not (plan.ssh.allowed_cidrs and plan.ssh.api_allowed_cidrs):
        facts.placeholders.append("the address khz-tui runs from")
    return facts


def _user_data(plan: ClusterPlan, name: str, facts: RenderFacts) -> str:
    # The private half is the secret; the public half is the one pinned (when this machine has it).
    public = facts.host_public_keys.get(name, "<ed25519 host key generated at apply time>")
    return render_user_data(plan, name, HostKey(private_openssh=REDACTED, public_openssh=public))


def _addon_files(plan: ClusterPlan, facts: RenderFacts) -> dict[str, str]:
    files: dict[str, str] = {}
    if needs_hcloud_secret(plan):
        secret = Addon("hcloud-secret", (hcloud_secret_document(REDACTED, network_name(plan.name)),))
        files["addons/hcloud-secret.yaml"] = secret.manifest()
    for addon in addon_list(plan):
        files[f"addons/{addon.name}.yaml"] = addon.manifest()
    return files


def _installer(plan: ClusterPlan, role: str) -> str:
    line, _secret_env = installer_command(plan, role)  # the token is in config.yaml: never here
    return f"#!/bin/sh\n# what khz-tui runs over SSH once config.yaml is in place\nset -e\n{line}\n"


def render_files(plan: ClusterPlan, facts: RenderFacts) -> dict[str, str]:
    """Every file render writes, by path relative to DIR."""
    from khz_tui.engine.caller_address import with_caller_cidrs

    plan = with_caller_cidrs(plan, facts.caller_addresses)  # what apply would do with empty allowed lists
    files: dict[str, str] = {}
    slots = planned_nodes(plan)
    control = [facts.nodes[s.name] for s in slots if s.role == "control-plane"]
    seed = control[0]
    sans = tls_sans(facts.lb_public, facts.lb_private, [(n.public_ipv4, n.private_ip) for n in control])
    url = join_url(facts.lb_private, seed.private_ip)
    # Joins install exactly the release the cluster runs; with a channel that is what cp-1 got.
    version = plan.k3s.version or facts.k3s_version or f"<k3s release {seed.name} runs>"
    joins = pin_version(plan, version)
    for slot in slots:
        node = facts.nodes[slot.name]
        first = node is seed
        files[f"{slot.name}/user-data.yaml"] = _user_data(plan, slot.name, facts)
        files[f"{slot.name}/config.yaml"] = render_k3s_config(
            plan, node, first=first, join_url=None if first else url, tls_sans=sans if slot.role == "control-plane" else [],
            private_iface=facts.private_iface, token=REDACTED,
        )
        files[f"{slot.name}/install.sh"] = _installer(plan if first else joins, slot.role)
    files.update(_addon_files(plan, facts))
    files["firewall.json"] = json.dumps(firewall_body(plan, facts.caller_cidr), indent=2) + "\n"
    files["load-balancers.json"] = json.dumps(_load_balancers(plan, facts), indent=2) + "\n"
    return files


def _load_balancers(plan: ClusterPlan, facts: RenderFacts) -> dict[str, Any]:
    api = api_load_balancer(plan).body(facts.network) if plan.load_balancer.enabled else None
    ccm: dict[str, Any] = {"installed": plan.addons.cloud_controller}
    if plan.addons.cloud_controller:
        ccm["env"] = ccm_env(plan)
        ccm["serves"] = ("Services of type LoadBalancer (the ingress's among them)"
                         if plan.addons.service_load_balancer == "hetzner" else "nothing: Klipper serves them")
    return {"api": api, "cloud_controller": ccm}


def write_files(directory: Path, files: dict[str, str]) -> list[Path]:
    """Write `files` under `directory` (created if absent; files replaced); returns the paths."""
    directory = Path(directory)
    written = []
    for relative, text in sorted(files.items()):
        path = directory / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        if relative.endswith(".sh"):
            path.chmod(0o755)
        written.append(path)
    return written


def summary(plan: ClusterPlan, facts: RenderFacts, directory: Path, written: list[Path]) -> dict[str, Any]:
    """What render did, for `--output json` (and, in words, for text)."""
    return {
        "cluster": plan.name,
        "dir": str(directory),
        "files": [str(p.relative_to(directory)) for p in written],
        "from_cloud": facts.from_cloud,
        "placeholders": facts.placeholders,
        "secrets": REDACTED,
    }


def summary_text(info: dict[str, Any]) -> str:
    lines = [f"rendered {len(info['files'])} files of cluster {info['cluster']} into {info['dir']}",
             "  secrets (API token, join token, SSH host private keys) are written as <redacted>"]
    if info["placeholders"]:
        where = "read from the cloud, except" if info["from_cloud"] else "rendered from the plan alone:"
        lines.append(f"  {where} placeholders for " + "; ".join(info["placeholders"]))
    return "\n".join(lines)


def load_yaml_documents(text: str) -> list[dict[str, Any]]:
    """The documents of a rendered add-on file (for checks and tests)."""
    return [d for d in yaml.safe_load_all(text) if d]


async def gather_facts(plan: ClusterPlan, options: RunOptions, connect: Connect) -> RenderFacts:
    """Facts from the cloud when one is named (`--sim`, `--endpoint`) or a token is at hand; from the
    plan alone otherwise. Raises CredentialsError when a named cloud cannot be used."""
    from khz_tui.engine.credentials import CredentialsError, resolve_token

    if not (options.sim or options.endpoint):
        try:
            resolve_token(plan, options)
        except CredentialsError:
            return plan_facts(plan)
    from khz_tui.engine.bus import EventBus
    from khz_tui.engine.caller_address import CallerAddressUnknown, detect_caller_cidrs, needs_caller_address
    from khz_tui.engine.cloud.client import CloudClient, CloudError
    from khz_tui.engine.cloud.node_access import probe_node_access

    async with connect(plan, options) as target:
        bus = EventBus(lambda event: None)
        bus.add_secret(target.token)
        client = CloudClient(target.endpoint, target.token, bus.usage)
        try:
            access = await probe_node_access(client, ssh_port=plan.ssh.port)
            found = []
            if not access.simulated and needs_caller_address(plan):
                # As apply would: an empty allowed list means the address this machine runs from.
                try:
                    found = await detect_caller_cidrs()
                except CallerAddressUnknown as exc:
                    raise CredentialsError(f"{exc.message}; {exc.hint}") from None
            facts = await cloud_facts(plan, client, caller_cidr=access.caller_cidr, state_dir=target.state_dir)
            facts.caller_addresses = found
            if found and "the address khz-tui runs from" in facts.placeholders:
                facts.placeholders.remove("the address khz-tui runs from")
            return facts
        except CloudError as exc:
            raise CredentialsError(f"reading the project at {target.endpoint} failed: {exc.message}") from None
        finally:
            client.close()


def run_render(plan_path: Path, directory: Path, options: RunOptions, connect: Connect, *,
               out: TextIO | None = None) -> int:
    """`khz-tui render`: 0 when the files are written, 2 for a bad plan or an unusable cloud."""
    import asyncio
    import sys

    from khz_tui.engine.credentials import CredentialsError
    from khz_tui.plan.toml_io import PlanError, load_plan

    out = out or sys.stdout
    try:
        plan = load_plan(Path(plan_path))
    except PlanError as exc:
        print(exc.report(), file=sys.stderr)
        return 2
    try:
        facts = asyncio.run(gather_facts(plan, options, connect))
        files = render_files(plan, facts)
    except (CredentialsError, ValueError) as exc:
        print(f"khz-tui: {exc}", file=sys.stderr)
        return 2
    written = write_files(Path(directory), files)
    info = summary(plan, facts, Path(directory), written)
    print(json.dumps(info, indent=2) if options.output == "json" else summary_text(info), file=out)
    return 0
