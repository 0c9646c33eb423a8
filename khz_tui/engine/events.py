"""The engine's one event stream: typed, past-tense, JSON-serialisable, and free of secrets.

The TUI run console, headless `--apply` output (text and `--output json`), the per-run JSON-lines log
and the tests all consume these same objects. Every event carries the run's elapsed time, the API
requests used so far and the last rate-limit remaining the API reported.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, model_validator

from khz_tui.engine.outcome import Outcome, outcome_of

NodePhase = Literal[
    "planned", "creating", "booting", "ssh-ready", "installing", "joined", "ready", "failed", "deleting", "deleted"
]
#: The happy path, in order; "failed" can follow any of them.
NODE_PHASES: tuple[str, ...] = ("planned", "creating", "booting", "ssh-ready", "installing", "joined", "ready")

NodeRole = Literal["control-plane", "worker"]
RunMode = Literal["apply", "destroy", "dry-run", "verify"]
ChangeKind = Literal["create", "keep", "change", "delete"]
LogStream = Literal["engine", "stdout", "stderr"]
LogLevel = Literal["debug", "info", "warning", "error"]

#: What khz-tui creates, finds and deletes at Hetzner, in the words its output uses.
ResourceKind = Literal[
    "server", "network", "firewall", "ssh key", "placement group", "load balancer", "volume", "route"
]

#: The named steps of apply, destroy, dry-run and verify (StepStarted/StepFinished/StepFailed).
StepName = Literal[
    "discover", "discover-again", "lock", "names", "infrastructure", "load-balancer", "cluster", "scale-down",
    "api-certificates", "addons", "add-ons", "volumes", "servers", "kubeconfig", "verify",
]
#: Where a run stopped (RunFinished.failed_step): one of its steps, or a check before the first step.
FailedStep = Literal[
    StepName,
    "locked", "ssh-key", "connect", "catalog", "caller-address", "firewall", "confirm", "no-cluster",
    "interrupted", "internal",
]

#: Why a run took over another run's cloud lock marker: it had expired, its run (from this machine's
#: state folder) had ended, or the person said --force-unlock and confirmed.
LockTakeover = Literal["expired", "ended", "forced"]

#: Repairs an apply makes on its own when a node is not as the last run left it.
RepairKind = Literal[
    "server-recreated",      # the server's create failed or it is gone: a new one is made
    "server-powered-on",     # the server was off
    "network-reattached",    # the server had left the private network
    "k3s-restarted",         # k3s was installed but not running
    "stale-node-removed",    # a Node object whose server no longer exists
    "firewall-reapplied",    # the cluster firewall was not applied to the server
]


class EngineEvent(BaseModel):
    """Fields every event carries."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    elapsed: float = 0.0
    """Seconds since the run started."""
    api_requests: int = 0
    """Hetzner API requests made so far in this run."""
    rate_limit_remaining: int | None = None
    """Requests left in the API's rate-limit bucket, as last reported."""


class RunStarted(EngineEvent):
    kind: Literal["RunStarted"] = "RunStarted"
    cluster: str
    mode: RunMode
    endpoint: str
    simulated: bool
    node_count: int


class StepStarted(EngineEvent):
    kind: Literal["StepStarted"] = "StepStarted"
    step: StepName
    title: str


class StepFinished(EngineEvent):
    kind: Literal["StepFinished"] = "StepFinished"
    step: StepName
    title: str
    duration: float


class StepFailed(EngineEvent):
    kind: Literal["StepFailed"] = "StepFailed"
    step: StepName
    title: str
    message: str
    """What went wrong, in the API's or the node's words."""
    hint: str = ""
    """What the person can do about it."""


class ResourceFound(EngineEvent):
    kind: Literal["ResourceFound"] = "ResourceFound"
    resource_type: ResourceKind
    name: str
    id: int | None = None


class ResourceCreated(EngineEvent):
    kind: Literal["ResourceCreated"] = "ResourceCreated"
    resource_type: ResourceKind
    name: str
    id: int | None = None


class ResourceDeleted(EngineEvent):
    kind: Literal["ResourceDeleted"] = "ResourceDeleted"
    resource_type: ResourceKind
    name: str
    id: int | None = None


