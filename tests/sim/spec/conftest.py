"""Fixtures for checking the simulator's responses against the official spec's schemas.

The schemas are vendored under `tests/data/spec_schemas` by `extract_schemas.py`; nothing here reads
the spec itself.

- `spec_index`: the vendored index (`"METHOD /path"` -> status and schema file, error code table).
- `conforms(key, status, body)`: asserts the status the spec documents for that endpoint and validates
  the body against its vendored schema, with format checks; reports every mismatch (JSON path,
  expected, got).
- `schema_mismatches(file, body)`: the departures themselves, for tests of the checks.
- `api`: raw HTTP (aiohttp) against an API-only simulator on this test's loop, with the bearer token.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import re
from collections.abc import AsyncIterator, Callable
from functools import cache
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from jsonschema import Draft202012Validator, FormatChecker

from khz_tui.sim.simulator import Simulator, recording_node_host

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "data" / "spec_schemas"
TIME_SCALE = 0.01

# RFC 3339 section 5.6 date-time (what the spec's `format: date-time` means).
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")
_DECIMAL = re.compile(r"^-?\d+(\.\d+)?$")


def format_checker() -> FormatChecker:
    """Checks for the formats the vendored schemas use. jsonschema's own `date-time` check needs an
    optional package and is silently skipped without it, so every check here is explicit."""
    checker = FormatChecker(formats=())

    @checker.checks("date-time", raises=ValueError)
    def date_time(value: object) -> bool:
        if not isinstance(value, str):
            return True
        if not _RFC3339.match(value):
            return False
        dt.datetime.fromisoformat(value.replace("z", "Z").replace("Z", "+00:00").replace("t", "T"))
        return True

    @checker.checks("int64")
    def int64(value: object) -> bool:
        return not isinstance(value, int) or -(2**63) <= value < 2**63

    @checker.checks("int32")
    def int32(value: object) -> bool:
        return not isinstance(value, int) or -(2**31) <= value < 2**31

    @checker.checks("decimal")
    def decimal(value: object) -> bool:
        return not isinstance(value, str) or bool(_DECIMAL.match(value))

    return checker


@cache
def load_index() -> dict[str, Any]:
    return json.loads((SCHEMA_DIR / "index.json").read_text(encoding="utf-8"))


@cache
def validator(file_name: str) -> Draft202012Validator:
    schema = json.loads((SCHEMA_DIR / file_name).read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=format_checker())


def _leaf_errors(error: Any) -> list[Any]:
    """For oneOf/anyOf failures, the errors of the branch that came closest (the useful ones)."""
    if error.context:
        by_branch: dict[Any, list[Any]] = {}
        for sub in error.context:
            by_branch.setdefault(sub.schema_path[0] if sub.schema_path else None, []).append(sub)
        best = min(by_branch.values(), key=len)
        return [leaf for sub in best for leaf in _leaf_errors(sub)]
    return [error]


def mismatches(file_name: str, body: Any) -> list[str]:
    """Every place `body` departs from the vendored schema: `$.json.path: expected X, got Y`."""
    out = []
    for error in sorted(validator(file_name).iter_errors(body), key=lambda e: list(map(str, e.absolute_path))):
        for leaf in _leaf_errors(error):
            if leaf.validator in ("required", "additionalProperties", "dependentRequired"):
                out.append(f"{leaf.json_path}: {leaf.message}")  # names the missing or extra keys
                continue
            expected = json.dumps(leaf.validator_value)[:200]
            got = json.dumps(leaf.instance)[:200]
            out.append(f"{leaf.json_path}: expected {leaf.validator} {expected}, got {got}")
    return out


def check_conforms(key: str, status: int, body: Any) -> None:
    """Assert the documented status and a body valid against the spec's schema for `key`."""
    entry = load_index()["endpoints"][key]
    assert status == entry["status"], f"{key}: spec documents status {entry['status']}, got {status}: {body}"
    if entry["schema"] is None:
        assert body is None, f"{key}: spec documents {status} without a body, got {body!r}"
        return
    problems = mismatches(entry["schema"], body)
    assert not problems, f"{key} does not match the spec:\n  " + "\n  ".join(problems)


