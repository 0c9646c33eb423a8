"""Actions: the asynchronous jobs every mutation returns.

An action is `running` for its (time-scaled) duration, its progress rising with the clock, then
`success` or `error` with a code. While an action runs it locks the resource it acts on: another
mutation of that resource gets `locked` (423), as on Hetzner. Effects that the real cloud applies at the
end of an action (a server becoming `running`, a volume attaching) run in the completion callback.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from khz_tui.sim.api.errors import ApiError

log = logging.getLogger(__name__)

Resource = tuple[str, int]
Callback = Callable[[], Awaitable[None] | None]


def now_iso() -> str:
    """Current UTC time in the API's ISO 8601 form."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class ActionFailure:
    """Why an action ends in `error`."""

    code: str
    message: str


@dataclass
class _Running:
    begin: float
    seconds: float
    locks: list[Resource]
    task: asyncio.Task[None] | None = None
    done: asyncio.Event = field(default_factory=asyncio.Event)


class ActionBook:
    """Every action of the project, and the tasks that finish the running ones."""

    def __init__(self, time_scale: float, first_id: int = 900001):
        self.time_scale = time_scale
        self.records: dict[int, dict[str, Any]] = {}
        self._running: dict[int, _Running] = {}
        self._locks: dict[Resource, int] = {}
        self._next_id = first_id

    # -- creation ---------------------------------------------------------------------------------

    def start(
        self,
        command: str,
        resources: list[Resource],
        seconds: float,
        *,
        lock: list[Resource] | None = None,
        on_success: Callback | None = None,
        on_error: Callback | None = None,
        failure: ActionFailure | None = None,
        after: int | None = None,
    ) -> dict[str, Any]:
        """Start an action lasting `seconds` (unscaled); returns its record.

        `lock` lists the resources it locks (default: the first resource). `after` chains the action
        behind another one (a server's `start_server` runs when `create_server` ends).
        """
        action_id = self._next_id
        self._next_id += 1
        record = {
            "id": action_id,
            "command": command,
            "status": "running",
            "progress": 0,
            "started": now_iso(),
            "finished": None,
            "resources": [{"id": rid, "type": rtype} for rtype, rid in resources],
            "error": None,
        }
        self.records[action_id] = record
        locks = list(lock if lock is not None else resources[:1])
        for res in locks:
            self._locks[res] = self._locks.get(res, 0) + 1
        run = _Running(begin=time.monotonic(), seconds=seconds * self.time_scale, locks=locks)
        self._running[action_id] = run
        run.task = asyncio.get_running_loop().create_task(
            self._finish(action_id, run, on_success, on_error, failure, after), name=f"sim-action-{action_id}"
        )
        return record

    def instant(self, command: str, resources: list[Resource]) -> dict[str, Any]:
        """An action that is already `success` (synchronous operations that still report one)."""
        action_id = self._next_id
        self._next_id += 1
        stamp = now_iso()
        record = {
            "id": action_id,
            "command": command,
            "status": "success",
            "progress": 100,
            "started": stamp,
            "finished": stamp,
            "resources": [{"id": rid, "type": rtype} for rtype, rid in resources],
            "error": None,
        }
        self.records[action_id] = record
        return record

    async def _finish(
        self,
        action_id: int,
        run: _Running,
        on_success: Callback | None,
        on_error: Callback | None,
        failure: ActionFailure | None,
        after: int | None,
    ) -> None:
        record = self.records[action_id]
        try:
            if after is not None and after in self._running:
                await self._running[after].done.wait()
                run.begin = time.monotonic()
                if self.records[after]["status"] == "error":
                    failure = failure or ActionFailure("action_failed", "a preceding action failed")
                    run.seconds = 0.0
            await asyncio.sleep(run.seconds)
            if failure is None and on_success is not None:
                try:
                    result = on_success()
                    if asyncio.iscoroutine(result):
                        await result
                except ApiError as exc:
                    failure = ActionFailure(exc.code, exc.message)
            if failure is not None:
                record["status"] = "error"
                record["error"] = {"code": failure.code, "message": failure.message}
                if on_error is not None:
                    result = on_error()
                    if asyncio.iscoroutine(result):
                        await result
            else:
                record["status"] = "success"
            record["progress"] = 100
            record["finished"] = now_iso()
        except asyncio.CancelledError:
            raise
        except Exception:  # a bug in a completion effect must not leave the action running forever
            log.exception("simulated action %s failed internally", action_id)
            record["status"] = "error"
            record["error"] = {"code": "server_error", "message": "internal simulator error"}
            record["finished"] = now_iso()
        finally:
            self._release(action_id, run)

    def _release(self, action_id: int, run: _Running) -> None:
        for res in run.locks:
            left = self._locks.get(res, 0) - 1
            if left > 0:
                self._locks[res] = left
            else:
                self._locks.pop(res, None)
        run.done.set()
        self._running.pop(action_id, None)

    # -- queries ----------------------------------------------------------------------------------

    def is_locked(self, rtype: str, rid: int) -> bool:
        """True while an action that locks this resource is running."""
        return (rtype, rid) in self._locks

    def view(self, action_id: int) -> dict[str, Any] | None:
        """The action as the API shows it now (progress computed from the clock); None when unknown."""
        record = self.records.get(action_id)
        return None if record is None else self.shown(record)

    def shown(self, record: dict[str, Any]) -> dict[str, Any]:
        """An action's record as the API shows it now (progress computed from the clock)."""
        run = self._running.get(record["id"])
        if run is not None and record["status"] == "running":
            elapsed = time.monotonic() - run.begin
            share = elapsed / run.seconds if run.seconds > 0 else 1.0
            record["progress"] = max(0, min(99, int(share * 100)))
        return dict(record)

    def for_resource(self, rtype: str, rid: int) -> list[dict[str, Any]]:
        """Every action that touched a resource, oldest first."""
        return [self.shown(record) for record in self.records.values()
                if any(r["type"] == rtype and r["id"] == rid for r in record["resources"])]

    async def close(self) -> None:
        """Cancel the tasks of running actions (they stay `running` in saved state)."""
        tasks = [run.task for run in self._running.values() if run.task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # -- persistence ------------------------------------------------------------------------------

    def export(self) -> dict[str, Any]:
        """Finished actions and the id counter (running ones are saved as finished on restore)."""
        return {"next_id": self._next_id, "records": list(self.records.values())}

    def restore(self, data: dict[str, Any]) -> None:
        """Reload exported actions; anything that was running when saved reads as `success`."""
        self._next_id = int(data.get("next_id", self._next_id))
        for record in data.get("records", []):
            if record["status"] == "running":
                record.update(status="success", progress=100, finished=now_iso())
            self.records[int(record["id"])] = record