class DriftDetected(EngineEvent):
    """An existing resource differs from the plan in a way the engine will not change silently."""

    kind: Literal["DriftDetected"] = "DriftDetected"
    resource_type: ResourceKind
    name: str
    field: str
    expected: str
    actual: str


class NodePlanned(EngineEvent):
    kind: Literal["NodePlanned"] = "NodePlanned"
    node: str
    role: NodeRole
    pool: str
    server_type: str
    location: str


class NodePhaseChanged(EngineEvent):
    kind: Literal["NodePhaseChanged"] = "NodePhaseChanged"
    node: str
    phase: NodePhase
    reason: str = ""
    public_ip: str | None = None
    private_ip: str | None = None
    server_id: int | None = None


class LogLine(EngineEvent):
    kind: Literal["LogLine"] = "LogLine"
    text: str
    node: str | None = None
    """The node the line came from; None for the engine's own lines."""
    stream: LogStream = "engine"
    level: LogLevel = "info"


class Change(BaseModel):
    """One line of a dry-run diff."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    action: ChangeKind
    resource_type: ResourceKind
    name: str
    detail: str = ""
    monthly_cost_delta: str = "0.00"
    """Change in the monthly estimate, net, in the catalog's currency."""


class PlanDiffed(EngineEvent):
    kind: Literal["PlanDiffed"] = "PlanDiffed"
    changes: list[Change]
    currency: str = "EUR"
    monthly_cost_delta: str = "0.00"


class NodeRepaired(EngineEvent):
    """Apply found a node not as the last run left it and repaired it (the decision, for the output and tests)."""

    kind: Literal["NodeRepaired"] = "NodeRepaired"
    node: str
    repair: RepairKind
    reason: str
    """What was found, in words."""


class DeleteRetried(EngineEvent):
    """A delete Hetzner refused for now (the resource is still in use while something detaches) is tried again."""

    kind: Literal["DeleteRetried"] = "DeleteRetried"
    resource_type: ResourceKind
    name: str
    attempt: int
    reason: str


class ConnectionDropped(EngineEvent):
    """A node's SSH connection dropped during a step (a reboot mid-install); the step is tried again."""

    kind: Literal["ConnectionDropped"] = "ConnectionDropped"
    node: str
    attempt: int
    reason: str


class KubeconfigWritten(EngineEvent):
    kind: Literal["KubeconfigWritten"] = "KubeconfigWritten"
    path: str
    context: str
    server: str
    command: str
    """A kubectl command that uses it, ready to copy."""


class RunLockTaken(EngineEvent):
    """This run holds the cluster: `local` (this machine's lock, for the whole run) or `cloud` (the
    marker in the project, taken once the run knows it will change something)."""

    kind: Literal["RunLockTaken"] = "RunLockTaken"
    cluster: str
    scope: Literal["local", "cloud"]
    expires: str = ""
    """When the cloud marker expires unless renewed (UTC); empty for the local lock."""
    took_over: str = ""
    """The earlier holder whose marker this run took over (expired, or --force-unlock); empty if none."""
    takeover: LockTakeover | None = None
    """Why that marker could be taken over; None when there was none."""


class RunLockRefused(EngineEvent):
    """Another run holds the cluster; this run stops without changing anything."""

    kind: Literal["RunLockRefused"] = "RunLockRefused"
    cluster: str
    scope: Literal["local", "cloud"]
    since: str
    pid: int | None = None
    host: str = ""
    expires: str = ""


class RunLockReleased(EngineEvent):
    kind: Literal["RunLockReleased"] = "RunLockReleased"
    cluster: str
    scope: Literal["local", "cloud"]


class CallerAddressDetected(EngineEvent):
    """The address khz-tui runs from, found for a plan whose `ssh.allowed_cidrs` or
    `ssh.api_allowed_cidrs` is empty (meaning: that address); the firewall lets it in."""

    kind: Literal["CallerAddressDetected"] = "CallerAddressDetected"
    address: str
    """As a firewall source: `203.0.113.7/32` or `2001:db8::7/128`."""
    source: str
    """Where it was found: the echo service's URL, or the simulator."""
    used_for: list[str] = []
    """The plan's empty lists it stands for (`ssh.allowed_cidrs`, `ssh.api_allowed_cidrs`)."""


