"""Rules a plan must follow beyond single fields: across sections, and against Hetzner's catalog.

`validate_data` is the one door from untrusted data (a TOML file, the wizard's form) to a
`ClusterPlan`: it refuses secrets, turns pydantic's errors into `Problem`s a person can act on,
then runs `check_plan`. Both the CLI and the wizard use it, so every rule has one copy.
"""

from __future__ import annotations

import ipaddress
import re
import types
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, ValidationError

from khz_tui.plan.catalog import Catalog, bundled_catalog
from khz_tui.plan.model import SCHEMA_VERSION, ClusterPlan

#: Hetzner puts at most this many servers on one private network.
MAX_SERVERS_PER_NETWORK = 100
#: Addresses of a subnet nobody can use: the network address, the gateway (.1) and the broadcast.
RESERVED_SUBNET_ADDRESSES = 3
#: The name part of control-plane nodes (`<cluster>-cp-<n>`): no worker pool may use it.
CONTROL_PLANE_POOL = "cp"
#: Packaged k3s components that `k3s.disable` may name.
K3S_COMPONENTS = ("traefik", "servicelb", "metrics-server", "local-storage", "coredns")

# Keys named like a credential. `token_env` names a variable, it holds no secret.
_SECRET_KEY = re.compile(r"(token|secret|passw(or)?d|api[_-]?key|credential)", re.IGNORECASE)
_SECRET_KEY_ALLOWED = {"token_env"}
# Hetzner API tokens are 64 letters and digits; no plan value legitimately looks like that.
_TOKEN_VALUE = re.compile(r"^[A-Za-z0-9]{64}$")

TOKEN_HELP = (
    "tokens never belong in a plan file (it gets saved, shared and diffed). "
    "Put the token in an environment variable (hcloud.token_env names it, default HCLOUD_TOKEN), "
    "or in an hcloud CLI context (hcloud.context names it), or type it into the wizard "
    "(which can save it on this machine, readable by you only)"
)


@dataclass(frozen=True)
class Problem:
    """One thing wrong (or worth a second look) in a plan, pointing at where it is."""

    path: str
    """Key path such as `worker_pools[1].count`; "" for the whole plan."""
    message: str
    """Plain language, says what to do."""
    line: int | None = None
    """Line in the plan file, when the plan came from a file and the key could be found."""
    severity: Literal["error", "warning"] = "error"

    def describe(self) -> str:
        """One line: `path (line N): message`, with `warning:` in front of warnings."""
        where = self.path or "plan"
        if self.line is not None:
            where += f" (line {self.line})"
        prefix = "warning: " if self.severity == "warning" else ""
        return f"{prefix}{where}: {self.message}"


