from __future__ import annotations

import asyncio
import socket
from typing import ClassVar

import pytest

from bot.sources.fetch import Fetcher, FetchError, FetchLimits, user_agent
from bot.sources.manage import check_public_host, check_url
from tests.bot.sources.feed_server import QUICK_LIMITS as QUICK
from tests.bot.sources.feed_server import FeedServer
from tests.bot.sources.stub_resolver import StubResolver
from tests.conftest import FIXTURES

MOS = (FIXTURES / "rss" / "mos.ru_news_rss_2022-07-27.xml").read_bytes()


async def test_plain_fetch_sends_an_honest_user_agent(server: FeedServer, fetcher: Fetcher) -> None:
    url = server.add("/rss", MOS)
    result = await fetcher.fetch(url)
    assert result.status == 200 and result.body == MOS and not result.redirected
    assert result.etag and result.last_modified and result.content_type == "application/rss+xml"
    agent = server.requests[0].headers["User-Agent"]
    assert agent == user_agent() and agent.startswith("govdigest/") and "news digest bot" in agent
    async with Fetcher(limits=QUICK, contact="https://gov-digest.example/about") as with_contact:
        await with_contact.fetch(url)
    assert server.requests[1].headers["User-Agent"].endswith("; +https://gov-digest.example/about)")


async def test_conditional_get_gets_304(server: FeedServer, fetcher: Fetcher) -> None:
    url = server.add("/rss", MOS)
    first = await fetcher.fetch(url)
    again = await fetcher.fetch(url, etag=first.etag)
    by_date = await fetcher.fetch(url, last_modified=first.last_modified)
    assert again.not_modified and again.body == b"" and by_date.not_modified
    assert server.requests[1].headers["If-None-Match"] == first.etag


async def test_gzip_is_decoded(server: FeedServer, fetcher: Fetcher) -> None:
    url = server.add("/rss.gz", MOS, gzip=True)
    result = await fetcher.fetch(url)
    assert result.body == MOS
    assert "gzip" in server.requests[0].headers["Accept-Encoding"]


async def test_redirects_are_followed_and_recorded(server: FeedServer, fetcher: Fetcher) -> None:
    target = server.add("/new/rss", MOS)
    server.redirect("/old/rss", "/moved/rss")
    server.redirect("/moved/rss", target)
    result = await fetcher.fetch(server.url("/old/rss"))
    assert result.final_url == target and result.redirected
    assert result.redirects == (server.url("/moved/rss"), target)


async def test_redirect_loop_is_detected(server: FeedServer, fetcher: Fetcher) -> None:
    server.redirect("/a", "/b")
    server.redirect("/b", "/a")
    with pytest.raises(FetchError, match="redirect loop"):
        await fetcher.fetch(server.url("/a"))
    assert server.hits["/a"] == 1 and server.hits["/b"] == 1


async def test_redirect_chains_are_bounded(server: FeedServer, fetcher: Fetcher) -> None:
    for step in range(10):
        server.redirect(f"/r{step}", f"/r{step + 1}")
    with pytest.raises(FetchError, match="too many redirects"):
        await fetcher.fetch(server.url("/r0"))


async def test_endless_response_is_aborted_at_the_size_cap(server: FeedServer, fetcher: Fetcher) -> None:
    with pytest.raises(FetchError, match="too large"):
        await fetcher.fetch(server.url("/endless"))


async def test_trickling_server_is_timed_out(server: FeedServer, fetcher: Fetcher) -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(FetchError, match="timed out"):
        await fetcher.fetch(server.url("/trickle"))
    assert loop.time() - started < QUICK.total_timeout + 3.0  # generous: the machine may be loaded


async def test_http_errors_and_refused_connections_are_readable(server: FeedServer, fetcher: Fetcher) -> None:
    with pytest.raises(FetchError, match="HTTP 404") as error:
        await fetcher.fetch(server.url("/missing"))
    assert error.value.status == 404
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(FetchError, match="cannot connect"):
        await fetcher.fetch(f"http://127.0.0.1:{port}/rss")


async def test_one_request_at_a_time_per_host(server: FeedServer, fetcher: Fetcher) -> None:
    server.delay = 0.02
    urls = [server.add(f"/feed{n}", MOS) for n in range(6)]
    await asyncio.gather(*(fetcher.fetch(url) for url in urls))
    assert server.max_in_flight == 1


async def test_parallel_bound_across_hosts() -> None:
    servers = [await FeedServer(host=f"127.0.0.{n}").start() for n in range(2, 6)]
    try:
        for running in servers:
            running.delay = 0.05
        urls = [running.add(f"/f{n}", MOS) for running in servers for n in range(2)]
        loop = asyncio.get_running_loop()
        started = loop.time()
        async with Fetcher(limits=FetchLimits(max_parallel=2, allow_private_addresses=True)) as client:
            await asyncio.gather(*(client.fetch(url) for url in urls))
        # 8 requests of 50 ms, 2 at a time: at least 4 rounds (unbounded, 2 rounds: per host is serial).
        assert loop.time() - started >= 0.19
        assert all(running.max_in_flight == 1 for running in servers)
        assert sum(running.hits.total() for running in servers) == 8
    finally:
        for running in servers:
            await running.stop()


