"""Address allocation: public IPv4 addresses, public IPv6 /64 networks and private IPs in subnets.

Public IPv4 comes from a block of 127.0.0.0/8 that this simulator claimed for itself (`claim_block`).
Linux routes the whole of 127.0.0.0/8 to the loopback interface, so a simulated server's "public"
address is one the machine running the simulator can really connect to: the simulated kube-apiserver
listens on exactly the address a kubeconfig names. Each live simulator claims its own block, so two
of them (test workers, `sim serve` next to `--sim`) never hand out the same address. Where loopback
aliases cannot be bound (macOS without `ifconfig lo0 alias`), the pool is 198.18.0.0/15 (reserved for
benchmarking, never routed) and loopback listeners use 127.0.0.1 with a port each instead.
The lowest free address is handed out, so an address released by a delete is reused, as Hetzner
eventually does.
"""

from __future__ import annotations

import errno
import ipaddress
import random
import socket
from collections.abc import Callable
from dataclasses import dataclass

FALLBACK_V4_POOL = ipaddress.IPv4Network("198.18.0.0/15")
PUBLIC_V4_POOL = FALLBACK_V4_POOL
"""The pool of a `PublicAddresses()` made without a claimed block (tests of the allocator itself)."""
PUBLIC_V6_BASE = ipaddress.IPv6Network("2001:db8::/32")
LOOPBACK = ipaddress.IPv4Network("127.0.0.0/8")
BLOCK_PREFIX = 16
CLAIM_PORT = 6443
"""The claim is a bound, never listening socket on the block's first address and the kube-apiserver
port: the same bind that would fail there (another simulator, or anything serving 6443 on every
address) would also fail for the listeners this block is claimed for."""
CLAIM_ATTEMPTS = 64


class PublicAddresses:
    """Hands out and takes back public IPv4 addresses and IPv6 /64 networks."""

    def __init__(self, pool: ipaddress.IPv4Network | None = None) -> None:
        self.pool = pool or PUBLIC_V4_POOL
        self._v4_used: set[int] = set()
        self._v6_used: set[int] = set()
        self.on_change: Callable[[], None] | None = None
        """Called after an IPv4 address is taken or released (the node host opens or closes a load
        balancer's listener then)."""

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change()

    def take_v4(self) -> str:
        """The lowest free public IPv4 address (skips .0 and .255 of every /24 for realism, and the
        block's first /24 .1, which holds the block's claim and is 127.0.0.1's look-alike)."""
        base = int(self.pool.network_address)
        n = 2
        while n in self._v4_used or n % 256 in (0, 255):
            n += 1
        if n >= self.pool.num_addresses:
            raise RuntimeError("public IPv4 pool exhausted")
        self._v4_used.add(n)
        self._changed()
        return str(ipaddress.IPv4Address(base + n))

    def take_v6(self) -> str:
        """The lowest free /64 network, in the `2001:db8:N::/64` form servers report."""
        n = 1
        while n in self._v6_used:
            n += 1
        self._v6_used.add(n)
        net = ipaddress.IPv6Network((int(PUBLIC_V6_BASE.network_address) + (n << 64), 64))
        return str(net)

    def _v4_offset(self, address: str) -> int | None:
        ip = ipaddress.IPv4Address(address)
        return int(ip) - int(self.pool.network_address) if ip in self.pool else None

    def release(self, address: str | None) -> None:
        """Give an address (IPv4) or network (IPv6 /64) back to the pool."""
        if not address:
            return
        if ":" in address:
            net = ipaddress.IPv6Network(address, strict=False)
            self._v6_used.discard((int(net.network_address) - int(PUBLIC_V6_BASE.network_address)) >> 64)
        else:
            offset = self._v4_offset(address)
            if offset is not None:
                self._v4_used.discard(offset)
            self._changed()

    def mark_used(self, address: str | None) -> None:
        """Record an address restored from a saved state (one outside the pool is left alone)."""
        if not address:
            return
        if ":" in address:
            net = ipaddress.IPv6Network(address, strict=False)
            self._v6_used.add((int(net.network_address) - int(PUBLIC_V6_BASE.network_address)) >> 64)
        else:
            offset = self._v4_offset(address)
            if offset is not None:
                self._v4_used.add(offset)