def format_path(loc: tuple[Any, ...] | list[Any]) -> str:
    """Turn ('worker_pools', 1, 'count') into 'worker_pools[1].count'."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


# -- from raw data --------------------------------------------------------------------------------


def validate_data(
    data: dict[str, Any], catalog: Catalog | None = None, *, strict: bool = False
) -> tuple[ClusterPlan | None, list[Problem]]:
    """Build a plan from raw data (parsed TOML) and return it with every problem found.

    The plan is None when any error was found; warnings alone leave it usable. A key named like a
    token or secret, or a value that looks like a Hetzner token, is refused without echoing it.
    `strict` refuses look-alike types (`count = "3"`, `enabled = "yes"`): plan files use it, because
    TOML has real numbers and booleans and a quoted one is most likely a mistake.
    """
    problems = _secret_problems(data)
    data = _without_secrets(data)
    if "schema_version" not in data:
        problems.append(
            Problem(
                "schema_version",
                f"add `schema_version = {SCHEMA_VERSION}` at the top of the plan, so a later khz-tui "
                "knows which layout the file uses",
            )
        )
    try:
        plan = ClusterPlan.model_validate(data, strict=strict)
    except ValidationError as exc:
        # A refused secret is reported once, by the rule above, not again by the field it sat in.
        secret_paths = [p.path for p in problems]
        problems.extend(p for p in _from_pydantic(exc) if not any(_related(p.path, s) for s in secret_paths))
        return None, problems
    problems.extend(check_plan(plan, catalog))
    if any(p.severity == "error" for p in problems):
        return None, problems
    return plan, problems


def _walk(data: Any, loc: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], Any, Any]]:
    """Yield (loc, key, value) for every mapping entry and (loc, None, value) for list items."""
    if isinstance(data, dict):
        for key, value in data.items():
            yield loc, key, value
            yield from _walk(value, (*loc, key))
    elif isinstance(data, list):
        for i, value in enumerate(data):
            yield (*loc, i), None, value
            yield from _walk(value, (*loc, i))


def _secret_problems(data: dict[str, Any]) -> list[Problem]:
    problems = []
    for loc, key, value in _walk(data):
        in_labels = bool(loc) and loc[-1] == "labels"
        if key is not None and not in_labels and key not in _SECRET_KEY_ALLOWED and _SECRET_KEY.search(str(key)):
            problems.append(Problem(format_path((*loc, key)), f"the key {key!r} looks like a secret: {TOKEN_HELP}"))
        elif isinstance(value, str) and _TOKEN_VALUE.match(value):
            path = format_path((*loc, key) if key is not None else loc)
            problems.append(Problem(path, f"this value looks like a Hetzner API token: {TOKEN_HELP}"))
    return problems


def _without_secrets(data: Any, in_labels: bool = False) -> Any:
    """Drop secret-looking keys and blank token-shaped values, so no later message can echo them."""
    if isinstance(data, dict):
        return {
            k: _without_secrets(v, k == "labels")
            for k, v in data.items()
            if in_labels or k in _SECRET_KEY_ALLOWED or not _SECRET_KEY.search(str(k))
        }
    if isinstance(data, list):
        return [_without_secrets(v) for v in data]
    if isinstance(data, str) and _TOKEN_VALUE.match(data):
        return "(refused)"
    return data


def _related(a: str, b: str) -> bool:
    """True when one key path contains the other (`x.labels` and `x.labels.tier`)."""
    return a == b or any(long.startswith(short + sep) for short, long in ((a, b), (b, a)) for sep in ".[")


def _model_at(loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The plan section class found at `loc`, for listing the keys it allows."""
    model: Any = ClusterPlan
    for part in loc:
        if isinstance(part, int):
            continue
        if not (isinstance(model, type) and issubclass(model, BaseModel)) or part not in model.model_fields:
            return None
        model = _unwrap(model.model_fields[part].annotation)
    return model if isinstance(model, type) and issubclass(model, BaseModel) else None


def _unwrap(annotation: Any) -> Any:
    """Strip list[...] and Optional[...] down to the element class."""
    while True:
        origin = typing.get_origin(annotation)
        if origin in (list, typing.Union, types.UnionType):
            args = [a for a in typing.get_args(annotation) if a is not type(None)]
            annotation = args[0]
        else:
            return annotation


_TYPE_HINTS = {
    "int_parsing": "must be a whole number, written without quotes (count = 3)",
    "int_type": "must be a whole number, written without quotes (count = 3)",
    "int_from_float": "must be a whole number, not a fraction",
    "bool_type": "must be true or false, without quotes",
    "bool_parsing": "must be true or false, without quotes",
    "string_type": 'must be text in quotes, e.g. "fsn1"',
    "list_type": 'must be a list in brackets, e.g. ["a", "b"]',
}


def _from_pydantic(exc: ValidationError) -> list[Problem]:
    problems = []
    for err in exc.errors(include_url=False, include_input=False):
        loc = tuple(err["loc"])
        kind, msg = err["type"], err["msg"]
        if kind == "extra_forbidden":
            model = _model_at(loc[:-1])
            table = format_path(loc[:-1]) or "the top level"
            allowed = ", ".join(model.model_fields) if model else "none"
            msg = f"unknown key {loc[-1]!r} in {table}; the keys allowed there are: {allowed}"
        elif kind == "missing":
            msg = "this key is required"
            if loc == ("name",):
                msg = 'give the cluster a name, e.g. name = "demo" (lowercase letters, digits and \'-\')'
        elif kind == "value_error":
            msg = msg.removeprefix("Value error, ")
        elif kind == "greater_than_equal":
            msg = f"must be {err['ctx']['ge']} or more"
        elif kind == "less_than_equal":
            msg = f"must be {err['ctx']['le']} or less"
        elif kind in ("model_type", "dict_type"):
            msg = "this should be a table, e.g. [section] or { key = value }"
        elif kind in _TYPE_HINTS:
            msg = _TYPE_HINTS[kind]
        else:
            # pydantic's own words ("Input should be 'a' or 'b'") read as the plan's: "must be 'a' or 'b'".
            msg = re.sub(r"^input should (be|have|match)", r"must \1", f"{msg[0].lower()}{msg[1:]}")
        problems.append(Problem(format_path(loc), msg))
    return problems


