"""Public-address checks (SSRF): which addresses the poller may connect to. No test here opens a socket to a
non-loopback address or makes a DNS query: names resolve through StubResolver."""

from __future__ import annotations

import socket
from ipaddress import ip_address

import pytest

from bot.sources.addresses import (
    NotPublicAddressError,
    PublicAddressResolver,
    guarded_socket_factory,
    is_public_address,
    non_public_addresses,
)
from bot.sources.manage import NotPublicUrlError, SourceUrlError, check_public_host, check_url
from tests.bot.sources.stub_resolver import StubResolver


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("95.173.136.70", True),
        ("2a00:1450:4010:c0e::64", True),
        ("127.0.0.1", False),  # loopback
        ("127.8.9.10", False),
        ("10.0.0.5", False),  # private
        ("172.16.0.1", False),
        ("172.31.255.255", False),
        ("172.32.0.1", True),  # just outside 172.16/12
        ("192.168.1.1", False),
        ("169.254.169.254", False),  # link-local: cloud metadata
        ("100.64.0.1", False),  # shared address space (carrier NAT)
        ("0.0.0.0", False),  # unspecified
        ("224.0.0.1", False),  # multicast
        ("239.255.255.250", False),
        ("240.0.0.1", False),  # reserved
        ("255.255.255.255", False),  # broadcast
        ("192.0.2.10", False),  # documentation
        ("::1", False),
        ("::", False),
        ("fe80::1", False),  # link-local
        ("fc00::1", False),  # unique local
        ("fd12:3456::1", False),
        ("ff02::1", False),  # multicast
        ("::ffff:10.0.0.5", False),  # IPv4-mapped: judged as the IPv4 address
        ("::ffff:127.0.0.1", False),
        ("::ffff:95.173.136.70", True),
        ("64:ff9b::a9fe:a9fe", False),  # NAT64 of 169.254.169.254
        ("2002:a00:5::1", False),  # 6to4 of 10.0.0.5
        ("2001:db8::1", False),  # documentation
    ],
)
def test_is_public_address(address: str, public: bool) -> None:
    assert is_public_address(ip_address(address)) is public


def test_error_messages_are_readable() -> None:
    assert str(NotPublicAddressError(["10.0.0.5"])) == "address 10.0.0.5 is not public"
    assert str(NotPublicAddressError(["10.0.0.5"], "10.0.0.5")) == "address 10.0.0.5 is not public"
    assert (
        str(NotPublicAddressError(["10.0.0.5"], "intranet.example"))
        == "address 10.0.0.5 of intranet.example is not public"
    )
    assert (
        str(NotPublicAddressError(["10.0.0.5", "fd00::1"], "intranet.example"))
        == "addresses 10.0.0.5, fd00::1 of intranet.example are not public"
    )


async def test_resolver_keeps_public_answers_and_refuses_when_none_is_left() -> None:
    stub = StubResolver(
        {
            "mixed.example": ["10.0.0.5", "95.173.136.70", "::1"],
            "metadata.example": ["169.254.169.254"],
            "intranet.example": ["10.0.0.5", "fd00::1"],
        }
    )
    resolver = PublicAddressResolver(stub)
    kept = await resolver.resolve("mixed.example", 443, socket.AF_UNSPEC)
    assert [answer["host"] for answer in kept] == ["95.173.136.70"]
    with pytest.raises(NotPublicAddressError, match=r"^address 169\.254\.169\.254 of metadata\.example"):
        await resolver.resolve("metadata.example", 80)
    with pytest.raises(NotPublicAddressError) as error:
        await resolver.resolve("intranet.example", 80)
    assert error.value.addresses == ("10.0.0.5", "fd00::1") and error.value.host == "intranet.example"
    with pytest.raises(OSError, match="unknown host"):  # lookup failures pass through unchanged
        await resolver.resolve("nowhere.example", 80)
    assert stub.lookups == ["mixed.example", "metadata.example", "intranet.example", "nowhere.example"]


def _addr_info(address: str) -> tuple[int, int, int, str, tuple[str, int]]:
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    return (family, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, 80))


@pytest.mark.parametrize("address", ["10.0.0.5", "169.254.169.254", "127.0.0.1", "::1", "fe80::1%1"])
def test_socket_factory_refuses_before_a_socket_exists(address: str, monkeypatch: pytest.MonkeyPatch) -> None:
    opened: list[object] = []
    monkeypatch.setattr(socket, "socket", lambda *args, **kwargs: opened.append((args, kwargs)))
    with pytest.raises(NotPublicAddressError, match="is not public"):
        guarded_socket_factory()(_addr_info(address))
    assert opened == []


def test_socket_factory_creates_a_socket_for_an_allowed_address() -> None:
    allow_loopback = guarded_socket_factory(lambda address: address.is_loopback)
    with allow_loopback(_addr_info("127.0.0.1")) as sock:  # created, never connected
        assert sock.family == socket.AF_INET and sock.type == socket.SOCK_STREAM


async def test_non_public_addresses_for_adding_a_source() -> None:
    stub = StubResolver(
        {
            "intranet.example": ["10.0.0.5", "fd00::1"],
            "mixed.example": ["10.0.0.5", "95.173.136.70"],
            "news.example": ["95.173.136.70"],
        }
    )
    assert await non_public_addresses("intranet.example", 80, stub) == ["10.0.0.5", "fd00::1"]
    assert await non_public_addresses("mixed.example", 80, stub) == []  # one public address is enough
    assert await non_public_addresses("news.example", 80, stub) == []
    # A name that does not resolve now is not refused: the connect-time check still holds.
    assert await non_public_addresses("typo.example", 80, stub) == []
    # IP literals need no lookup.
    assert await non_public_addresses("169.254.169.254", 80, stub) == ["169.254.169.254"]
    assert await non_public_addresses("[::1]", 80, stub) == ["::1"]
    assert await non_public_addresses("95.173.136.70", 80, stub) == []
    assert stub.lookups == ["intranet.example", "mixed.example", "news.example", "typo.example"]


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://intranet.example/rss", "addresses 10.0.0.5, fd00::1 of intranet.example are not public"),
        (
            "https://metadata.example:8443/latest/",
            "address 169.254.169.254 of metadata.example is not public",
        ),
        ("http://169.254.169.254/latest/meta-data/", "address 169.254.169.254 is not public"),
        ("http://[fe80::1]/", "address fe80::1 is not public"),
    ],
)
async def test_check_public_host_refuses(url: str, message: str) -> None:
    stub = StubResolver(
        {"intranet.example": ["10.0.0.5", "fd00::1"], "metadata.example": ["169.254.169.254"]}
    )
    with pytest.raises(NotPublicUrlError) as error:
        await check_public_host(check_url(url), resolver=stub)
    assert error.value.reason == message
    assert isinstance(error.value, SourceUrlError)  # callers that only know SourceUrlError still refuse it
    # The setting turns the check off, without a lookup.
    lookups = len(stub.lookups)
    await check_public_host(url, allow_private=True, resolver=stub)
    assert len(stub.lookups) == lookups


async def test_check_public_host_accepts_public_and_unknown_hosts() -> None:
    stub = StubResolver({"news.example": ["95.173.136.70"]})
    await check_public_host("https://news.example/rss", resolver=stub)
    await check_public_host("https://gone.example/rss", resolver=stub)
    assert stub.lookups == ["news.example", "gone.example"]
