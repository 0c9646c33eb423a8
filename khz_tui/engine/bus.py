"""Where engine events are stamped and sent: elapsed time, API usage, and secret scrubbing.

Every part of the engine emits through one `EventBus`, so no event can forget its stamps and no line
can carry a secret: values registered with `add_secret` are replaced by `***` in every string field
before the event leaves the engine.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from khz_tui.engine.events import EngineEvent, LogLevel, LogLine, LogStream

E = TypeVar("E", bound=EngineEvent)
REDACTED = "***"


@dataclass
class ApiUsage:
    """Counters the cloud client updates on every response."""

    requests: int = 0
    mutating_requests: int = 0
    rate_limit_remaining: int | None = None
    rate_limit_reset: float | None = None
    """UNIX time at which the bucket is full again, as the API reported."""
    throttled: int = 0
    """HTTP 429 answers seen."""


@dataclass
class EventBus:
    sink: Callable[[EngineEvent], None]
    usage: ApiUsage = field(default_factory=ApiUsage)
    clock: Callable[[], float] = time.monotonic
    _started: float = field(default=0.0, init=False)
    _secrets: list[str] = field(default_factory=list, init=False)

    def __post_init__(self) -> None:
        self._started = self.clock()

    def add_secret(self, value: str) -> None:
        """Never let `value` appear in an event (tokens, join tokens, private keys)."""
        if value and len(value) >= 4 and value not in self._secrets:
            self._secrets.append(value)
            self._secrets.sort(key=len, reverse=True)  # longest first, so a prefix never leaks the rest

    def scrub(self, text: str) -> str:
        """`text` with every registered secret replaced by `***`."""
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        return text

    @property
    def elapsed(self) -> float:
        return self.clock() - self._started

    def emit(self, event: E) -> E:
        """Stamp (elapsed time, API usage), scrub and send one event; returns what was sent.

        Callers construct the event themselves, so the type checker sees every field at every emit site."""
        update: dict[str, Any] = {
            name: self.scrub(value) for name, value in event if isinstance(value, str) and value
        }
        update.update(
            elapsed=round(self.elapsed, 3),
            api_requests=self.usage.requests,
            rate_limit_remaining=self.usage.rate_limit_remaining,
        )
        stamped = event.model_copy(update=update)
        self.sink(stamped)
        return stamped

    def log(self, text: str, *, node: str | None = None, stream: LogStream = "engine", level: LogLevel = "info") -> None:
        self.emit(LogLine(text=text, node=node, stream=stream, level=level))
