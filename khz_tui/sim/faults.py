"""Fault injection: what goes wrong in the simulated cloud, decided deterministically from a seed.

A `FaultProfile` holds per-endpoint rules (latency and the chance of 429, 500, 503, 423, 504 and dropped
connections), failed create actions, and the machine-side `NodeFaults` handed to the node host.
Every decision is a hash of (seed, endpoint, how many times that endpoint was called, what is being
decided), so the n-th call to an endpoint meets the same fate in every run with the same seed, no
matter how calls to other endpoints interleave.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import re
import tomllib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from khz_tui.sim.contracts import NodeFaults

_ID_RE = re.compile(r"/\d+")


class EndpointFaults(BaseModel):
    """Faults for requests whose `METHOD /path` (without `/v1`, ids as digits) matches `pattern`."""

    model_config = ConfigDict(extra="forbid")

    pattern: str = "* *"
    """fnmatch pattern such as `POST /servers`, `* /load_balancers/*`, or `* *` for everything."""
    latency_ms: tuple[float, float] = (0.0, 0.0)
    """Extra latency, uniform between the two bounds (milliseconds, not time-scaled)."""
    rate_limited: float = Field(0.0, ge=0, le=1)
    server_error: float = Field(0.0, ge=0, le=1)
    unavailable: float = Field(0.0, ge=0, le=1)
    locked: float = Field(0.0, ge=0, le=1)
    """Only applied to mutating requests (a GET is never locked)."""
    timeout: float = Field(0.0, ge=0, le=1)
    dropped: float = Field(0.0, ge=0, le=1)
    """Connection closed without a response."""

    def matches(self, method: str, path: str) -> bool:
        """Whether this rule covers the request."""
        return fnmatch.fnmatchcase(f"{method} {path}", self.pattern)


class FaultProfile(BaseModel):
    """Everything that should go wrong in one simulated project."""

    model_config = ConfigDict(extra="forbid")

    name: str = "none"
    endpoints: list[EndpointFaults] = Field(default_factory=list)
    """First matching rule wins."""
    failed_create_names: list[str] = Field(default_factory=list)
    """fnmatch patterns of server names whose create action ends in `error`."""
    failed_create_probability: float = Field(0.0, ge=0, le=1)
    """Chance (decided per server name) that a create action fails."""
    node: NodeFaults = Field(default_factory=NodeFaults)


@dataclass
class Outcome:
    """What the fault layer decided for one request."""

    latency: float = 0.0
    error: str | None = None
    """An error code to answer with instead of handling the request, or `dropped`."""
    after_handler: bool = False
    """For `timeout` and `dropped`: the request takes effect, only the response is lost."""


def _uniform(seed: int, *parts: object) -> float:
    digest = hashlib.sha256("|".join(str(p) for p in (seed, *parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


class FaultDice:
    """Rolls the profile's dice for requests and create actions."""

    def __init__(self, profile: FaultProfile, seed: int):
        self.profile = profile
        self.seed = seed
        self._calls: Counter[str] = Counter()
        self._creates: Counter[tuple[str, str]] = Counter()

    def request(self, method: str, path: str) -> Outcome:
        """The fate of one API request (`path` without the `/v1` prefix)."""
        rule = next((r for r in self.profile.endpoints if r.matches(method, path)), None)
        if rule is None:
            return Outcome()
        key = f"{method} {_ID_RE.sub('/{id}', path)}"
        n = self._calls[key]
        self._calls[key] += 1
        low, high = rule.latency_ms
        latency = (low + (high - low) * _uniform(self.seed, key, n, "latency")) / 1000.0
        roll = _uniform(self.seed, key, n, "error")
        mutating = method in ("POST", "PUT", "DELETE")
        chances: list[tuple[str, float]] = [
            ("rate_limit_exceeded", rule.rate_limited),
            ("server_error", rule.server_error),
            ("unavailable", rule.unavailable),
            ("locked", rule.locked if mutating else 0.0),
            ("timeout", rule.timeout),
            ("dropped", rule.dropped),
        ]
        edge = 0.0
        for code, chance in chances:
            edge += chance
            if roll < edge:
                after = code in ("timeout", "dropped") and _uniform(self.seed, key, n, "after") < 0.5
                return Outcome(latency=latency, error=code, after_handler=after)
        return Outcome(latency=latency)

    def create_fails(self, kind: str, name: str) -> bool:
        """Whether the create action of this resource ends in `error`.

        Names matching `failed_create_names` fail every time. The seeded chance is rolled per attempt
        (the n-th create of a name meets the same fate in every run), so a client that deletes the
        broken server and creates it again can succeed, as on Hetzner."""
        if kind == "server" and any(fnmatch.fnmatchcase(name, p) for p in self.profile.failed_create_names):
            return True
        chance = self.profile.failed_create_probability
        if chance <= 0:
            return False
        attempt = self._creates[(kind, name)]
        self._creates[(kind, name)] += 1
        return _uniform(self.seed, "create", kind, name, attempt) < chance


_FLAKY = EndpointFaults(
    pattern="* *", rate_limited=0.02, server_error=0.015, unavailable=0.015, locked=0.01, timeout=0.01, dropped=0.01
)
_SLOW = EndpointFaults(pattern="* *", latency_ms=(20.0, 300.0))

PROFILES: dict[str, FaultProfile] = {
    "none": FaultProfile(name="none"),
    "latency": FaultProfile(name="latency", endpoints=[_SLOW]),
    "flaky-api": FaultProfile(name="flaky-api", endpoints=[_FLAKY]),
    "failed-create": FaultProfile(name="failed-create", failed_create_probability=0.25),
    "ssh-drops": FaultProfile(name="ssh-drops", node=NodeFaults(ssh_drop_probability=0.1)),
    "reboot-during-install": FaultProfile(
        name="reboot-during-install", node=NodeFaults(reboot_during_install_probability=0.3)
    ),
    "unreachable-node": FaultProfile(name="unreachable-node", node=NodeFaults(never_reachable_probability=0.2)),
    "chaos": FaultProfile(
        name="chaos",
        endpoints=[_FLAKY.model_copy(update={"latency_ms": (20.0, 300.0)})],
        failed_create_probability=0.1,
        node=NodeFaults(
            never_reachable_probability=0.05, reboot_during_install_probability=0.1, ssh_drop_probability=0.05
        ),
    ),
}

def load_profile(name_or_path: str) -> FaultProfile:
    """A named profile, or one read from a TOML or JSON file; ValueError with a clear message otherwise."""
    if name_or_path in PROFILES:
        return PROFILES[name_or_path].model_copy(deep=True)
    path = Path(name_or_path)
    if not path.is_file():
        raise ValueError(f"unknown fault profile '{name_or_path}' (named profiles: {', '.join(PROFILES)}; or a .toml/.json file)")
    text = path.read_text(encoding="utf-8")
    try:
        data = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
        return FaultProfile.model_validate({"name": path.stem, **data})
    except (ValueError, tomllib.TOMLDecodeError) as exc:
        raise ValueError(f"fault profile {path.name}: {exc}") from None
