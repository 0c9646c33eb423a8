"""One small async facade over the official, synchronous hcloud client.

Every call runs on a worker thread (never on the event loop), goes through the `Pacer`, is counted,
and is retried by one policy (`pacing.is_retryable`). Requests are counted and the rate-limit headers
read by a `requests` response hook on the client's session (`client._client._session`): hcloud-python
returns parsed JSON only and drops the headers, and the hook also sees the requests hcloud makes on
its own (page after page of a `get_all`), so the count is exact without wrapping every method.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import requests
from hcloud import APIException, Client

from khz_tui.engine.bus import ApiUsage
from khz_tui.engine.cloud.pacing import MAX_ATTEMPTS, Pacer, PollInterval, backoff_delay, error_hint, is_retryable

HETZNER_ENDPOINT = "https://api.hetzner.cloud/v1"
#: Requests in flight at once; also the size of the HTTP connection pool.
MAX_PARALLEL = 16
#: At most this many action ids per `GET /actions?id=...` (the API pages at 50).
ACTIONS_PER_REQUEST = 50

T = TypeVar("T")


class CloudError(Exception):
    """An API error the engine will not retry (or gave up retrying), with a hint for the person."""

    def __init__(self, message: str, *, code: str | int | None = None, hint: str = "", what: str = ""):
        super().__init__(message)
        self.message = message
        self.code = code
        self.hint = hint or error_hint(code)
        self.what = what

    @property
    def bad_credentials(self) -> bool:
        """The API refused the token."""
        return self.code in ("unauthorized", 401)

    @property
    def not_found(self) -> bool:
        """The resource is gone (for a delete: already done)."""
        return self.code in ("not_found", 404)


class ActionFailed(CloudError):
    """An action the API accepted ended with status `error`."""


class CloudClient:
    """Async access to one Hetzner Cloud project (or the simulator) with counting, pacing and retries."""

    def __init__(
        self,
        endpoint: str,
        token: str,
        usage: ApiUsage | None = None,
        *,
        poll: PollInterval | None = None,
        timeout: float = 30.0,
    ) -> None:
        self.endpoint = endpoint.rstrip("/")
        self.usage = usage or ApiUsage()
        self.pacer = Pacer()
        self.poll = poll or PollInterval()
        self.hcloud = Client(token=token, api_endpoint=self.endpoint, timeout=timeout, application_name="khz-tui")
        base = self.hcloud._client
        # One retry policy, ours: hcloud's would sleep on 429 without reading RateLimit-Reset.
        base._retry_max_retries = 0
        session: requests.Session = base._session
        adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=MAX_PARALLEL)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        session.hooks["response"].append(self._on_response)
        self._lock = threading.Lock()
        self._executor = ThreadPoolExecutor(max_workers=MAX_PARALLEL, thread_name_prefix="hcloud")
        self._gate = asyncio.Semaphore(MAX_PARALLEL)
        self._waiter: _ActionWaiter | None = None

    # -- counting --------------------------------------------------------------------------------

    def _on_response(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        headers = response.headers
        self.pacer.observe(
            headers.get("RateLimit-Limit"), headers.get("RateLimit-Remaining"), headers.get("RateLimit-Reset")
        )
        with self._lock:
            self.usage.requests += 1
            if response.request.method not in ("GET", "HEAD", "OPTIONS"):
                self.usage.mutating_requests += 1
            if response.status_code == 429:
                self.usage.throttled += 1
            self.usage.rate_limit_remaining = self.pacer.remaining
            self.usage.rate_limit_reset = self.pacer.reset

    # -- calls -----------------------------------------------------------------------------------

    async def call(self, fn: Callable[..., T], *args: Any, what: str = "", **kwargs: Any) -> T:
        """Run `fn(*args, **kwargs)` (an hcloud method) on a worker thread, paced and retried.

        Raises CloudError for anything that must not be retried, with the API's message."""
        loop = asyncio.get_running_loop()
        attempt = 0
        while True:
            wait = self.pacer.delay()
            if wait > 0:
                await asyncio.sleep(wait)
            try:
                async with self._gate:
                    return await loop.run_in_executor(self._executor, lambda: fn(*args, **kwargs))
            except APIException as exc:
                code = exc.code
                if attempt + 1 < MAX_ATTEMPTS and is_retryable(code):
                    if code in ("rate_limit_exceeded", 429):
                        delay = self.pacer.throttled_delay()
                    else:
                        delay = backoff_delay(attempt)
                    attempt += 1
                    await asyncio.sleep(delay)
                    continue
                raise CloudError(_describe(exc, what), code=code, what=what) from None
            except (requests.ConnectionError, requests.Timeout) as exc:
                # A dropped connection may have been processed; callers of creates handle the
                # resulting uniqueness_error by adopting what they own.
                if attempt + 1 < MAX_ATTEMPTS:
                    attempt += 1
                    await asyncio.sleep(backoff_delay(attempt))
                    continue
                raise CloudError(f"{what}: cannot reach the API at {self.endpoint}: {exc}", code="unreachable") from None

    async def request(self, method: str, path: str, *, what: str = "", **kwargs: Any) -> dict[str, Any]:
        """A raw API request (paths the typed client lacks: batched actions, pricing, the simulator's)."""
        return await self.call(self.hcloud.request, method, path, what=what or f"{method} {path}", **kwargs)

    async def probe(self, path: str) -> dict[str, Any] | None:
        """GET `path`; None when the API answers 404 (e.g. not a simulator). Retried like any call:
        the first request of a run meets 429s, 5xx and dropped connections like every other."""
        try:
            return await self.request("GET", path)
        except CloudError as exc:
            if exc.not_found:
                return None
            raise

    # -- actions -----------------------------------------------------------------------------------

    async def wait_action(self, action_id: int, *, what: str = "") -> dict[str, Any]:
        """Wait until one action finishes; many concurrent waits share one poll request."""
        if self._waiter is None:
            self._waiter = _ActionWaiter(self)
        return await self._waiter.wait(action_id, what)

    async def wait_actions(self, action_ids: Iterable[int], *, what: str = "") -> list[dict[str, Any]]:
        """Wait for several actions (one request per poll for all of them)."""
        return list(await asyncio.gather(*(self.wait_action(a, what=what) for a in action_ids)))

    def close(self) -> None:
        """Stop the worker threads (dropping queued calls) and close the HTTP connections."""
        self._executor.shutdown(wait=False, cancel_futures=True)
        self.hcloud._client._session.close()


