"""The aiohttp application: auth, rate limit, fault injection and request counting around the
resource routes, with every error in Hetzner's envelope."""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections import Counter
from collections.abc import Awaitable, Callable

from aiohttp import web

from khz_tui.sim.api import (
    action_routes,
    firewalls,
    load_balancers,
    networks,
    offerings,
    placement_groups,
    server_actions,
    ssh_keys,
    volumes,
    xsim,
)
from khz_tui.sim.api.errors import ApiError, error_response
from khz_tui.sim.api.ratelimit import AddressBuckets, TokenBucket
from khz_tui.sim.api.store import CLOUD, CloudStore
from khz_tui.sim.faults import FaultDice, FaultProfile

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
MUTATING = ("POST", "PUT", "DELETE", "PATCH")


class RequestCounts:
    """How many requests the simulator answered, by method (tests assert e.g. no mutating calls)."""

    def __init__(self) -> None:
        self.by_method: Counter[str] = Counter()
        self.by_route: Counter[str] = Counter()

    def add(self, method: str, path: str) -> None:
        """Count one authenticated request."""
        self.by_method[method] += 1
        self.by_route[f"{method} {path}"] += 1

    @property
    def total(self) -> int:
        return sum(self.by_method.values())

    @property
    def mutating(self) -> int:
        """POST, PUT, DELETE and PATCH requests."""
        return sum(self.by_method[m] for m in MUTATING)


def _drop(request: web.Request) -> web.Response:
    # Closing the transport mid-request is what a client sees when a proxy resets the connection.
    if request.transport is not None:
        request.transport.close()
    return web.Response(status=500)


def build_app(
    cloud: CloudStore,
    *,
    token: str,
    bucket: TokenBucket,
    dice: FaultDice | None = None,
    counts: RequestCounts | None = None,
    announce: bool = True,
    read_only_token: str | None = None,
    anonymous: AddressBuckets | None = None,
) -> web.Application:
    """The API emulator as an aiohttp application. With `announce=False` the simulator-only `/x-sim`
    routes answer 404 like Hetzner's API, so clients take it for the real cloud (to test those paths).

    `read_only_token` is a second token of the same project (same `bucket`) that may only GET.
    `anonymous` rate-limits requests without a valid token, one bucket per client address."""
    counts = counts if counts is not None else RequestCounts()
    dice = dice or FaultDice(FaultProfile(), 0)
    anonymous = anonymous or AddressBuckets(bucket.capacity)
    expected = f"Bearer {token}".encode()
    expected_read_only = f"Bearer {read_only_token}".encode() if read_only_token else None

    def refuse_unauthenticated(request: web.Request) -> web.Response:
        # Spec, "Rate Limiting": "All requests, whether they are authenticated or not, are subject to
        # rate limiting." A caller without a valid token has no project: its address pays instead.
        own = anonymous.bucket(request.remote or "unknown")
        if not own.take():
            return error_response("rate_limit_exceeded", "limit of requests per hour reached", headers=own.headers())
        return error_response("unauthorized", "unable to authenticate", headers=own.headers())

    @web.middleware
    async def gate(request: web.Request, handler: Handler) -> web.StreamResponse:
        given = request.headers.get("Authorization", "").encode()
        read_only = False
        if not hmac.compare_digest(given, expected):
            if expected_read_only is None or not hmac.compare_digest(given, expected_read_only):
                return refuse_unauthenticated(request)
            read_only = True
        path = request.path[3:] if request.path.startswith("/v1") else request.path
        counts.add(request.method, path)
        if not bucket.take():
            return error_response("rate_limit_exceeded", "limit of requests per hour reached", headers=bucket.headers())
        if read_only and request.method != "GET":
            # Spec, "Error Codes": `401 token_readonly`: "The token is only allowed to perform GET requests."
            return error_response("token_readonly", "the token is only allowed to perform GET requests",
                                  headers=bucket.headers())
        outcome = dice.request(request.method, path)
        if outcome.latency:
            await asyncio.sleep(outcome.latency)
        if outcome.error and not outcome.after_handler:
            if outcome.error == "dropped":
                return _drop(request)
            return error_response(outcome.error, f"simulated fault: {outcome.error}", headers=bucket.headers())
        try:
            response = await handler(request)
        except ApiError as exc:
            response = exc.response()
        except web.HTTPNotFound:
            response = error_response("not_found", f"no such endpoint: {request.method} {request.path}")
        except web.HTTPMethodNotAllowed:
            response = error_response("method_not_allowed", f"{request.method} is not allowed on {request.path}")
        except Exception:  # a simulator bug answers like Hetzner's server_error rather than a bare 500
            log.exception("simulator handler failed for %s %s", request.method, request.path)
            response = error_response("server_error", "internal simulator error")
        if outcome.error and outcome.after_handler:
            if outcome.error == "dropped":
                return _drop(request)
            return error_response(outcome.error, f"simulated fault: {outcome.error}", headers=bucket.headers())
        response.headers.update(bucket.headers())
        return response

    app = web.Application(middlewares=[gate], client_max_size=1024 * 1024)
    app[CLOUD] = cloud
    app.add_routes(action_routes.routes())  # before /{kind}/{id}: "actions" is not an id
    if announce:
        app.add_routes(xsim.routes())
    app.add_routes(offerings.routes(cloud.offer))
    for family in (server_actions, networks, ssh_keys, firewalls, placement_groups, volumes, load_balancers):
        app.add_routes(family.routes())
    return app
