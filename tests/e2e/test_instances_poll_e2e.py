"""The source poller with several instances on one PostgreSQL database: two polling services (each with a
storage of its own, as two processes have) share the `poller` lease, so each due source is fetched once per
interval whichever instance polls; when the polling instance dies, the other takes over at the next interval.
And the database restarting mid poll (a TCP proxy drops the connections): logged once, polled after.

Skipped without GOVDIGEST_TEST_POSTGRES_URL."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
from aiogram import Bot

from bot.clock import FixedClock
from bot.config import Settings
from bot.leases import DutyLease
from bot.sources.records import NewSource, SourceKind
from bot.sources.service import polling_service
from storage.postgres import PostgresStorage
from tests.bot.sources.feed_server import FeedServer
from tests.e2e.tcp_proxy import TcpProxy
from tests.e2e.test_sources_e2e import LIGA, MOS, TUT

T0 = datetime(2025, 11, 2, 9, 0, tzinfo=UTC)  # after every date in the feeds
INTERVAL = timedelta(minutes=15)


@contextlib.asynccontextmanager
async def instance(
    url: str, schema: str, clock: FixedClock, bot: Bot, settings: Settings
) -> AsyncIterator[tuple[PostgresStorage, asyncio.Task[None]]]:
    storage = await PostgresStorage.open(url, clock=clock, schema=schema, pool_size=3)
    task = asyncio.create_task(polling_service(bot, storage, settings, asyncio.Event()))
    try:
        yield storage, task
    finally:
        task.cancel()  # as a process dies: no lease released
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await storage.close()


async def wait_until(condition: Callable[[], bool], within: float = 30.0) -> None:
    """Look every 50 ms until `condition()` holds (the feed server and the services set no event to wait on)."""
    async with asyncio.timeout(within):
        while not condition():  # noqa: ASYNC110 - nothing to wait on but the state of other tasks
            await asyncio.sleep(0.05)


class CountingLease(DutyLease):
    """DutyLease counting its looks at the lease, so the test can wait until a service looked again (and would
    have polled a source a second time if the lease let it) instead of sleeping."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.looks = 0
        LEASES.append(self)

    async def acquire(self, now: datetime | None = None) -> bool:
        self.looks += 1
        return await super().acquire(now)


LEASES: list[CountingLease] = []


async def each_looked_again(leases: list[CountingLease], times: int = 3) -> None:
    leases = list(leases)
    start = [lease.looks for lease in leases]
    await wait_until(lambda: all(lease.looks - s >= times for lease, s in zip(leases, start, strict=True)))


@pytest.mark.slow
async def test_each_due_source_is_polled_once_per_interval_across_instances(
    postgres_schema: tuple[str, str], settings: Settings, bot: Bot, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Seconds instead of minutes between looks, so the test runs in seconds; the lease logic is unchanged.
    monkeypatch.setattr("bot.sources.service.LEASE_RETRY_SECONDS", 0.2)
    monkeypatch.setattr("bot.sources.service.MIN_SLEEP_SECONDS", 0.2)
    monkeypatch.setattr("bot.sources.service.MAX_SLEEP_SECONDS", 0.2)
    monkeypatch.setattr("bot.sources.service.DutyLease", CountingLease)
    LEASES.clear()
    url, schema = postgres_schema
    settings = replace(settings, allow_private_fetch=True, load_default_sources=False)
    clock = FixedClock(T0)
    async with FeedServer() as server:
        feeds = {"/mos": MOS, "/tut": TUT, "/liga": LIGA}
        setup = await PostgresStorage.open(url, clock=clock, schema=schema, pool_size=2)
        try:
            for path, body in feeds.items():
                await setup.sources.add(
                    NewSource(url=server.add(path, body), name=path, kind=SourceKind.RSS), now=T0
                )
        finally:
            await setup.close()

        def polled(times: int) -> bool:
            return all(server.hits[path] >= times for path in feeds)

        async with instance(url, schema, clock, bot, settings) as (first, first_task):
            async with instance(url, schema, clock, bot, settings) as (_, second_task):
                await wait_until(lambda: polled(1) and len(LEASES) == 2)
                await each_looked_again(LEASES)  # both services looked again: nobody polled a source twice
                assert all(server.hits[path] == 1 for path in feeds), server.hits
                lease = await first.outbox.lease("poller")
                assert lease is not None
                # The next interval: the sources are due again; still one fetch each.
                clock.advance(seconds=INTERVAL.total_seconds() + 1)
                await wait_until(lambda: polled(2))
                await each_looked_again(LEASES)
                assert all(server.hits[path] == 2 for path in feeds), server.hits
                holder = await first.outbox.lease("poller")
                assert holder is not None
            # The second instance is gone (killed, its lease left behind); the next interval, the first
            # instance polls after the lease lapsed.
            assert second_task.done()
            clock.advance(seconds=INTERVAL.total_seconds() + 1)
            await wait_until(lambda: polled(3))
            await each_looked_again(LEASES[:1])
            assert all(server.hits[path] == 3 for path in feeds), server.hits
            assert not first_task.done()


@pytest.mark.slow
async def test_a_database_restart_mid_poll_is_logged_once_and_the_sources_are_polled_after(
    postgres_schema: tuple[str, str],
    settings: Settings,
    bot: Bot,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr("bot.sources.service.LEASE_RETRY_SECONDS", 0.2)
    monkeypatch.setattr("bot.sources.service.MIN_SLEEP_SECONDS", 0.2)
    monkeypatch.setattr("bot.sources.service.MAX_SLEEP_SECONDS", 0.2)
    monkeypatch.setattr("bot.sources.service.ERROR_BACKOFF_FIRST_SECONDS", 0.2)
    url, schema = postgres_schema
    server_url = urlsplit(url)
    settings = replace(settings, allow_private_fetch=True, load_default_sources=False)
    clock = FixedClock(T0)
    proxy = await TcpProxy(server_url.hostname or "127.0.0.1", server_url.port or 5432).start()
    user = f"{server_url.username}@" if server_url.username else ""
    through_proxy = urlunsplit(server_url._replace(netloc=f"{user}127.0.0.1:{proxy.port}"))
    try:
        async with FeedServer() as feeds:
            feeds.delay = 0.5  # each feed answers late: the outage comes while the poll is under way
            setup = await PostgresStorage.open(url, clock=clock, schema=schema, pool_size=2)
            try:
                for path, body in {"/mos": MOS, "/tut": TUT, "/liga": LIGA}.items():
                    await setup.sources.add(
                        NewSource(url=feeds.add(path, body), name=path, kind=SourceKind.RSS), now=T0
                    )
                caplog.set_level(logging.INFO)
                async with instance(through_proxy, schema, clock, bot, settings):
                    await wait_until(lambda: feeds.in_flight > 0)
                    await proxy.outage(1.0)

                    # Back: every source gets its poll recorded and its articles stored.
                    async def all_recorded() -> bool:
                        return all(s.last_success_at is not None for s in await setup.sources.list_all())

                    async with asyncio.timeout(30):
                        while not await all_recorded():  # noqa: ASYNC110 - the state is in the database
                            await asyncio.sleep(0.1)
                    stored = (await setup.articles.stats()).articles
                    assert stored > 0
            finally:
                await setup.close()
    finally:
        await proxy.stop()
    messages = [record.getMessage() for record in caplog.records if record.levelno >= logging.WARNING]
    assert sum(m.startswith("PostgreSQL database unavailable") for m in messages) == 1, messages
    assert sum(m.startswith("PostgreSQL database available again") for m in messages) == 1, messages
    assert not [r for r in caplog.records if r.exc_info], "no traceback for an outage"