# -- on a typed plan ------------------------------------------------------------------------------


def check_plan(plan: ClusterPlan, catalog: Catalog | None = None) -> list[Problem]:
    """Run every cross-field and catalog rule on `plan`; errors and warnings, in plan order."""
    catalog = catalog or bundled_catalog()
    problems: list[Problem] = []
    for rule in (
        _check_locations,
        _check_server_types,
        _check_images,
        _check_load_balancer,
        _check_pools,
        _check_volumes,
        _check_network,
        _check_access,
        _check_components,
        _check_topology,
    ):
        problems.extend(rule(plan, catalog))
    return problems


def _ordinal(n: int) -> str:
    """1st, 2nd, 3rd, 4th ... (11th, 12th, 13th)."""
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _error(path: str, message: str) -> Problem:
    return Problem(path, message)


def _warning(path: str, message: str) -> Problem:
    return Problem(path, message, severity="warning")


def _check_locations(plan: ClusterPlan, catalog: Catalog) -> list[Problem]:
    zone = plan.network.zone
    zones = catalog.zones()
    if zone not in zones:
        return [_error("network.zone", f"unknown network zone {zone!r}; choose one of: {', '.join(zones)}")]
    in_zone = catalog.zone_locations(zone)
    named = [("hcloud.location", plan.hcloud.location)]
    named += [(f"control_plane.locations[{i}]", loc) for i, loc in enumerate(plan.control_plane.locations)]
    named += [(f"worker_pools[{i}].location", p.location) for i, p in enumerate(plan.worker_pools) if p.location]
    problems = []
    for path, loc in named:
        if catalog.location(loc) is None:
            problems.append(_error(path, f"unknown location {loc!r}; choose one of: {', '.join(catalog.locations)}"))
        elif loc not in in_zone:
            other = catalog.locations[loc].network_zone
            problems.append(
                _error(
                    path,
                    f"{loc} lies in network zone {other}, but the private network is in {zone} "
                    f"(locations there: {', '.join(in_zone)}); pick one of those, or set network.zone = {other!r}",
                )
            )
    return problems


def _check_server_type(path: str, name: str, locations: list[str], catalog: Catalog) -> list[Problem]:
    st = catalog.server_type(name)
    if st is None:
        current = sorted(n for n, t in catalog.server_types.items() if not t.deprecated)
        return [_error(path, f"unknown server type {name!r}; known types: {', '.join(current)}")]
    problems = []
    for loc in sorted(set(locations)):
        if catalog.location(loc) is not None and not st.offered_in(loc):
            where = ", ".join(sorted(st.prices)) or "nowhere"
            problems.append(_error(path, f"server type {name} is not offered in {loc} (offered in: {where})"))
    if st.deprecated:
        successor = _successor(name, catalog)
        hint = f"; use {successor} instead" if successor else ""
        ends = st.unavailable_after
        if ends and ends <= date.today().isoformat():
            # Past its end of sale Hetzner refuses to create it: apply would fail half-way.
            problems.append(_error(path, f"server type {name} is no longer sold (since {ends}){hint}"))
        else:
            until = f" after {ends}" if ends else ""
            problems.append(_warning(path, f"server type {name} is deprecated and stops being sold{until}{hint}"))
    return problems


def _successor(name: str, catalog: Catalog) -> str | None:
    # Hetzner's renamed generations keep the size digit and bump the last one (cx22 -> cx23).
    m = re.match(r"^([a-z]+)(\d)(\d)$", name)
    if not m:
        return None
    candidate = f"{m[1]}{m[2]}{int(m[3]) + 1}"
    st = catalog.server_type(candidate)
    return candidate if st is not None and not st.deprecated else None


def _check_server_types(plan: ClusterPlan, catalog: Catalog) -> list[Problem]:
    problems = _check_server_type(
        "control_plane.server_type", plan.control_plane.server_type, plan.control_plane_locations(), catalog
    )
    for i, pool in enumerate(plan.worker_pools):
        problems += _check_server_type(
            f"worker_pools[{i}].server_type", pool.server_type, [plan.pool_location(pool)], catalog
        )
    return problems


def _check_image(path: str, image: str, server_type: str, catalog: Catalog) -> list[Problem]:
    arches = catalog.image_architectures(image)
    if not arches:
        return [_error(path, f"unknown image {image!r}; available images: {', '.join(catalog.image_names())}")]
    st = catalog.server_type(server_type)
    if st is not None and st.architecture not in arches:
        return [
            _error(
                path,
                f"image {image} exists only for {', '.join(arches)}, but server type {server_type} is "
                f"{st.architecture}; pick a {'/'.join(arches)} server type or another image",
            )
        ]
    return []