@dataclass
class BlockClaim:
    """A claimed public IPv4 block; `loopback` tells whether its addresses can be bound here."""

    block: ipaddress.IPv4Network
    loopback: bool
    sock: socket.socket | None = None

    def release(self) -> None:
        """Give the block up (the simulator stopped)."""
        if self.sock is not None:
            self.sock.close()
            self.sock = None


def _try_claim(block: ipaddress.IPv4Network) -> socket.socket | None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        # No SO_REUSEADDR: a second bind of the same address and port must fail.
        sock.bind((str(block.network_address + 1), CLAIM_PORT))
    except OSError:
        sock.close()
        return None
    return sock


def claim_block(wanted: str | None = None, rng: random.Random | None = None) -> BlockClaim:
    """Claim a /16 of 127.0.0.0/8 no other live simulator holds (127.0.0.0/16 is never used).

    `wanted` is the block of a restored state: its addresses are in saved servers and kubeconfigs,
    so it is claimed again, and a clash with a live simulator is an error. Without loopback aliases
    the fallback pool 198.18.0.0/15 is returned with `loopback=False`."""
    if wanted is not None:
        block = ipaddress.IPv4Network(wanted)
        if block.subnet_of(LOOPBACK):
            sock = _try_claim(block)
            if sock is not None:
                return BlockClaim(block, True, sock)
            if loopback_aliases_work():
                raise RuntimeError(f"the saved simulator state uses addresses in {block}, but port "
                                   f"{CLAIM_PORT} there is taken (another running simulator?); stop it first")
        return BlockClaim(FALLBACK_V4_POOL if block.subnet_of(LOOPBACK) else block, False)
    pick = rng or random.Random()
    for _ in range(CLAIM_ATTEMPTS):
        second = pick.randrange(1, 255)  # 127.1/16 .. 127.254/16: never 127.0/16 (127.0.0.1) nor 127.255/16
        block = ipaddress.IPv4Network(f"127.{second}.0.0/{BLOCK_PREFIX}")
        sock = _try_claim(block)
        if sock is not None:
            return BlockClaim(block, True, sock)
    return BlockClaim(FALLBACK_V4_POOL, False)


def loopback_aliases_work() -> bool:
    """Whether an address of 127.0.0.0/8 other than 127.0.0.1 can be bound here (Linux: yes)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind(("127.255.255.254", 0))
    except OSError as exc:
        return exc.errno != errno.EADDRNOTAVAIL
    finally:
        sock.close()
    return True


def subnet_gateway(ip_range: str) -> str:
    """The gateway of a cloud subnet: its first address (`.1` in a /24). Hetzner reserves it."""
    return str(ipaddress.ip_network(ip_range).network_address + 1)


def next_private_ip(ip_range: str, used: set[str]) -> str | None:
    """The lowest free host address in the subnet, skipping the network address and the gateway."""
    net = ipaddress.ip_network(ip_range)
    start = int(net.network_address) + 2
    end = int(net.broadcast_address)
    for n in range(start, end):
        candidate = str(ipaddress.ip_address(n))
        if candidate not in used:
            return candidate
    return None


def parse_ipv4_network(text: object) -> ipaddress.IPv4Network | None:
    """A strictly written IPv4 CIDR (host bits zero), or None when the text is not one."""
    if not isinstance(text, str) or "/" not in text:
        return None
    try:
        net = ipaddress.ip_network(text, strict=True)
    except ValueError:
        return None
    return net if isinstance(net, ipaddress.IPv4Network) else None
