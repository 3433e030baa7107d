"""PostgreSQL restarting in the middle of a fan-out, seen by a real `govdigest run` process: its connections
drop and new ones are refused for a few seconds (a TCP proxy between the bot and the server, so the shared
test server itself stays up). The bot logs the outage once when it starts and once when it ends, with no
traceback; when the database is back it resumes, and every chat gets every part once, in order.

Skipped without GOVDIGEST_TEST_POSTGRES_URL."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from bot.clock import system_clock
from storage import open_storage
from tests.conftest import postgres_test_url
from tests.e2e.instances import Fleet, fresh_database, seed_fanout, wait_all_done
from tests.e2e.tcp_proxy import TcpProxy
from tests.e2e.test_crash import AnswerDelayEmulator

CHATS = 60
OUTAGE_SECONDS = 3.0


def _at_least(items: list[object], count: int) -> bool:
    return len(items) >= count


@pytest.mark.slow
async def test_a_database_restart_mid_fan_out_loses_nothing_and_is_logged_once(tmp_path: Path) -> None:
    server_url = postgres_test_url()
    server = urlsplit(server_url)
    emulator = AnswerDelayEmulator()
    await emulator.start()
    emulator.answer_delay = 0.05
    proxy = await TcpProxy(server.hostname or "127.0.0.1", server.port or 5432).start()
    try:
        async with fresh_database(server_url) as db_url:
            chat_ids = [7_000_001 + n for n in range(CHATS)]
            expected = await seed_fanout(db_url, chat_ids, 40, emulator, datetime.now(UTC))
            total = sum(len(parts) for parts in expected.values())
            user = f"{server.username}@" if server.username else ""
            through_proxy = urlunsplit(urlsplit(db_url)._replace(netloc=f"{user}127.0.0.1:{proxy.port}"))
            fleet = Fleet(emulator, through_proxy, tmp_path)
            watcher = await open_storage(db_url, clock=system_clock, migrate=False, pool_size=2)
            try:
                await fleet.start()
                sent = emulator.sent_messages
                await emulator.wait_for(partial(_at_least, sent, total // 4), timeout=60)
                await proxy.outage(OUTAGE_SECONDS)
                assert len(sent) < total, "the fan-out finished before the outage"
                counts = await wait_all_done(watcher, CHATS, 120)
            finally:
                await watcher.close()
                codes = await fleet.stop()
            log = fleet.log()
    finally:
        await proxy.stop()
        await emulator.stop()

    assert codes == [0], log[-4000:]
    received = Counter((m.chat_id, m.text) for m in emulator.sent_messages)
    assert [key for key, n in received.items() if n > 1] == []  # no doubles
    for chat_id, parts in expected.items():
        assert [m.text for m in emulator.messages_to(chat_id)] == parts, log[-4000:]  # none lost, in order
    assert (counts.sent, counts.pending, counts.failed) == (CHATS, 0, 0)
    # One line when the outage began and one when it ended; no traceback (not one line per failed query).
    assert log.count("PostgreSQL database unavailable") == 1, log[-4000:]
    assert log.count("PostgreSQL database available again") == 1, log[-4000:]
    assert "Traceback" not in log, log[-4000:]
    assert proxy.outages == 1
    await asyncio.sleep(0)