def _check_images(plan: ClusterPlan, catalog: Catalog) -> list[Problem]:
    cp = plan.control_plane
    problems = _check_image("control_plane.image", cp.image, cp.server_type, catalog)
    control_image_known = bool(catalog.image_architectures(cp.image))
    for i, pool in enumerate(plan.worker_pools):
        if pool.image:
            problems += _check_image(f"worker_pools[{i}].image", pool.image, pool.server_type, catalog)
        elif control_image_known:
            # The pool inherits control_plane.image; the fix is the pool's type or its own image.
            problems += _check_image(f"worker_pools[{i}].server_type", cp.image, pool.server_type, catalog)
    return problems


def _check_load_balancer(plan: ClusterPlan, catalog: Catalog) -> list[Problem]:
    lb = plan.load_balancer
    if not lb.enabled:
        return []
    lbt = catalog.lb_type(lb.type)
    if lbt is None:
        return [
            _error("load_balancer.type", f"unknown load balancer type {lb.type!r}; choose one of: "
                   f"{', '.join(catalog.load_balancer_types)}")
        ]
    loc = plan.hcloud.location
    if catalog.location(loc) is not None and loc not in lbt.prices:
        return [_error("load_balancer.type", f"load balancer type {lb.type} is not offered in {loc}")]
    if plan.control_plane.count > lbt.max_targets:
        return [_error("load_balancer.type", f"{lb.type} takes at most {lbt.max_targets} targets")]
    return []


#: Labels the kubelet may set on its own Node (k8s.io/kubelet/pkg/apis/well_known_labels.go,
#: `kubeletLabels`); any other key in the kubernetes.io or k8s.io namespaces makes it refuse to start
#: ("unknown 'kubernetes.io' or 'k8s.io' labels specified with --node-labels", cmd/kubelet/app).
KUBELET_LABELS = frozenset({
    "kubernetes.io/hostname", "topology.kubernetes.io/zone", "topology.kubernetes.io/region",
    "failure-domain.beta.kubernetes.io/zone", "failure-domain.beta.kubernetes.io/region",
    "beta.kubernetes.io/instance-type", "node.kubernetes.io/instance-type", "kubernetes.io/os",
    "kubernetes.io/arch", "beta.kubernetes.io/os", "beta.kubernetes.io/arch",
})
#: Label namespaces (and their subdomains) the kubelet may set: `kubeletLabelNamespaces`.
KUBELET_LABEL_NAMESPACES = ("kubelet.kubernetes.io", "node.kubernetes.io")
_KUBERNETES_NAMESPACES = ("kubernetes.io", "k8s.io")


def _under(namespace: str, domains: tuple[str, ...]) -> bool:
    return any(namespace == d or namespace.endswith("." + d) for d in domains)


def kubelet_refuses_label(key: str) -> bool:
    """Whether the kubelet refuses `key` in --node-labels: a key in the kubernetes.io or k8s.io
    namespaces that is neither one of its own labels nor under an allowed namespace."""
    namespace = key.split("/", 1)[0] if "/" in key else ""
    if not _under(namespace, _KUBERNETES_NAMESPACES):
        return False
    return key not in KUBELET_LABELS and not _under(namespace, KUBELET_LABEL_NAMESPACES)


def _check_pools(plan: ClusterPlan, catalog: Catalog) -> list[Problem]:
    problems = []
    seen: dict[str, int] = {}
    for i, pool in enumerate(plan.worker_pools):
        if pool.name in seen:
            problems.append(
                _error(
                    f"worker_pools[{i}].name",
                    f"pool name {pool.name!r} is already used by another pool (the {_ordinal(seen[pool.name] + 1)}); "
                    "pool names must be unique because they become part of each node's name",
                )
            )
        seen.setdefault(pool.name, i)
        if pool.name == CONTROL_PLANE_POOL:
            problems.append(
                _error(
                    f"worker_pools[{i}].name",
                    f"pool name {CONTROL_PLANE_POOL!r} is taken by the control plane: its nodes are named "
                    f"{plan.name}-{CONTROL_PLANE_POOL}-1, {plan.name}-{CONTROL_PLANE_POOL}-2, ..., so this pool's "
                    "nodes would get the same names; choose another pool name, e.g. 'workers'",
                )
            )
        for key in pool.labels:
            if kubelet_refuses_label(key):
                problems.append(
                    _error(
                        f"worker_pools[{i}].labels",
                        f"label {key!r}: the kubelet refuses labels under kubernetes.io and k8s.io except its own "
                        f"and those under {' or '.join(KUBELET_LABEL_NAMESPACES)}, so the nodes would never "
                        "join; use your own prefix (e.g. example.com/role) or set it afterwards with kubectl label",
                    )
                )
        auto = pool.autoscaling
        if auto is not None:
            problems.append(
                _warning(
                    f"worker_pools[{i}].autoscaling",
                    f"autoscaling is accepted and priced (up to {auto.max} nodes) but khz-tui installs no "
                    f"autoscaler yet: pool {pool.name!r} keeps exactly count = {pool.count} nodes; remove "
                    "autoscaling, or install a cluster autoscaler yourself",
                )
            )
    return problems


