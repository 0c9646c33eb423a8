"""The cluster plan: the typed contract a person saves, edits, diffs and replays.

Every field carries a description: it becomes docs/plan-reference.md and the wizard's help text.
Rules that need only one field live here as field validators; rules that look across sections or at
the catalog (server types, locations, prices) live in `checks.py`, so both the CLI and the wizard run
one copy of each rule.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from khz_tui.plan import defaults
from khz_tui.plan.syntax import check_env_name, check_http_url

SCHEMA_VERSION = 1

#: Cluster names become parts of server, network and label names; 32 leaves room for the longest
#: derived name (`<name>-pool-<pool>-<n>`) under Hetzner's and Kubernetes' 63-character limits.
NAME_MAX = 32
POOL_NAME_MAX = 20
_DNS_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")
_K3S_VERSION = re.compile(r"^v\d+\.\d+\.\d+\+k3s\d+$")
_TAINT = re.compile(
    r"^(?P<key>[A-Za-z0-9]([-A-Za-z0-9_./]*[A-Za-z0-9])?)"
    r"(=(?P<value>[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?)?"
    r":(?P<effect>NoSchedule|PreferNoSchedule|NoExecute)$"
)
_LABEL_NAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")
_LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


class PlanSection(BaseModel):
    """Base for every plan table: unknown keys are refused so a typo never passes silently."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, use_attribute_docstrings=True)


def _dns_label(value: str, what: str, limit: int) -> str:
    if len(value) > limit:
        raise ValueError(f"{what} {value!r} is {len(value)} characters long; keep it to {limit} or fewer")
    if not _DNS_LABEL.match(value):
        raise ValueError(
            f"{what} {value!r} must use lowercase letters, digits and '-', and start and end with a letter or digit"
        )
    return value


def check_cidr(value: str) -> str:
    """Return `value` if it is an IPv4/IPv6 network in CIDR form, else raise a readable ValueError."""
    try:
        net = ipaddress.ip_network(value, strict=True)
    except ValueError as exc:
        if "has host bits set" in str(exc):
            base = ipaddress.ip_network(value, strict=False)
            raise ValueError(f"{value!r} has host bits set; did you mean {base}?") from None
        raise ValueError(f"{value!r} is not a network in CIDR form such as 10.0.0.0/16") from None
    return str(net) if "/" in value else value


def check_label(key: str, value: str) -> None:
    """Raise ValueError unless key=value is valid both as a Kubernetes and as a Hetzner label."""
    prefix, _, name = key.rpartition("/")
    if prefix:
        if len(prefix) > 253 or not _DNS_SUBDOMAIN.match(prefix):
            raise ValueError(f"label key {key!r}: the prefix before '/' must be a DNS subdomain such as example.com")
        if prefix == "hetzner.cloud" or prefix.endswith(".hetzner.cloud"):
            raise ValueError(f"label key {key!r}: the prefix 'hetzner.cloud/' is reserved by Hetzner")
    if not _LABEL_NAME.match(name):
        raise ValueError(
            f"label key {key!r}: the name must be 1-63 characters of letters, digits, '-', '_' or '.', "
            "starting and ending with a letter or digit"
        )
    if not _LABEL_VALUE.match(value):
        raise ValueError(
            f"label {key}={value!r}: the value must be at most 63 characters of letters, digits, '-', '_' or '.', "
            "starting and ending with a letter or digit (or empty)"
        )


class HcloudSection(PlanSection):
    """Where the Hetzner Cloud API is and where its token comes from. The token itself never lives here."""

    token_env: str = defaults.TOKEN_ENV
    """Name of the environment variable that holds the API token."""

    context: str | None = None
    """Name of an `hcloud` CLI context (from its cli.toml) to take the token from, when the variable is unset."""

    location: str = "fsn1"
    """Default location for servers, the load balancer and volumes (fsn1, nbg1, hel1, ash, hil, sin)."""

    endpoint: str | None = None
    """API base URL; leave unset for Hetzner (https://api.hetzner.cloud/v1). HCLOUD_ENDPOINT and --endpoint override it."""

    @field_validator("token_env")
    @classmethod
    def _env_name(cls, v: str) -> str:
        return check_env_name(v)

    @field_validator("context")
    @classmethod
    def _context(cls, v: str | None) -> str | None:
        if v is not None and (not v or v != v.strip()):
            raise ValueError("name an hcloud CLI context (see 'hcloud context list'), or leave context out")
        return v

    @field_validator("endpoint")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        return None if v is None else check_http_url(v)


