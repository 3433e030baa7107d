"""Digest delivery while Telegram answers a share of the sends `502 Bad Gateway`: outbox → the delivery's own
session (as the digest service builds it from the bot) → aiogram's real HTTP session → the Bot API emulator
with Telegram's flood limits on. Every chat gets every part of its digest exactly once and in order, each 502
is seen and settled by the deliverer itself (no second retry layer under it), and no 429 is provoked."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from aiogram import Bot

from bot.digest.jobs import create_due_jobs
from bot.digest.pacing import DeliveryConfig
from bot.digest.sender import deliver_ready, delivery_bot
from bot.telegram.session import install_session_middlewares
from storage.sqlite import SqliteStorage
from storage.sqlite.database import Database
from storage.sqlite.outbox import OutboxRepository
from tests.e2e.digest_seed import add_articles, make_articles, subscribe_chats
from tests.emulator import BotAPIEmulator
from tests.emulator.entities import parse_html

NOW = datetime(2026, 11, 26, 6, 0, 5, tzinfo=UTC)  # 09:00 Moscow, a few seconds after the due time
LONG_AGO = NOW - timedelta(days=30)
# Within the emulator's limits but fast; retries enough that a run of 502s on one part never fails its job.
FAST = DeliveryConfig(
    private_interval=0.05, group_interval=0.05, backoff_base=0.01, backoff_max=0.05, transient_retries=10
)
ERROR_PAGE = "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body><center><h1>502 Bad Gateway</h1>"


@pytest.fixture
async def sender(emulator: BotAPIEmulator) -> AsyncIterator[Bot]:
    """The delivery's session, made as digest_service makes it: from the bot with all its middlewares."""
    bot = emulator.make_bot()
    install_session_middlewares(bot, messages_per_second=30.0)
    delivery = delivery_bot(bot)
    try:
        yield delivery
    finally:
        await delivery.session.close()
        await bot.session.close()


@pytest.mark.parametrize("page", [None, ERROR_PAGE], ids=["json", "html-page"])
async def test_with_a_share_of_502s_every_chat_gets_its_digest_once_and_in_order(
    db: Database, emulator: BotAPIEmulator, sender: Bot, page: str | None
) -> None:
    await add_articles(db, make_articles(60, end=NOW))  # 60 items: more than one message per digest
    chats = [*range(501, 541), -5001, -5002]
    await subscribe_chats(db, chats, emulator=emulator, since=LONG_AGO)
    created, _ = await create_due_jobs(SqliteStorage(db), now=NOW)
    assert created == len(chats)
    outbox = OutboxRepository(db)
    expected: dict[int, list[str]] = {}
    for chat_id in chats:
        [job] = await outbox.jobs_for_chat(chat_id)
        expected[chat_id] = [parse_html(p.text).text for p in await outbox.parts(job.id)]
    assert all(len(parts) >= 2 for parts in expected.values())

    fault = emulator.fail_share("sendMessage", 0.2, seed=5, raw_body=page)
    result = await deliver_ready(sender, SqliteStorage(db), FAST, now=NOW)

    total = sum(len(parts) for parts in expected.values())
    assert (result.sent, result.failed, result.messages) == (len(chats), 0, total)
    assert fault.injected >= 10 and result.retried == fault.injected  # every 502 reached the deliverer
    for chat_id, parts in expected.items():
        assert [m.text for m in emulator.messages_to(chat_id)] == parts  # all, once, in order
        [job] = await outbox.jobs_for_chat(chat_id)
        stored = await outbox.parts(job.id)
        assert [p.state for p in stored] == ["sent"] * len(parts)
        assert [p.message_id for p in stored] == [m.message_id for m in emulator.messages_to(chat_id)]
    assert not [n for n in Counter((m.chat_id, m.text) for m in emulator.sent_messages).values() if n > 1]
    assert emulator.flood_events == []
    assert (await outbox.counts()).sent == len(chats)