async def test_unsupported_scheme(fetcher: Fetcher) -> None:
    with pytest.raises(FetchError, match="scheme"):
        await fetcher.fetch("file:///etc/passwd")


# --- public addresses only (SSRF) ------------------------------------------------------------------------------
# Names resolve through StubResolver (no DNS query); a refused address must never get a socket.

_DEFAULT = FetchLimits(total_timeout=1.5, connect_timeout=1.0, read_timeout=1.0)  # public addresses only
_STUB_TABLE = {
    "intranet.example": ["10.0.0.5"],
    "metadata.example": ["169.254.169.254"],
    "both.example": ["fd00::1", "127.0.0.1"],
}


class _NoSocket(socket.socket):
    """Stands in for socket.socket: records the attempt and fails it."""

    opened: ClassVar[list[tuple[object, ...]]] = []

    def __init__(self, *args: object, **kwargs: object) -> None:
        _NoSocket.opened.append((*args, *kwargs.values()))
        raise AssertionError("a socket was opened")


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://intranet.example/rss", "address 10.0.0.5 of intranet.example is not public"),
        (
            "http://metadata.example/latest/meta-data/",
            "address 169.254.169.254 of metadata.example is not public",
        ),
        ("https://both.example/", "addresses 127.0.0.1, fd00::1 of both.example are not public"),
        # IP literals skip the resolver; the socket factory refuses them.
        ("http://169.254.169.254/latest/meta-data/", "address 169.254.169.254 is not public"),
        ("http://10.0.0.5:8080/rss", "address 10.0.0.5 is not public"),
        ("http://[::1]/", "address ::1 is not public"),
        ("http://[::ffff:10.0.0.5]/", "address ::ffff:a00:5 is not public"),
        ("http://0.0.0.0/", "address 0.0.0.0 is not public"),
    ],
)
async def test_non_public_addresses_are_refused_before_any_socket(
    url: str, reason: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _NoSocket.opened = []
    monkeypatch.setattr(socket, "socket", _NoSocket)
    stub = StubResolver(_STUB_TABLE)
    async with Fetcher(limits=_DEFAULT, resolver=stub) as client:
        with pytest.raises(FetchError) as error:
            await client.fetch(url)
    assert error.value.reason == reason and error.value.final_url == url
    assert _NoSocket.opened == []


async def test_the_default_fetcher_refuses_loopback(server: FeedServer) -> None:
    url = server.add("/rss", MOS)
    async with Fetcher(limits=_DEFAULT) as client:
        with pytest.raises(FetchError, match=r"^address 127\.0\.0\.1 is not public$"):
            await client.fetch(url)
    assert server.hits.total() == 0
    async with Fetcher(limits=QUICK) as allowed:  # allow_private_addresses: the tests' own servers
        assert (await allowed.fetch(url)).body == MOS


async def test_redirects_into_the_private_network_are_refused(server: FeedServer) -> None:
    async with FeedServer(host="127.0.0.2") as inside:
        secret = inside.add("/secret", b"internal data")
        server.redirect("/to-loopback", secret)
        server.redirect("/to-metadata", "http://metadata.example/latest/meta-data/")
        # Only the first server's address counts as public here: it plays a public site.
        async with Fetcher(
            limits=_DEFAULT,
            resolver=StubResolver(_STUB_TABLE),
            address_allowed=lambda address: str(address) == "127.0.0.1",
        ) as client:
            with pytest.raises(FetchError, match=r"^address 127\.0\.0\.2 is not public$") as error:
                await client.fetch(server.url("/to-loopback"))
            assert error.value.final_url == secret
            with pytest.raises(FetchError, match=r"169\.254\.169\.254 of metadata\.example is not public"):
                await client.fetch(server.url("/to-metadata"))
        assert server.hits["/to-loopback"] == 1 and inside.hits.total() == 0


async def test_a_name_that_re_resolves_to_a_private_address_is_refused_at_connect_time() -> None:
    """DNS rebinding: public when the admin added it, private when the poller connects."""
    stub = StubResolver({"news.example": ["95.173.136.70"]})
    url = check_url("http://news.example/rss")
    await check_public_host(url, resolver=stub)  # accepted: the name had a public address
    stub.table["news.example"] = ["10.0.0.5"]
    async with Fetcher(limits=_DEFAULT, resolver=stub) as client:
        with pytest.raises(FetchError, match=r"address 10\.0\.0\.5 of news\.example is not public"):
            await client.fetch(url)
    assert stub.lookups == ["news.example", "news.example"]
