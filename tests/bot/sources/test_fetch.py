from __future__ import annotations

import asyncio
import socket

import pytest

from bot.sources.fetch import Fetcher, FetchError, FetchLimits, user_agent
from tests.bot.sources.feed_server import QUICK_LIMITS as QUICK
from tests.bot.sources.feed_server import FeedServer
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
        async with Fetcher(limits=FetchLimits(max_parallel=2)) as client:
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