def check_error(status: int, body: Any, code: str) -> None:
    """Assert an error response: the envelope schema, the code, and the status the spec's table gives it."""
    problems = mismatches("error.json", body)
    assert not problems, "error envelope does not match the spec:\n  " + "\n  ".join(problems)
    assert body["error"]["code"] == code, body
    table = load_index()["error_codes"]
    assert code in table, f"{code} is not in the spec's error code table"
    assert status == table[code], f"{code}: spec's table gives {table[code]}, got {status}"


@pytest.fixture
def spec_index() -> dict[str, Any]:
    return load_index()


@pytest.fixture
def conforms() -> Callable[[str, int, Any], None]:
    return check_conforms


@pytest.fixture
def schema_mismatches() -> Callable[[str, Any], list[str]]:
    """`mismatches(schema_file, body)`: the list of departures from a vendored schema."""
    return mismatches


@pytest.fixture
def error_conforms() -> Callable[[int, Any, str], None]:
    return check_error


class Api:
    """Raw HTTP against the simulator: no client library between the test and the wire."""

    def __init__(self, session: aiohttp.ClientSession, sim: Simulator, token: str | None = None):
        self.session = session
        self.sim = sim
        self.token = sim.token if token is None else token
        self.last_headers: dict[str, str] = {}

    async def call(self, method: str, path: str, body: Any = None, params: Any = None, *, raw: bytes | None = None) -> tuple[int, Any]:
        """(status, parsed JSON body or None when empty); the headers are kept in `last_headers`."""
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        kwargs: dict[str, Any] = {"headers": headers, "params": params}
        if body is not None:
            kwargs["json"] = body
        if raw is not None:
            kwargs["data"] = raw
            headers["Content-Type"] = "application/json"
        async with self.session.request(method, self.sim.endpoint + path, **kwargs) as response:
            text = await response.text()
            self.last_headers = dict(response.headers)
            return response.status, (json.loads(text) if text else None)

    async def ok(self, method: str, path: str, body: Any = None, params: Any = None) -> Any:
        """The body of a call that must succeed (setup steps)."""
        status, data = await self.call(method, path, body, params)
        assert 200 <= status < 300, f"{method} {path} -> {status}: {data}"
        return data

    async def wait(self, action_id: int, timeout: float = 10.0) -> dict[str, Any]:
        """Poll `GET /actions/{id}` until the action is no longer running."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            action = (await self.ok("GET", f"/actions/{action_id}"))["action"]
            if action["status"] != "running":
                assert action["status"] == "success", action
                return action
            assert loop.time() < deadline, f"action {action_id} still running"
            await asyncio.sleep(0.02)

    async def wait_all(self, data: dict[str, Any]) -> None:
        """Wait for `action` and `next_actions` of a response."""
        actions = ([data["action"]] if data.get("action") else []) + list(data.get("next_actions") or [])
        for action in actions:
            await self.wait(action["id"])


async def _api(**kwargs: Any) -> AsyncIterator[Api]:
    async with Simulator(time_scale=kwargs.pop("time_scale", TIME_SCALE), seed=1, node_host_factory=recording_node_host, **kwargs) as sim:
        async with aiohttp.ClientSession() as session:
            yield Api(session, sim)


@pytest.fixture
async def api() -> AsyncIterator[Api]:
    """Raw HTTP against a fresh API-only simulator (its machines only record calls)."""
    async for value in _api():
        yield value


@pytest.fixture
def make_api() -> Callable[..., Any]:
    """`async with make_api(**Simulator kwargs) as api:` for tests that need a differently tuned simulator."""
    from contextlib import asynccontextmanager

    return asynccontextmanager(_api)