class SshSection(PlanSection):
    """The SSH key pair khz-tui uses to reach the nodes, and who may reach SSH and the Kubernetes API."""

    public_key: str = defaults.PUBLIC_KEY
    """Public key uploaded to Hetzner (reused when the project already has it)."""

    private_key: str = defaults.PRIVATE_KEY
    """Private key khz-tui signs in with. It stays on this machine."""

    port: Annotated[int, Field(ge=1, le=65535)] = 22
    """SSH port on the nodes; anything other than 22 is set up through cloud-init."""

    allowed_cidrs: list[str] = []
    """Networks allowed to reach SSH on the nodes. Empty: only the address khz-tui runs from, found at each
    apply, dry-run and render (echo services in KHZ_TUI_MY_IP_URLS; a simulator's own address)."""

    api_allowed_cidrs: list[str] = []
    """Networks allowed to reach the Kubernetes API (6443) on the control planes. Empty: only the address
    khz-tui runs from. The API load balancer is public: Hetzner firewalls do not cover load balancers."""

    @field_validator("allowed_cidrs", "api_allowed_cidrs")
    @classmethod
    def _cidrs(cls, v: list[str]) -> list[str]:
        return [check_cidr(c) for c in v]


class ControlPlane(PlanSection):
    """The servers that run the Kubernetes API and embedded etcd."""

    server_type: str = "cpx22"
    """Hetzner server type for control-plane nodes (see `khz-tui validate` for prices)."""

    count: int = 3
    """How many control-plane nodes: 1 (no HA), 3 or 5. Even counts are refused: etcd needs a majority."""

    locations: list[str] = []
    """Spread control planes over these locations (one network zone). Empty: the default location."""

    image: str = "ubuntu-24.04"
    """Operating system image for all nodes unless a pool names its own."""

    allow_workloads: bool = False
    """Let ordinary workloads run on control planes (no NoSchedule taint). Single-node plans always allow them."""

    @field_validator("count")
    @classmethod
    def _odd(cls, v: int) -> int:
        if v not in (1, 3, 5):
            raise ValueError(
                f"{v} control planes: use 1, 3 or 5. etcd needs a majority to work, so an even count "
                "adds a node that can fail without adding any tolerance"
            )
        return v


class Autoscaling(PlanSection):
    """Bounds for a cluster autoscaler on a worker pool. Accepted and priced (at the maximum), but
    khz-tui installs no autoscaler yet: the pool keeps `count` nodes, and a plan that sets this gets a
    warning saying so."""

    min: Annotated[int, Field(ge=0)] = 0
    """Fewest nodes the autoscaler keeps."""

    max: Annotated[int, Field(ge=0)] = 0
    """Most nodes the autoscaler may create."""

    @model_validator(mode="after")
    def _order(self) -> Autoscaling:
        if self.min > self.max:
            raise ValueError(f"autoscaling min ({self.min}) is larger than max ({self.max})")
        return self


class WorkerPool(PlanSection):
    """A group of identical worker nodes."""

    name: str
    """Pool name: lowercase letters, digits and '-'; part of each node's name."""

    server_type: str = "cpx32"
    """Hetzner server type for this pool's nodes."""

    count: Annotated[int, Field(ge=0)] = 2
    """How many nodes the pool has."""

    location: str | None = None
    """Location of this pool's nodes. Unset: the default location."""

    image: str | None = None
    """Operating system image. Unset: the control plane's image."""

    labels: dict[str, str] = {}
    """Kubernetes node labels (also set as Hetzner labels on the servers). Keys under kubernetes.io or
    k8s.io are refused unless the kubelet may set them itself (node.kubernetes.io/..., kubelet.kubernetes.io/...)."""

    taints: list[str] = []
    """Kubernetes taints in `key=value:Effect` form (Effect: NoSchedule, PreferNoSchedule, NoExecute)."""

    autoscaling: Autoscaling | None = None
    """Optional autoscaler bounds ({ min = 1, max = 5 }). Not acted on yet: no autoscaler is installed."""

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return _dns_label(v, "pool name", POOL_NAME_MAX)

    @field_validator("labels")
    @classmethod
    def _labels(cls, v: dict[str, str]) -> dict[str, str]:
        for key, value in v.items():
            check_label(key, value)
        return v

    @field_validator("taints")
    @classmethod
    def _taints(cls, v: list[str]) -> list[str]:
        for taint in v:
            if not _TAINT.match(taint):
                raise ValueError(
                    f"taint {taint!r} is not in key=value:Effect form, e.g. dedicated=web:NoSchedule "
                    "(Effect is NoSchedule, PreferNoSchedule or NoExecute)"
                )
        return v


