"""How fast the engine may talk to the API, and what to do when an answer is an error.

Hetzner gives each project a bucket of 3600 requests refilled at one per second and reports it on every
response (`RateLimit-Limit`, `RateLimit-Remaining`, `RateLimit-Reset` = UNIX time when full again).
The pacer keeps the bucket from running dry: above a low-water mark requests go out freely; below it
they are spaced at the refill rate, so a big cluster slows down a little instead of hitting 429s.

hcloud-python retries only `rate_limit_exceeded`, `conflict`, `bad_gateway` and `timeout`, and it
sleeps through its own backoff without looking at `RateLimit-Reset`. The facade switches those
retries off and applies `is_retryable` to every error instead, so there is one policy, written down
here, for all of them.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

#: Requests kept in reserve; below this the pacer spaces requests at the refill rate.
LOW_WATER = 60
#: Codes worth retrying: the API said "not now", not "never".
RETRYABLE_CODES = frozenset(
    {"rate_limit_exceeded", "locked", "server_error", "unavailable", "conflict", "timeout", "bad_gateway"}
)
RETRYABLE_STATUS = frozenset({423, 429, 500, 502, 503, 504})
MAX_ATTEMPTS = 8

HINTS = {
    "unauthorized": "the API token was refused: check the token (HCLOUD_TOKEN or the plan's hcloud.token_env)",
    # Hetzner answers a read-only token's first change with `401 token_readonly`, not `forbidden`.
    "token_readonly": (
        "the API token is read-only: create a Read & Write token in the Hetzner Console "
        "(Security > API tokens) and use that one"
    ),
    "forbidden": "the token lacks access to this request: check the project and the token's permissions",
    "resource_limit_exceeded": (
        "the project reached a Hetzner limit (servers, cores, volumes...): ask Hetzner to raise the project "
        "limit in the console (Limits tab), or plan fewer or smaller nodes"
    ),
    "invalid_input": "the API refused a value from the plan: fix the field it names and run again",
    "uniqueness_error": (
        "a resource with that name already exists and is not labeled for this cluster: rename the "
        "cluster or delete the look-alike by hand; khz-tui never adopts resources it did not create"
    ),
    "placement_error": "Hetzner could not place the server in its spread group: try another location",
    "resource_unavailable": "that server type is sold out or not offered in this location: pick another",
}


#: Codes that mean the token itself is wrong for the job: bad input (exit 2), never worth a retry.
CREDENTIAL_CODES = frozenset({"unauthorized", "token_readonly", 401})


def is_bad_credentials(code: str | int | None) -> bool:
    """True when the API refused the token (unknown, revoked, or read-only for a change)."""
    return code in CREDENTIAL_CODES


def error_hint(code: str | int | None) -> str:
    """What a person can do about an API error code (empty when there is nothing useful to say)."""
    return HINTS.get(str(code), "")


def is_retryable(code: str | int | None) -> bool:
    """True for errors that mean "try again later" (busy resource, overload, rate limit)."""
    if isinstance(code, int):
        return code in RETRYABLE_STATUS
    return code in RETRYABLE_CODES


def backoff_delay(attempt: int, *, base: float = 0.5, cap: float = 20.0, rng: random.Random | None = None) -> float:
    """Full-jitter exponential backoff for retry number `attempt` (0-based)."""
    jitter = rng.uniform(0.5, 1.0) if rng is not None else random.uniform(0.5, 1.0)
    return jitter * min(cap, base * 2.0**attempt)


@dataclass
class Pacer:
    """Spaces requests from many threads according to the last rate-limit headers seen.

    `delay()` says how long the caller should wait before its next request; it reserves a slot so
    concurrent callers spread out instead of all waking at once.
    """

    low_water: int = LOW_WATER
    clock: Callable[[], float] = time.time
    limit: int = 3600
    remaining: int | None = None
    reset: float | None = None
    _next_slot: float = 0.0

    def __post_init__(self) -> None:
        self._lock = threading.Lock()

    @property
    def refill_per_second(self) -> float:
        return max(self.limit, 1) / 3600.0

    def observe(self, limit: str | None, remaining: str | None, reset: str | None) -> None:
        """Record one response's RateLimit-* headers (missing headers change nothing)."""
        with self._lock:
            try:
                if limit is not None:
                    self.limit = int(limit)
                if remaining is not None:
                    self.remaining = int(remaining)
                if reset is not None:
                    self.reset = float(reset)
            except ValueError:
                pass  # a malformed header must not break provisioning

    def delay(self) -> float:
        """Seconds to wait before sending one more request now."""
        with self._lock:
            now = self.clock()
            if self.remaining is None or self.remaining > self.low_water:
                return 0.0
            # Below the mark: one request per refill interval, shared fairly between callers.
            interval = 1.0 / self.refill_per_second
            slot = max(now, self._next_slot)
            self._next_slot = slot + interval
            # Each reserved slot consumes one token we expect to regain by then.
            return slot - now

    def throttled_delay(self, parallel: int = 10) -> float:
        """Wait after a 429: until enough tokens for `parallel` requests have refilled, never past the
        reported reset, never less than one refill interval."""
        with self._lock:
            now = self.clock()
            if self.remaining is not None and self.remaining >= parallel:
                # The 429 said the bucket still holds tokens: a transient refusal, not exhaustion.
                return random.uniform(0.1, 0.3)
            need = parallel / self.refill_per_second
            until_reset = (self.reset - now) if self.reset else need
            wait = max(1.0 / self.refill_per_second, min(need, until_reset))
            self._next_slot = max(self._next_slot, now + wait)
            self.remaining = 0
            return wait


@dataclass
class PollInterval:
    """Adaptive wait between action polls: short while things finish, longer while nothing moves."""

    minimum: float = 0.5
    maximum: float = 3.0
    factor: float = 1.5
    current: float = 0.0

    def __post_init__(self) -> None:
        self.current = self.minimum

    def next(self, progressed: bool) -> float:
        """The interval to sleep now; `progressed` is True when the last poll saw an action finish."""
        self.current = self.minimum if progressed else min(self.maximum, self.current * self.factor)
        return self.current