def _check_volumes(plan: ClusterPlan, catalog: Catalog) -> list[Problem]:
    problems = []
    names: dict[str, int] = {}
    pool_names = [p.name for p in plan.worker_pools]
    for i, vol in enumerate(plan.storage.volumes):
        if vol.name in names:
            problems.append(
                _error(f"storage.volumes[{i}].name", f"volume name {vol.name!r} is already used by "
                       f"another volume (the {_ordinal(names[vol.name] + 1)}); give each volume its own name")
            )
        names.setdefault(vol.name, i)
        pool = plan.pool(vol.pool)
        if pool is None:
            have = ", ".join(pool_names) or "none"
            problems.append(
                _error(f"storage.volumes[{i}].pool", f"there is no worker pool named {vol.pool!r} (pools: {have})")
            )
        elif pool.count == 0 and not pool.autoscaling:
            problems.append(
                _warning(f"storage.volumes[{i}].pool", f"pool {vol.pool!r} has no nodes, so no volume gets created")
            )
    return problems


def _max_servers(plan: ClusterPlan) -> int:
    """Servers the network must hold at the largest the plan allows (autoscaling max included)."""
    return plan.max_server_count()


_RFC1918 = tuple(ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"))


def _check_network(plan: ClusterPlan, catalog: Catalog) -> list[Problem]:
    net = plan.network
    problems = []
    ip_range = ipaddress.ip_network(net.ip_range)
    subnet = ipaddress.ip_network(net.subnet)
    # Hetzner's API, POST /networks ip_range: "Must be one of the private IPv4 ranges of RFC1918.
    # Minimum network size is /24." Refused here, before any change, rather than by the API mid-apply.
    if not any(ip_range.subnet_of(block) for block in _RFC1918):  # type: ignore[arg-type]
        problems.append(_error("network.ip_range", f"{ip_range} is not a private range Hetzner accepts; use one "
                               "inside 10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16, such as 10.0.0.0/16"))
    elif ip_range.prefixlen > 24:
        problems.append(_error("network.ip_range", f"{ip_range} is smaller than Hetzner's minimum network size "
                               "(/24); use a /24 or larger, such as 10.0.0.0/16"))
    if not subnet.subnet_of(ip_range):  # type: ignore[arg-type]
        problems.append(_error("network.subnet", f"subnet {subnet} lies outside ip_range {ip_range}; pick a subnet "
                               f"inside it, such as {next(ip_range.subnets(new_prefix=max(ip_range.prefixlen, 24)))}"))
    ranges = [("network.ip_range", ip_range), ("network.pod_cidr", ipaddress.ip_network(net.pod_cidr)),
              ("network.service_cidr", ipaddress.ip_network(net.service_cidr))]
    for i, (path_a, a) in enumerate(ranges):
        for path_b, b in ranges[i + 1 :]:
            if a.overlaps(b):
                problems.append(
                    _error(path_b, f"{b} overlaps {path_a.split('.')[-1]} {a}; the network, pod and service "
                           "ranges must not share addresses")
                )
    servers = _max_servers(plan)
    needed = servers + (1 if plan.load_balancer.enabled else 0)
    usable = subnet.num_addresses - RESERVED_SUBNET_ADDRESSES
    if needed > usable:
        problems.append(
            _error("network.subnet", f"subnet {subnet} has {max(usable, 0)} usable addresses, but the plan needs "
                   f"{needed} (servers and load balancer); use a larger subnet such as a /24")
        )
    if servers > MAX_SERVERS_PER_NETWORK:
        path = f"worker_pools[{len(plan.worker_pools) - 1}].count" if plan.worker_pools else "control_plane.count"
        problems.append(
            _error(path, f"the plan puts {servers} servers on one private network (autoscaling maximums included); "
                   f"Hetzner allows at most {MAX_SERVERS_PER_NETWORK}. Lower the worker counts")
        )
    return problems


def _check_access(plan: ClusterPlan, catalog: Catalog) -> list[Problem]:
    problems = []
    for key, what in (("allowed_cidrs", "SSH"), ("api_allowed_cidrs", "the Kubernetes API")):
        for i, cidr in enumerate(getattr(plan.ssh, key)):
            if ipaddress.ip_network(cidr).prefixlen == 0:
                problems.append(
                    _warning(f"ssh.{key}[{i}]", f"{cidr} opens {what} to the whole internet; list only the "
                             "networks you work from (leave the list empty for this machine's address)")
                )
    api_ranges = plan.ssh.api_allowed_cidrs
    if plan.load_balancer.enabled and api_ranges and not any(ipaddress.ip_network(c).prefixlen == 0 for c in api_ranges):
        # Hetzner firewalls apply to servers only ("Firewalls" in the API spec: apply_to types server and
        # label_selector); a load balancer cannot be firewalled, so its public 6443 answers everyone. Said
        # where a person wrote ranges for the API, expecting them to hold (docs/real-hetzner.md says it always).
        problems.append(_warning("ssh.api_allowed_cidrs", "the API load balancer is public: Hetzner firewalls do not "
                                 "cover load balancers, so ssh.api_allowed_cidrs limits only direct access to the "
                                 "control planes; the API still requires the cluster's client certificate. To keep "
                                 "the API off the internet, set load_balancer.enabled = false"))
    endpoint = plan.hcloud.endpoint
    if endpoint and endpoint.startswith("http://") and not re.match(r"^http://(localhost|127\.|\[::1\])", endpoint):
        problems.append(_warning("hcloud.endpoint", "this endpoint is plain http: the API token would cross the "
                                 "network unencrypted; use https"))
    return problems


def _check_components(plan: ClusterPlan, catalog: Catalog) -> list[Problem]:
    problems = []
    disabled = plan.k3s.disable
    for i, comp in enumerate(disabled):
        if comp not in K3S_COMPONENTS:
            problems.append(
                _error(f"k3s.disable[{i}]", f"{comp!r} is not a packaged k3s component; k3s can disable: "
                       f"{', '.join(K3S_COMPONENTS)}")
            )
    if plan.addons.ingress == "traefik" and "traefik" in disabled:
        problems.append(_error(f"k3s.disable[{disabled.index('traefik')}]",
                               'ingress = "traefik" but k3s.disable turns traefik off; '
                               'remove it from k3s.disable or choose ingress = "nginx" or "none"'))
    if plan.addons.service_load_balancer == "klipper" and "servicelb" in disabled:
        problems.append(_error(f"k3s.disable[{disabled.index('servicelb')}]", 'service_load_balancer = "klipper" but k3s.disable '
                               'turns servicelb (Klipper) off; remove it from k3s.disable or choose "hetzner"'))
    if plan.addons.service_load_balancer == "hetzner" and not plan.addons.cloud_controller:
        problems.append(_error("addons.service_load_balancer", 'service_load_balancer = "hetzner" needs the cloud '
                               'controller; set addons.cloud_controller = true or choose "klipper"'))
    if plan.storage.hcloud_csi and not plan.addons.cloud_controller:
        problems.append(_warning("storage.hcloud_csi", "the Hetzner CSI driver works best with the cloud controller "
                                 "(nodes get their Hetzner IDs from it); consider addons.cloud_controller = true"))
    return problems


def _check_topology(plan: ClusterPlan, catalog: Catalog) -> list[Problem]:
    problems = []
    cp = plan.control_plane
    workers = sum(p.count for p in plan.worker_pools)
    autoscaled = any(p.autoscaling and p.autoscaling.max > 0 for p in plan.worker_pools)
    if workers == 0 and not autoscaled and cp.count > 1 and not cp.allow_workloads:
        problems.append(_warning("control_plane.allow_workloads", "there are no worker nodes and the control planes "
                                 "refuse workloads, so nothing you deploy can run; add a worker pool or set "
                                 "control_plane.allow_workloads = true"))
    if cp.count == 1 and plan.load_balancer.enabled:
        problems.append(_warning("load_balancer.enabled", "an API load balancer in front of a single control plane "
                                 "costs money without adding availability; set load_balancer.enabled = false or "
                                 "use 3 control planes"))
    return problems
