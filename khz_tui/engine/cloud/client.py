"""One small async facade over the official, synchronous hcloud client.

Every call runs on a worker thread (never on the event loop), goes through the `Pacer`, is counted,
and is retried by one policy (`pacing.is_retryable`). Requests are counted and the rate-limit headers
read by a `requests` response hook on the client's session (`hcloud_adapter.http_session`): hcloud-python
returns parsed JSON only and drops the headers, and the hook also sees the requests hcloud makes on
its own (page after page of a `get_all`), so the count is exact without wrapping every method.

Before its first call the client checks, once, that the endpoint speaks the Hetzner Cloud API
(`check_endpoint`): a wrong URL, a closed port, an unknown host or a web page then fails in seconds,
naming the endpoint and what to check, instead of retrying through the whole run.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar
from urllib.parse import urlparse

import requests
from hcloud import APIException

from khz_tui.engine.bus import ApiUsage
from khz_tui.engine.cloud.hcloud_adapter import http_session, new_client, request_headers
from khz_tui.engine.cloud.pacing import (
    MAX_ATTEMPTS,
    Pacer,
    PollInterval,
    backoff_delay,
    error_hint,
    is_bad_credentials,
    is_retryable,
)
from khz_tui.engine.credentials import DEFAULT_ENDPOINT

#: Requests in flight at once; also the size of the HTTP connection pool.
MAX_PARALLEL = 16
#: At most this many action ids per `GET /actions?id=...` (the API pages at 50).
ACTIONS_PER_REQUEST = 50
#: (connect, read) seconds for every call: a TCP handshake to an API takes well under a second,
#: and Hetzner answers even large list pages within a few seconds.
TIMEOUT = (10.0, 30.0)
#: (connect, read) seconds for the first request, which only reads one location.
CHECK_TIMEOUT = (10.0, 10.0)
#: The first request: cheap, read-only, and answered with JSON by every Hetzner Cloud API (or its envelope).
CHECK_PATH = "/locations"
#: Where a person sets the endpoint, for the messages.
ENDPOINT_SETTINGS = "--endpoint, HCLOUD_ENDPOINT or the plan's hcloud.endpoint"

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
        """The API refused the token (or its permissions, like a read-only token's first change)."""
        return is_bad_credentials(self.code)

    @property
    def bad_input(self) -> bool:
        """The person's input is wrong (the token, or an endpoint that is not the API): exit 2, not 1."""
        return self.bad_credentials or self.code == BAD_ENDPOINT

    @property
    def not_found(self) -> bool:
        """The resource is gone (for a delete: already done)."""
        return self.code in ("not_found", 404)


#: CloudError.code when the endpoint cannot be reached or does not speak the API.
BAD_ENDPOINT = "bad_endpoint"


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
        timeout: float | tuple[float, float] | None = None,
    ) -> None:
        self.endpoint = endpoint.rstrip("/")
        self.usage = usage or ApiUsage()
        self.pacer = Pacer()
        self.poll = poll or PollInterval()
        self.hcloud = new_client(self.endpoint, token, timeout=timeout or TIMEOUT, pool_size=MAX_PARALLEL)
        self._http_session = http_session(self.hcloud)
        self._http_session.hooks["response"].append(self._on_response)
        self._lock = threading.Lock()
        self._executor = ThreadPoolExecutor(max_workers=MAX_PARALLEL, thread_name_prefix="hcloud")
        self._gate = asyncio.Semaphore(MAX_PARALLEL)
        self._waiter: _ActionWaiter | None = None
        self._checked: asyncio.Future[None] | None = None

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
        """Run `fn(*args, **kwargs)` (an hcloud method) on a worker thread, paced and retried; `what`
        names it in messages. The facade passes a lambda (`lambda: h.servers.get_by_id(7)`), so the
        type checker sees every hcloud call's arguments.

        Raises CloudError for anything that must not be retried, with the API's message."""
        await self.check_endpoint()
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
                raise CloudError(f"{what}: cannot reach the API at {self.endpoint}: {_network_cause(exc)}",
                                 code="unreachable",
                                 hint="check this machine's network connection and the API's status, "
                                      "then run the same command again") from None

    # -- the endpoint check ------------------------------------------------------------------------

    async def check_endpoint(self) -> None:
        """Once per client: make sure the endpoint is reachable and answers like the Hetzner Cloud API.

        Raises CloudError(code=BAD_ENDPOINT) naming the endpoint and what to check. Every caller
        waits for the one check; a failed check fails every later call the same way."""
        if self._checked is None:
            self._checked = asyncio.ensure_future(self._check_endpoint())
        await asyncio.shield(self._checked)

    async def _check_endpoint(self) -> None:
        loop = asyncio.get_running_loop()
        url = self.endpoint + CHECK_PATH
        headers = request_headers(self.hcloud)
        for attempt in range(MAX_ATTEMPTS):
            try:
                response = await loop.run_in_executor(self._executor, lambda: self._http_session.get(
                    url, params={"per_page": 1}, headers=headers, timeout=CHECK_TIMEOUT))
            except requests.RequestException as exc:
                retry = _dropped_after_connect(exc)
                if not retry or attempt + 1 == MAX_ATTEMPTS:
                    raise self._unreachable(exc) from None
            else:
                verdict = _speaks_hetzner_api(response)
                if verdict is None:
                    return
                if not is_retryable(response.status_code) or attempt + 1 == MAX_ATTEMPTS:
                    raise CloudError(
                        f"the API endpoint {self.endpoint} does not answer like the Hetzner Cloud API: "
                        f"GET {CHECK_PATH} returned {verdict}",
                        code=BAD_ENDPOINT,
                        hint=f"check {ENDPOINT_SETTINGS}: it must be the API's base URL, "
                             f"{DEFAULT_ENDPOINT} for Hetzner (or the URL 'khz-tui sim serve' prints)",
                    )
            await asyncio.sleep(backoff_delay(attempt))

    def _unreachable(self, exc: requests.RequestException) -> CloudError:
        cause = _network_cause(exc)
        connect, read = CHECK_TIMEOUT
        if isinstance(exc, requests.ConnectTimeout):
            what = f"no connection to the API endpoint {self.endpoint} within {connect:g}s"
            check = "that the address and port are right and that no firewall or proxy drops the connection"
        elif isinstance(exc, requests.Timeout):
            what = (f"the API endpoint {self.endpoint} accepted the connection but did not answer "
                    f"GET {CHECK_PATH} within {read:g}s")
            check = "that the URL points at the Hetzner Cloud API and not at another service"
        elif cause.startswith("cannot resolve"):
            what = f"{cause} of the API endpoint {self.endpoint}"
            check = "the host name for typos, and this machine's DNS settings"
        else:
            what = f"cannot connect to the API endpoint {self.endpoint}: {cause}"
            check = "that the URL and port are right and that the API (or 'khz-tui sim serve') runs there"
        return CloudError(what, code=BAD_ENDPOINT, hint=f"check {ENDPOINT_SETTINGS}: {check}")

    async def request(self, method: str, path: str, *, what: str = "", **kwargs: Any) -> dict[str, Any]:
        """A raw API request (paths the typed client lacks: batched actions, pricing, the simulator's)."""
        return await self.call(lambda: self.hcloud.request(method, path, **kwargs), what=what or f"{method} {path}")

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
        self._http_session.close()


