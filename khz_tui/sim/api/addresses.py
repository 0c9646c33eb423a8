"""Address allocation: public IPv4 addresses, public IPv6 /64 networks and private IPs in subnets.

Public IPv4 comes from 198.18.0.0/15 (reserved for benchmarking, never routed on the internet) so a
simulated address can never be mistaken for a real machine. The lowest free address is handed out, so
an address released by a delete is reused, as Hetzner eventually does.
"""

from __future__ import annotations

import ipaddress

PUBLIC_V4_POOL = ipaddress.IPv4Network("198.18.0.0/15")
PUBLIC_V6_BASE = ipaddress.IPv6Network("2001:db8::/32")


class PublicAddresses:
    """Hands out and takes back public IPv4 addresses and IPv6 /64 networks."""

    def __init__(self) -> None:
        self._v4_used: set[int] = set()
        self._v6_used: set[int] = set()

    def take_v4(self) -> str:
        """The lowest free public IPv4 address (skips .0 and .255 of every /24 for realism)."""
        base = int(PUBLIC_V4_POOL.network_address)
        n = 1
        while n in self._v4_used or n % 256 in (0, 255):
            n += 1
        if n >= PUBLIC_V4_POOL.num_addresses:
            raise RuntimeError("public IPv4 pool exhausted")
        self._v4_used.add(n)
        return str(ipaddress.IPv4Address(base + n))

    def take_v6(self) -> str:
        """The lowest free /64 network, in the `2001:db8:N::/64` form servers report."""
        n = 1
        while n in self._v6_used:
            n += 1
        self._v6_used.add(n)
        net = ipaddress.IPv6Network((int(PUBLIC_V6_BASE.network_address) + (n << 64), 64))
        return str(net)

    def release(self, address: str | None) -> None:
        """Give an address (IPv4) or network (IPv6 /64) back to the pool."""
        if not address:
            return
        if ":" in address:
            net = ipaddress.IPv6Network(address, strict=False)
            self._v6_used.discard((int(net.network_address) - int(PUBLIC_V6_BASE.network_address)) >> 64)
        else:
            self._v4_used.discard(int(ipaddress.IPv4Address(address)) - int(PUBLIC_V4_POOL.network_address))

    def mark_used(self, address: str | None) -> None:
        """Record an address restored from a saved state."""
        if not address:
            return
        if ":" in address:
            net = ipaddress.IPv6Network(address, strict=False)
            self._v6_used.add((int(net.network_address) - int(PUBLIC_V6_BASE.network_address)) >> 64)
        else:
            self._v4_used.add(int(ipaddress.IPv4Address(address)) - int(PUBLIC_V4_POOL.network_address))


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