class _ActionWaiter:
    """Polls every pending action with `GET /actions?id=..&id=..`, at an adaptive interval."""

    def __init__(self, client: CloudClient) -> None:
        self.client = client
        self.pending: dict[int, list[tuple[asyncio.Future, str]]] = {}
        self.task: asyncio.Task | None = None

    async def wait(self, action_id: int, what: str) -> dict[str, Any]:
        fut: asyncio.Future = asyncio.get_running_loop().create_future()
        self.pending.setdefault(action_id, []).append((fut, what))
        if self.task is None or self.task.done():
            self.task = asyncio.create_task(self._loop(), name="action-poller")
        try:
            return await fut
        finally:
            waiters = self.pending.get(action_id)
            if waiters is not None:
                waiters[:] = [w for w in waiters if w[0] is not fut]
                if not waiters:
                    self.pending.pop(action_id, None)

    async def _loop(self) -> None:
        poll = self.client.poll
        delay = poll.minimum
        while self.pending:
            await asyncio.sleep(delay)
            ids = sorted(self.pending)
            finished = False
            try:
                for start in range(0, len(ids), ACTIONS_PER_REQUEST):
                    chunk = ids[start : start + ACTIONS_PER_REQUEST]
                    body = await self.client.request(
                        "GET",
                        "/actions",
                        params={"id": chunk, "per_page": ACTIONS_PER_REQUEST},
                        what="waiting for actions",
                    )
                    for action in body.get("actions", []):
                        if action.get("status") in ("success", "error"):
                            finished = True
                            self._resolve(action)
            except CloudError as exc:
                for waiters in list(self.pending.values()):
                    for fut, _ in waiters:
                        if not fut.done():
                            fut.set_exception(exc)
                self.pending.clear()
                return
            delay = poll.next(finished)

    def _resolve(self, action: dict[str, Any]) -> None:
        for fut, what in self.pending.pop(action["id"], []):
            if fut.done():
                continue
            if action["status"] == "error":
                err = action.get("error") or {}
                fut.set_exception(
                    ActionFailed(
                        f"{what or action.get('command', 'action')} failed: {err.get('message', 'unknown error')}",
                        code=err.get("code"),
                        what=what,
                    )
                )
            else:
                fut.set_result(action)


def _describe(exc: APIException, what: str) -> str:
    message = f"{exc.message} ({exc.code})"
    fields = (exc.details or {}).get("fields") if isinstance(exc.details, dict) else None
    if fields:
        parts = [f"{f.get('name')}: {'; '.join(f.get('messages', []))}" for f in fields]
        message += " - " + ", ".join(parts)
    return f"{what}: {message}" if what else message