class NetworkSection(PlanSection):
    """The private network and the cluster's internal address ranges."""

    zone: str = "eu-central"
    """Hetzner network zone; every location used must lie in it (eu-central: fsn1, nbg1, hel1)."""

    ip_range: str = "10.0.0.0/16"
    """Address range of the private network."""

    subnet: str = "10.0.1.0/24"
    """Subnet the nodes and the load balancer take private addresses from; inside ip_range."""

    pod_cidr: str = "10.42.0.0/16"
    """Pod address range (k3s cluster-cidr); must not overlap the network or the service range."""

    service_cidr: str = "10.43.0.0/16"
    """Service address range (k3s service-cidr); must not overlap the network or the pod range."""

    cni: Literal["flannel", "cilium", "calico"] = "flannel"
    """Container network: flannel (built into k3s), cilium or calico."""

    encryption: bool = False
    """Encrypt node-to-node traffic with WireGuard (flannel wireguard-native, or the CNI's own)."""

    @field_validator("ip_range", "subnet", "pod_cidr", "service_cidr")
    @classmethod
    def _cidr(cls, v: str) -> str:
        v = check_cidr(v)
        if ipaddress.ip_network(v).version != 4:
            raise ValueError(f"{v!r}: Hetzner private networks are IPv4; use a range such as 10.0.0.0/16")
        return v


class LoadBalancerSection(PlanSection):
    """The load balancer in front of the Kubernetes API (TCP 6443 to the control planes)."""

    enabled: bool = True
    """Put a Hetzner load balancer in front of the API. Off: kubeconfig points at the first control plane."""

    type: str = "lb11"
    """Load balancer type: lb11, lb21 or lb31."""


class Volume(PlanSection):
    """A Hetzner volume attached to each node of a worker pool."""

    name: str
    """Volume name; each node gets `<cluster>-<name>-<n>`."""

    size_gb: int = 10
    """Size in GB, 10 to 10240."""

    pool: str = "default"
    """Worker pool whose nodes each get one such volume."""

    format: Literal["ext4", "xfs"] = "ext4"
    """Filesystem the volume is formatted with."""

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return _dns_label(v, "volume name", POOL_NAME_MAX)

    @field_validator("size_gb")
    @classmethod
    def _size(cls, v: int) -> int:
        if not 10 <= v <= 10240:
            raise ValueError(f"{v} GB is outside what Hetzner volumes offer: 10 to 10240 GB")
        return v


class StorageSection(PlanSection):
    """Persistent storage for workloads."""

    hcloud_csi: bool = True
    """Install the Hetzner CSI driver (volumes as PersistentVolumes)."""

    longhorn: bool = False
    """Install Longhorn (replicated storage on the nodes' disks)."""

    volumes: list[Volume] = []
    """Volumes created and mounted on a pool's nodes."""


class K3sSection(PlanSection):
    """Which k3s to install and with what extra flags."""

    version: str | None = "v1.33.6+k3s1"
    """Exact k3s release (vX.Y.Z+k3sN). Leave unset and name a channel to follow one instead."""

    channel: str | None = None
    """Release channel (stable, latest, or v1.33) instead of an exact version."""

    disable: list[str] = []
    """Packaged components to turn off (traefik, servicelb, metrics-server, local-storage)."""

    server_args: list[str] = []
    """Extra flags for k3s servers, e.g. "--etcd-snapshot-retention=10"."""

    agent_args: list[str] = []
    """Extra flags for k3s agents."""

    @field_validator("version")
    @classmethod
    def _version(cls, v: str | None) -> str | None:
        if v is not None and not _K3S_VERSION.match(v):
            raise ValueError(f"{v!r} is not a k3s release such as v1.33.6+k3s1")
        return v

    @field_validator("channel")
    @classmethod
    def _channel(cls, v: str | None) -> str | None:
        if v is not None and not re.match(r"^(stable|latest|testing|v\d+\.\d+)$", v):
            raise ValueError(f"{v!r} is not a k3s channel: stable, latest, testing or vX.Y")
        return v

    @model_validator(mode="after")
    def _one_source(self) -> K3sSection:
        if self.channel is not None and self.version is not None:
            if "version" not in self.model_fields_set:
                # A channel given alone replaces the default pinned version.
                object.__setattr__(self, "version", None)
            else:
                raise ValueError("give either k3s.version or k3s.channel, not both")
        if self.channel is None and self.version is None:
            raise ValueError("give k3s.version (e.g. v1.33.6+k3s1) or k3s.channel (e.g. stable)")
        return self


