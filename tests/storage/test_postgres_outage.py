"""The PostgreSQL server going away and coming back (through a proxy that drops every connection, as a restart
does): statements fail with StorageUnavailable while it is away, work again once it is back, and the outage is
logged once when it starts and once when it ends, not once per failed statement."""

from __future__ import annotations

import asyncio
import logging
from urllib.parse import urlsplit, urlunsplit

import pytest

from bot.clock import FixedClock
from storage import StorageUnavailable
from storage.postgres import PostgresStorage
from tests.conftest import TEST_NOW
from tests.e2e.tcp_proxy import TcpProxy


def through(url: str, proxy: TcpProxy) -> str:
    parts = urlsplit(url)
    user = f"{parts.username}@" if parts.username else ""
    return urlunsplit(parts._replace(netloc=f"{user}127.0.0.1:{proxy.port}"))


async def test_an_outage_is_two_log_lines_and_nothing_breaks_for_good(
    postgres_schema: tuple[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    url, schema = postgres_schema
    server = urlsplit(url)
    proxy = await TcpProxy(server.hostname or "127.0.0.1", server.port or 5432).start()
    storage = await PostgresStorage.open(
        through(url, proxy), clock=FixedClock(TEST_NOW), schema=schema, pool_size=3
    )
    try:
        await storage.chats.upsert(1, type="private")
        caplog.set_level(logging.WARNING, logger="storage.postgres.database")
        outage = asyncio.create_task(proxy.outage(1.0))
        await asyncio.sleep(0)  # the proxy drops its connections
        for _ in range(10):  # ten statements while the server is away: each fails cleanly
            with pytest.raises(StorageUnavailable):
                await storage.chats.get(1)
        await outage
        chat = await storage.chats.get(1)  # back: the pool reconnects
        assert chat is not None and chat.id == 1
        await storage.chats.upsert(2, type="private")
        lines = [record.getMessage() for record in caplog.records]
        assert len(lines) == 2, lines
        assert lines[0].startswith("PostgreSQL database unavailable")
        assert lines[1].startswith("PostgreSQL database available again after")
    finally:
        await storage.close()
        await proxy.stop()
