"""Which addresses the poller may connect to: public ones only (no SSRF into the bot's own network).

A source URL, a redirect target, a feed item's link or a news-list link is chosen by whoever runs the site (or
the admin who typed it), and what the poller fetches ends up in the archive, searchable by anyone. So the
fetcher never connects to loopback, private, link-local (169.254.169.254: cloud metadata), multicast, reserved
or unspecified addresses. The check is on the resolved addresses at connect time, twice:

- `PublicAddressResolver` drops non-public answers of a DNS lookup (every lookup, so a name that re-resolves
  to a private address later, DNS rebinding, is caught as well) and fails when none is left;
- `guarded_socket_factory` refuses, before a socket exists, any address aiohttp is about to connect to; this
  also covers IP literals in URLs, for which aiohttp skips the resolver.

`SOURCES_ALLOW_PRIVATE_ADDRESSES` (bot/config.py) turns all of this off, for tests and local deployments.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable, Sequence
from ipaddress import IPv4Address, IPv6Address, IPv6Network, ip_address

from aiohttp import DefaultResolver
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.connector import AddrInfoType, SocketFactoryType

IPAddress = IPv4Address | IPv6Address
AddressCheck = Callable[[IPAddress], bool]

# IPv6 forms that carry an IPv4 address a gateway would reach (RFC 6052 NAT64 well-known prefix).
_NAT64 = IPv6Network("64:ff9b::/96")
# A lookup for the add-time check does not keep an admin waiting longer than this (then the URL is accepted:
# the connect-time check still holds).
LOOKUP_TIMEOUT_SECONDS = 5.0


class NotPublicAddressError(OSError):
    """A connection refused because the address is not public; the message is what the source's health shows."""

    def __init__(self, addresses: Sequence[str], host: str | None = None) -> None:
        self.addresses = tuple(addresses)
        self.host = host
        listed = ", ".join(self.addresses)
        of_host = f" of {host}" if host and host not in self.addresses else ""
        if len(self.addresses) == 1:
            message = f"address {listed}{of_host} is not public"
        else:
            message = f"addresses {listed}{of_host} are not public"
        super().__init__(message)

    def __str__(self) -> str:
        return str(self.args[0])


def _embedded_ipv4(address: IPv6Address) -> IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64:
        return IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def is_public_address(address: IPAddress) -> bool:
    """A globally routable unicast address (IPv4 inside IPv6 judged as the IPv4 address it carries)."""
    if isinstance(address, IPv6Address):
        inner = _embedded_ipv4(address)
        if inner is not None:
            return is_public_address(inner)
    # is_global is False for private, loopback, link-local, unspecified, shared (100.64/10), documentation
    # and most reserved ranges; multicast is "global" to it, and some reserved blocks too.
    return address.is_global and not address.is_multicast and not address.is_reserved


def parse_address(text: str) -> IPAddress | None:
    """The IP address in `text` (an IPv6 zone suffix allowed), or None when it is a name."""
    try:
        return ip_address(text.split("%", 1)[0])
    except ValueError:
        return None


def refused(addresses: Sequence[str], allowed: AddressCheck = is_public_address) -> list[str]:
    """The addresses among `addresses` that `allowed` refuses (unparsable ones are refused too)."""
    bad = []
    for text in addresses:
        address = parse_address(text)
        if address is None or not allowed(address):
            bad.append(text)
    return bad


class PublicAddressResolver(AbstractResolver):
    """A resolver that answers only with allowed (by default public) addresses; none left → NotPublicAddressError."""

    def __init__(
        self, inner: AbstractResolver | None = None, allowed: AddressCheck = is_public_address
    ) -> None:
        self._inner = inner
        self._owns_inner = inner is None
        self._allowed = allowed

    def _resolver(self) -> AbstractResolver:
        if self._inner is None:  # created lazily: aiohttp's resolvers want a running loop
            self._inner = DefaultResolver()
        return self._inner

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        answers = await self._resolver().resolve(host, port, family)
        bad = set(refused([answer["host"] for answer in answers], self._allowed))
        kept = [answer for answer in answers if answer["host"] not in bad]
        if not kept:
            raise NotPublicAddressError(sorted({answer["host"] for answer in answers}), host)
        return kept

    async def close(self) -> None:
        if self._owns_inner and self._inner is not None:
            await self._inner.close()


def guarded_socket_factory(allowed: AddressCheck = is_public_address) -> SocketFactoryType:
    """aiohttp's `socket_factory`: a socket for an allowed address; NotPublicAddressError, with no socket
    created, for any other."""

    def create(addr_info: AddrInfoType) -> socket.socket:
        family, kind, proto, _, sockaddr = addr_info
        host = str(sockaddr[0])
        if refused([host], allowed):
            raise NotPublicAddressError([host])
        return socket.socket(family=family, type=kind, proto=proto)

    return create


async def non_public_addresses(
    host: str, port: int, resolver: AbstractResolver | None = None, allowed: AddressCheck = is_public_address
) -> list[str]:
    """For adding a source: the addresses of `host` when every one is refused, else [] (also when the name
    does not resolve now: a host that is down may come back, and the connect-time check still holds)."""
    literal = parse_address(host.strip("[]"))
    if literal is not None:
        return [] if allowed(literal) else [str(literal)]
    lookup = resolver or DefaultResolver()
    try:
        async with asyncio.timeout(LOOKUP_TIMEOUT_SECONDS):
            answers = await lookup.resolve(host, port, socket.AF_UNSPEC)
    except (OSError, TimeoutError):
        return []
    finally:
        if resolver is None:
            await lookup.close()
    addresses = sorted({answer["host"] for answer in answers})
    return addresses if addresses and len(refused(addresses, allowed)) == len(addresses) else []