class SweptResource(BaseModel):
    """A paid resource that a cluster add-on made (the cloud controller's load balancers, the CSI
    driver's volumes): not labelled by khz-tui, found by the add-on's own marks."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    resource_type: ResourceKind
    name: str
    id: int | None = None
    why: str
    """What proves it belongs to this cluster (the label, the network, the server it is attached to)."""


class AddonResourcesFound(EngineEvent):
    """Destroy (and its dry-run) found what the cluster's add-ons made at Hetzner; destroy deletes them."""

    kind: Literal["AddonResourcesFound"] = "AddonResourcesFound"
    resources: list[SweptResource]


VerifyStatus = Literal["pass", "fail", "skipped"]


class VerifyCheckFinished(EngineEvent):
    """One check of `verify` (also run at the end of apply) has its answer."""

    kind: Literal["VerifyCheckFinished"] = "VerifyCheckFinished"
    check: str
    """Its short name: nodes, addons, dns, kubeconfig, load-balancer, volume, cleanup."""
    title: str
    ok: bool
    """False only for a failed check (a skipped one is not a failure)."""
    status: VerifyStatus
    detail: str
    """What was found, naming the node (or object) and the reason."""
    hint: str = ""
    """What to do about a failure."""
    nodes: list[str] = []
    """The nodes a failure concerns."""


class VerifyWillCreate(EngineEvent):
    """`verify --deep` names what it is about to create (billed at Hetzner while it exists)."""

    kind: Literal["VerifyWillCreate"] = "VerifyWillCreate"
    resources: list[str]
    note: str


class VerifyFinished(EngineEvent):
    """Every check of one verify has its answer."""

    kind: Literal["VerifyFinished"] = "VerifyFinished"
    ok: bool
    deep: bool
    passed: int
    failed: int
    skipped: int
    failed_checks: list[str] = []


class RunFinished(EngineEvent):
    """The last event of every run, successful or not. `outcome` is what every front end reads to decide
    what to say and which exit code to give (see `outcome.py`)."""

    kind: Literal["RunFinished"] = "RunFinished"
    mode: RunMode
    ok: bool
    message: str
    outcome: Outcome
    nodes_ready: int = 0
    nodes_total: int = 0
    failed_step: FailedStep | None = None
    hint: str = ""
    bad_input: bool = False
    """The run stopped on input the person must fix (a refused token, a missing confirmation)."""
    api_throttled: int = 0
    """HTTP 429 answers the run met (each was waited out, never hammered)."""

    @model_validator(mode="before")
    @classmethod
    def _outcome_from_older_logs(cls, data: Any) -> Any:
        # Run logs written before `outcome` existed are still read (run history): derive it once, here.
        if isinstance(data, dict) and "outcome" not in data:
            derived = outcome_of(ok=bool(data.get("ok")), failed_step=data.get("failed_step"),
                                 bad_input=bool(data.get("bad_input")))
            data = {**data, "outcome": derived}
        return data


Event = Annotated[
    Union[  # noqa: UP007 - one event per line reads better than a 25-way `|`
        RunStarted,
        StepStarted,
        StepFinished,
        StepFailed,
        ResourceFound,
        ResourceCreated,
        ResourceDeleted,
        DriftDetected,
        NodePlanned,
        NodePhaseChanged,
        LogLine,
        PlanDiffed,
        KubeconfigWritten,
        RunLockTaken,
        RunLockRefused,
        RunLockReleased,
        CallerAddressDetected,
        AddonResourcesFound,
        VerifyCheckFinished,
        VerifyWillCreate,
        VerifyFinished,
        RunFinished,
        NodeRepaired,
        DeleteRetried,
        ConnectionDropped,
    ],
    Field(discriminator="kind"),
]

EVENT_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event)


def event_from_json(text: str) -> EngineEvent:
    return EVENT_ADAPTER.validate_json(text)
