"""Reading a khz-tui child process's `--output json` event stream, one event a line, as it comes.

The stream is read from the pipe's file descriptor, not with `readline()` on the pipe's file object:
that one reads ahead, and `select()` does not see lines already in its buffer, so an event could wait
there until the run wrote the next one, and a test acting "at" an event (a signal, a kill) would act late.
"""

from __future__ import annotations

import json
import os
import selectors
import subprocess
import time
from collections.abc import Callable
from typing import Any

Event = dict[str, Any]


def events_in(output: str) -> list[Event]:
    """The JSON events in what a finished `--output json` run printed (other lines skipped)."""
    return [json.loads(line) for line in output.splitlines() if line.startswith("{")]


class EventStream:
    """The JSON events a child process writes to its stdout (opened as a pipe, text or bytes)."""

    def __init__(self, proc: subprocess.Popen[Any]) -> None:
        assert proc.stdout is not None, "start the process with stdout=subprocess.PIPE"
        self.fd = proc.stdout.fileno()
        self.unread = b""

    def until(self, stop: Callable[[Event], bool] | None, timeout: float) -> tuple[list[Event], bool]:
        """Events until `stop` matches (True) or the stream ends (False); AssertionError after `timeout` s."""
        events: list[Event] = []
        sel = selectors.DefaultSelector()
        sel.register(self.fd, selectors.EVENT_READ)
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                if b"\n" in self.unread:
                    line, self.unread = self.unread.split(b"\n", 1)
                    events.append(json.loads(line))
                    if stop is not None and stop(events[-1]):
                        return events, True
                    continue
                if not sel.select(timeout=min(1.0, max(0.0, deadline - time.monotonic()))):
                    continue
                chunk = os.read(self.fd, 1 << 16)
                if not chunk:
                    return events, False
                self.unread += chunk
            raise AssertionError(f"nothing matched within {timeout:.0f}s; last: {[e['kind'] for e in events[-5:]]}")
        finally:
            sel.close()