class _ActionWaiter:
    """Polls every pending action with `GET /actions?id=..&id=..`, at an adaptive interval."""

    def __init__(self, client: CloudClient) -> None:
        self.client = client
        self.pending: dict[int, list[tuple[asyncio.Future[dict[str, Any]], str]]] = {}
        self.task: asyncio.Task[None] | None = None

    async def wait(self, action_id: int, what: str) -> dict[str, Any]:
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
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


def _speaks_hetzner_api(response: requests.Response) -> str | None:
    """None when the response is the API's (a JSON body with `locations`, or the JSON error
    envelope); else what came back instead, in a few words."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict) and isinstance(error.get("code"), str):
            return None
        if response.ok and isinstance(body.get("locations"), list):
            return None
    kind = (response.headers.get("Content-Type") or "no content type").split(";")[0].strip()
    return f"HTTP {response.status_code} {response.reason or ''} with {kind}".replace("  ", " ")


def _root_causes(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    todo: list[BaseException] = [exc]
    while todo:
        current = todo.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        todo += [e for e in (current.__cause__, current.__context__, getattr(current, "reason", None)) if
                 isinstance(e, BaseException)]
        todo += [a for a in getattr(current, "args", ()) if isinstance(a, BaseException)]


def _network_cause(exc: BaseException) -> str:
    """What went wrong on the network, in words instead of urllib3's repr."""
    causes = list(_root_causes(exc))
    if any(isinstance(c, socket.gaierror) for c in causes) or any("NameResolution" in type(c).__name__ for c in causes):
        host = ""
        url = getattr(getattr(exc, "request", None), "url", None)
        if url:
            host = urlparse(url).hostname or ""
        return f"cannot resolve the host name {host}".rstrip()
    if any(isinstance(c, ConnectionRefusedError) for c in causes):
        return "connection refused"
    if isinstance(exc, requests.exceptions.SSLError):
        return "the TLS handshake failed (a certificate that is not trusted, or not an HTTPS server)"
    if isinstance(exc, requests.Timeout):
        return "timed out"
    if any(isinstance(c, (ConnectionResetError, ConnectionAbortedError)) for c in causes) or any(
        "RemoteDisconnected" in type(c).__name__ for c in causes
    ):
        return "the connection was closed before an answer came"
    return type(exc).__name__


def _dropped_after_connect(exc: requests.RequestException) -> bool:
    """A connection that was open and then dropped (worth a retry); not one that never opened
    (refused, unknown host, connect timeout) nor an answer that never came (read timeout)."""
    if isinstance(exc, (requests.ConnectTimeout, requests.ReadTimeout)):
        return False
    causes = list(_root_causes(exc))
    if any(isinstance(c, (socket.gaierror, ConnectionRefusedError)) for c in causes):
        return False
    if any(type(c).__name__ in ("NewConnectionError", "NameResolutionError") for c in causes):
        return False
    return isinstance(exc, requests.ConnectionError)
