"""The Hetzner Cloud API as the in-cluster controllers reach it: over HTTP, at the simulator's own
endpoint, with the token they read from the `hcloud` Secret. A wrong, revoked or read-only token
fails here exactly as it would fail the real controller (401 `unauthorized` / `token_readonly`)."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp

ACTION_WAIT_SECONDS = 600.0
"""Longest wait for one action, in simulated seconds (hcloud-go's WaitFor has no limit of its own;
the controller's context does)."""
REQUEST_TIMEOUT = 30.0


class HcloudError(Exception):
    """An error answer of the API (its envelope's code and message), or the endpoint unreachable."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{message} ({code})")
        self.code = code
        self.message = message


class HcloudApi:
    """A tiny client: JSON in, JSON out, `error.code` raised as HcloudError."""

    def __init__(self, endpoint: str, token: str, user_agent: str, time_scale: float) -> None:
        self.endpoint = endpoint.rstrip("/")
        self.token = token
        self.user_agent = user_agent
        self.time_scale = time_scale

    async def call(self, method: str, path: str, body: dict[str, Any] | None = None,
                   params: dict[str, str] | None = None) -> dict[str, Any]:
        """One request; the decoded body (empty for 204)."""
        if not self.endpoint:
            raise HcloudError("unreachable", "the Hetzner Cloud API endpoint is not known yet")
        headers = {"Authorization": f"Bearer {self.token}", "User-Agent": self.user_agent}
        try:
            async with aiohttp.ClientSession(headers=headers, timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT)) as session, \
                    session.request(method, self.endpoint + path, json=body, params=params) as resp:
                data = await resp.json(content_type=None) if resp.status != 204 else {}
        except (TimeoutError, aiohttp.ClientError, ValueError) as exc:
            raise HcloudError("unreachable", f"{method} {path}: {exc}") from None
        if resp.status >= 400:
            error = (data or {}).get("error") or {}
            raise HcloudError(str(error.get("code", resp.status)), str(error.get("message", "")))
        return data or {}

    async def wait(self, action: dict[str, Any] | None) -> None:
        """Poll an action until it ends (bounded); an action that failed raises its error."""
        if not action:
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + ACTION_WAIT_SECONDS * self.time_scale
        current = action
        while current.get("status") == "running":
            if loop.time() >= deadline:
                raise HcloudError("timeout", f"action {action['id']} did not finish")
            await asyncio.sleep(max(0.01, 0.5 * self.time_scale))
            current = (await self.call("GET", f"/actions/{action['id']}"))["action"]
        if current.get("status") == "error":
            error = current.get("error") or {}
            raise HcloudError(str(error.get("code", "action_failed")), str(error.get("message", "")))
