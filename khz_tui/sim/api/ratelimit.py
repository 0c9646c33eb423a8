"""The project's request budget: a token bucket like Hetzner's (3600 per hour, refilled 1 per second).

The bucket runs on wall-clock time and is NOT multiplied by the simulator's time scale: the limit guards
request volume, and a fast simulation sends requests as fast as a slow one would per real second, so
scaling would either hide or exaggerate the engine's request rate.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable


class TokenBucket:
    """`capacity` tokens, refilled at `capacity / 3600` per second (1/s for the default 3600)."""

    def __init__(self, capacity: int = 3600, *, clock: Callable[[], float] = time.time):
        self.capacity = capacity
        self.refill_per_second = capacity / 3600.0
        self._clock = clock
        self._tokens = float(capacity)
        self._stamp = clock()

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self.capacity, self._tokens + (now - self._stamp) * self.refill_per_second)
        self._stamp = now

    def take(self) -> bool:
        """Spend one token; False when the bucket is empty (the request gets 429)."""
        self._refill()
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False

    def drain(self) -> None:
        """Empty the bucket (tests and fault profiles use it to provoke 429s)."""
        self._refill()
        self._tokens = 0.0

    def headers(self) -> dict[str, str]:
        """`RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset` (UNIX time when full again)."""
        self._refill()
        missing = self.capacity - self._tokens
        reset = self._stamp + (missing / self.refill_per_second if self.refill_per_second else 0)
        return {
            "RateLimit-Limit": str(self.capacity),
            "RateLimit-Remaining": str(math.floor(self._tokens)),
            "RateLimit-Reset": str(math.ceil(reset)),
        }


class AddressBuckets:
    """One `TokenBucket` per client address, for requests without a valid token.

    Hetzner's spec: "All requests, whether they are authenticated or not, are subject to rate
    limiting." An unauthenticated request belongs to no project, so its budget is the caller's address.
    At most `max_addresses` buckets are kept (least recently used dropped first): a flood from many
    addresses cannot grow the simulator without bound.
    """

    def __init__(self, capacity: int = 3600, *, clock: Callable[[], float] = time.time, max_addresses: int = 4096):
        self.capacity = capacity
        self._clock = clock
        self._max = max_addresses
        self._buckets: OrderedDict[str, TokenBucket] = OrderedDict()

    def bucket(self, address: str) -> TokenBucket:
        """The bucket of one client address (created full on first use)."""
        found = self._buckets.get(address)
        if found is None:
            found = TokenBucket(self.capacity, clock=self._clock)
            self._buckets[address] = found
            if len(self._buckets) > self._max:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(address)
        return found
