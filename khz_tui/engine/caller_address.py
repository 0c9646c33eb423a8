"""The address khz-tui runs from, for plans that leave `ssh.allowed_cidrs` / `ssh.api_allowed_cidrs` empty.

An empty list means "the address I run from", found at each run. Hetzner cannot tell a client its own
address, so on a real cloud it is asked of echo services: the URLs in `KHZ_TUI_MY_IP_URLS`
(comma-separated; each answers with the caller's address as its whole body), tried in order with a
short timeout, once per address family (IPv4 over an IPv4-only connection, IPv6 over an IPv6-only one).
An IPv4 address becomes a /32, an IPv6 address a /128. An empty variable turns detection off; unset,
a few well-known public echo services are used. Against a simulator the address it announces
(`GET /x-sim/info`, `caller_cidr`) wins: that is where its sshd sees connections come from.

`detect_caller_cidrs` is the one entry point for apply, dry-run, render and the wizard.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

import aiohttp

from khz_tui.plan.model import ClusterPlan

#: The environment variable naming the echo services; empty turns detection off.
URLS_VARIABLE = "KHZ_TUI_MY_IP_URLS"
#: Used when the variable is unset. Each answers a plain GET with the caller's address and nothing else,
#: over IPv4 and over IPv6 (the connection's family decides which address is seen).
DEFAULT_URLS: tuple[str, ...] = ("https://api64.ipify.org", "https://icanhazip.com", "https://ifconfig.me/ip")
#: Seconds for one URL (connect and body): an echo service that does not answer at once is skipped.
URL_TIMEOUT = 3.0
#: The longest body read: an address is at most 45 characters, anything much longer is not one.
MAX_BODY = 256
#: Where the address came from when a simulator announced it.
SIMULATOR_SOURCE = "the simulator (GET /x-sim/info)"

FAMILIES: tuple[tuple[str, socket.AddressFamily, int, int], ...] = (
    ("IPv4", socket.AF_INET, 4, 32),
    ("IPv6", socket.AF_INET6, 6, 128),
)


@dataclass(frozen=True)
class CallerAddress:
    """One address khz-tui runs from, as a firewall source."""

    cidr: str
    """`203.0.113.7/32` or `2001:db8::7/128`."""
    source: str
    """Where it was found: the echo service's URL, or SIMULATOR_SOURCE."""


class CallerAddressUnknown(Exception):
    """The plan needs the caller's address and none was found: bad input (exit 2)."""

    def __init__(self, message: str, hint: str) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


def configured_urls(environ: Mapping[str, str] | None = None) -> list[str]:
    """The echo services to ask: the variable's URLs, the defaults when it is unset, [] when it is empty."""
    env = os.environ if environ is None else environ
    raw = env.get(URLS_VARIABLE)
    if raw is None:
        return list(DEFAULT_URLS)
    return [u.strip() for u in raw.split(",") if u.strip()]


def needs_caller_address(plan: ClusterPlan) -> bool:
    """True when either allowed list is empty, i.e. means "the address I run from"."""
    return not plan.ssh.allowed_cidrs or not plan.ssh.api_allowed_cidrs


def with_caller_cidrs(plan: ClusterPlan, found: Sequence[CallerAddress]) -> ClusterPlan:
    """The plan with each empty allowed list filled with the found addresses (a copy; the file is untouched)."""
    cidrs = [f.cidr for f in found]
    update = {key: cidrs for key in ("allowed_cidrs", "api_allowed_cidrs") if not getattr(plan.ssh, key) and cidrs}
    if not update:
        return plan
    return plan.model_copy(update={"ssh": plan.ssh.model_copy(update=update)})


async def _ask(session: aiohttp.ClientSession, url: str, version: int, timeout: float) -> str:
    """The address `url` answers with, checked to be of IP `version`; raises ValueError saying why not."""
    host = (urlsplit(url).hostname or "").strip("[]")
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None and literal.version != version:
        # aiohttp cannot connect to an IPv4 literal over an IPv6-only connector (or back): skip it here.
        raise ValueError(f"{host} is an IPv{literal.version} address")
    try:
        async with asyncio.timeout(timeout):
            async with session.get(url, headers={"Accept": "text/plain"}, allow_redirects=True) as response:
                if response.status != 200:
                    raise ValueError(f"HTTP {response.status}")
                body = (await response.content.read(MAX_BODY)).decode("ascii", errors="replace").strip()
    except TimeoutError:
        raise ValueError(f"no answer within {timeout:g}s") from None
    except (aiohttp.ClientError, OSError) as exc:
        raise ValueError(str(exc) or type(exc).__name__) from None
    try:
        address = ipaddress.ip_address(body)
    except ValueError:
        raise ValueError(f"the answer is not an address: {body[:60]!r}") from None
    if address.version != version:
        raise ValueError(f"answered {address}, not an IPv{version} address")
    return str(address)


async def _family(urls: Sequence[str], name: str, family: socket.AddressFamily, version: int, prefix: int,
                  timeout: float, tried: list[str]) -> CallerAddress | None:
    """The first address of one family among `urls`, in order; what failed is appended to `tried`."""
    connector = aiohttp.TCPConnector(family=family, use_dns_cache=False, force_close=True)
    async with aiohttp.ClientSession(connector=connector, trust_env=False) as session:
        for url in urls:
            try:
                address = await _ask(session, url, version, timeout)
            except ValueError as why:
                tried.append(f"{url} over {name}: {why}")
                continue
            return CallerAddress(cidr=f"{address}/{prefix}", source=url)
    return None


async def detect_caller_cidrs(
    *,
    simulated_cidr: str | None = None,
    urls: Sequence[str] | None = None,
    timeout: float = URL_TIMEOUT,
) -> list[CallerAddress]:
    """The addresses khz-tui runs from: one per address family that answered (IPv4 first).

    `simulated_cidr` is what a simulator announced (`NodeAccess.caller_cidr`); when given, it is the
    answer and no echo service is asked. `urls` defaults to `configured_urls()`. Raises
    CallerAddressUnknown, naming both ways out, when detection is off or nothing answered."""
    if simulated_cidr:
        return [CallerAddress(cidr=simulated_cidr, source=SIMULATOR_SOURCE)]
    urls = configured_urls() if urls is None else list(urls)
    ways_out = (
        "set ssh.allowed_cidrs and ssh.api_allowed_cidrs in the plan to the networks you work from "
        f"(e.g. [\"203.0.113.7/32\"]), or set {URLS_VARIABLE} to comma-separated URLs that answer with "
        "your public address (e.g. https://api64.ipify.org)"
    )
    if not urls:
        raise CallerAddressUnknown(
            f"the plan leaves ssh.allowed_cidrs or ssh.api_allowed_cidrs empty (meaning: the address khz-tui "
            f"runs from), and finding that address is turned off ({URLS_VARIABLE} is empty)",
            ways_out,
        )
    tried: list[list[str]] = [[] for _ in FAMILIES]
    found = await asyncio.gather(*(
        _family(urls, name, family, version, prefix, timeout, tried[i])
        for i, (name, family, version, prefix) in enumerate(FAMILIES)
    ))
    addresses = [f for f in found if f is not None]
    if not addresses:
        failures = "; ".join(line for lines in tried for line in lines)
        raise CallerAddressUnknown(
            "the plan leaves ssh.allowed_cidrs or ssh.api_allowed_cidrs empty (meaning: the address khz-tui "
            f"runs from), and no echo service told that address ({failures})",
            ways_out,
        )
    return addresses