class AddonsSection(PlanSection):
    """What khz-tui installs into the cluster once it is up."""

    cloud_controller: bool = True
    """Install the Hetzner cloud controller manager (node addresses, routes, load balancers)."""

    system_upgrade_controller: bool = False
    """Install Rancher's system-upgrade-controller for in-place k3s upgrades."""

    ingress: Literal["traefik", "nginx", "none"] = "traefik"
    """Ingress controller: traefik (bundled with k3s), nginx, or none."""

    service_load_balancer: Literal["hetzner", "klipper"] = "hetzner"
    """How Services of type LoadBalancer are served: Hetzner load balancers (via the cloud controller) or k3s' Klipper."""


class ClusterPlan(PlanSection):
    """One k3s cluster on Hetzner Cloud. Only `schema_version` and `name` are required."""

    schema_version: int = SCHEMA_VERSION
    """Version of this file's layout; khz-tui reads version 1."""

    name: str
    """Cluster name: lowercase letters, digits and '-', at most 32 characters. Prefixes every resource."""

    hcloud: HcloudSection = HcloudSection()
    """Hetzner Cloud API access."""

    ssh: SshSection = SshSection()
    """SSH access to the nodes."""

    control_plane: ControlPlane = ControlPlane()
    """Control-plane nodes."""

    worker_pools: list[WorkerPool] = [WorkerPool(name="default")]
    """Worker pools. Default: one pool `default` of 2 nodes."""

    network: NetworkSection = NetworkSection()
    """Private network and address ranges."""

    load_balancer: LoadBalancerSection = LoadBalancerSection()
    """The Kubernetes API load balancer."""

    storage: StorageSection = StorageSection()
    """Persistent storage."""

    k3s: K3sSection = K3sSection()
    """k3s release and flags."""

    addons: AddonsSection = AddonsSection()
    """Cluster add-ons."""

    @field_validator("schema_version")
    @classmethod
    def _schema(cls, v: int) -> int:
        if v != SCHEMA_VERSION:
            raise ValueError(f"schema_version {v} is not supported; this khz-tui reads schema_version = {SCHEMA_VERSION}")
        return v

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return _dns_label(v, "cluster name", NAME_MAX)

    # -- derived views used by the engine, the wizard and cost -------------------------------------

    def control_plane_locations(self) -> list[str]:
        """Location of each control plane, in order: round-robin over `locations`, else the default."""
        spread = self.control_plane.locations or [self.hcloud.location]
        return [spread[i % len(spread)] for i in range(self.control_plane.count)]

    def pool_location(self, pool: WorkerPool) -> str:
        """Where the pool's nodes go: its own location, else the plan's default."""
        return pool.location or self.hcloud.location

    def pool_image(self, pool: WorkerPool) -> str:
        """The pool's image, else the control plane's."""
        return pool.image or self.control_plane.image

    def server_count(self) -> int:
        """Servers the plan creates now (control planes plus every pool's current count)."""
        return self.control_plane.count + sum(p.count for p in self.worker_pools)

    def max_server_count(self) -> int:
        """Servers the plan can grow to: control planes plus each pool's count or autoscaling
        maximum, whichever is larger."""
        return self.control_plane.count + sum(
            max(p.count, p.autoscaling.max if p.autoscaling else 0) for p in self.worker_pools
        )

    def pool(self, name: str) -> WorkerPool | None:
        """The worker pool called `name`, or None."""
        return next((p for p in self.worker_pools if p.name == name), None)
