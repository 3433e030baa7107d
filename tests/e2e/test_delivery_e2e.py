"""Digest delivery end to end: outbox → aiogram's real HTTP session → the Bot API emulator with Telegram's flood
limits on. 429 storms, 5xx and dropped connections, 403, group → supergroup migration, catch-up after downtime,
two timezones across a DST change, the 4096 boundary and the "next page" button."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import itertools
import json
import os
import socket
import subprocess
import sys
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, time, timedelta
from typing import Any

import pytest
import time_machine
from aiogram import Bot

from bot.chats.records import Chat, Subscription
from bot.config import Settings
from bot.digest.compose import ComposedDigest, DigestComposer
from bot.digest.jobs import create_due_jobs
from bot.digest.on_demand import digest_page, preview_digest
from bot.digest.pacing import DeliveryConfig
from bot.digest.sender import deliver_ready
from bot.digest.service import digest_service, run_due
from bot.leases import holder_alive
from bot.telegram.callbacks import DigestPage
from bot.telegram.html_split import visible_length
from storage.sqlite import SqliteStorage
from storage.sqlite.chats import ChatRepository
from storage.sqlite.database import Database
from storage.sqlite.outbox import OutboxRepository
from storage.sqlite.subscriptions import SubscriptionRepository
from tests.e2e.digest_seed import add_articles, make_articles, subscribe_chats
from tests.emulator import BotAPIEmulator, FloodLimits
from tests.emulator.entities import parse_html

# 09:00 Moscow on 2026-11-26, a few seconds after the due time.
NOW = datetime(2026, 11, 26, 6, 0, 5, tzinfo=UTC)
LONG_AGO = NOW - timedelta(days=30)
# Within the emulator's limits (private: bursts of 5 then 1/s; groups: bursts of 20) but fast.
FAST = DeliveryConfig(private_interval=0.05, group_interval=0.05, backoff_base=0.01, backoff_max=0.05)


@pytest.fixture
async def sender(emulator: BotAPIEmulator) -> AsyncIterator[Bot]:
    """A plain Bot on aiogram's HTTP session (no retry/pacing middlewares: the deliverer does that)."""
    bot = emulator.make_bot()
    try:
        yield bot
    finally:
        await bot.session.close()


def texts_to(emulator: BotAPIEmulator, chat_id: int) -> list[str]:
    return [m.text for m in emulator.messages_to(chat_id)]


def assert_no_doubles(emulator: BotAPIEmulator) -> None:
    counts = Counter((m.chat_id, m.text) for m in emulator.sent_messages)
    doubled = {key: n for key, n in counts.items() if n > 1}
    assert not doubled


async def test_fan_out_sends_every_part_in_order_and_records_message_ids(
    db: Database, emulator: BotAPIEmulator, sender: Bot
) -> None:
    await add_articles(db, make_articles(60, end=NOW))
    await subscribe_chats(db, [101, 102, -500], emulator=emulator, since=LONG_AGO)
    created, _ = await create_due_jobs(SqliteStorage(db), now=NOW)
    assert created == 3
    assert await create_due_jobs(SqliteStorage(db), now=NOW) == (
        0,
        NOW + timedelta(days=1) - timedelta(seconds=5),
    )
    result = await deliver_ready(sender, SqliteStorage(db), FAST)
    assert (result.jobs, result.sent, result.failed) == (3, 3, 0)
    outbox = OutboxRepository(db)
    for job in await outbox.jobs_for_chat(101):
        parts = await outbox.parts(job.id)
        sent = emulator.messages_to(101)
        assert len(parts) == len(sent) >= 2  # 60 items do not fit one message
        assert [p.message_id for p in parts] == [m.message_id for m in sent]
        assert [m.text for m in sent] == [parse_html(p.text).text for p in parts]
        assert all(m.parse_mode == "HTML" for m in sent)
    assert texts_to(emulator, 101) == texts_to(emulator, -500)
    assert not emulator.flood_events
    assert_no_doubles(emulator)
    assert (await outbox.counts()).sent == 3


async def test_429_storm_waits_for_that_chat_and_loses_nothing(
    db: Database, emulator: BotAPIEmulator, sender: Bot
) -> None:
    # A pace the emulator refuses (10/s into a private chat allowing bursts of 2 then 5/s): real 429s.
    emulator.set_flood_limits(FloodLimits(private_per_second=5.0, private_burst=2))
    await add_articles(db, make_articles(80, end=NOW))
    await subscribe_chats(db, [201, 202], emulator=emulator, since=LONG_AGO)
    await create_due_jobs(SqliteStorage(db), now=NOW)
    config = DeliveryConfig(private_interval=0.05)
    result = await deliver_ready(sender, SqliteStorage(db), config)
    assert result.sent == 2 and result.failed == 0
    assert result.rate_limited >= 1 and result.rate_limited == len(emulator.flood_events)
    outbox = OutboxRepository(db)
    for chat_id in (201, 202):
        [job] = await outbox.jobs_for_chat(chat_id)
        parts = await outbox.parts(job.id)
        assert [parse_html(p.text).text for p in parts] == texts_to(emulator, chat_id)
    assert_no_doubles(emulator)


async def test_injected_429_with_retry_after_is_honoured(
    db: Database, emulator: BotAPIEmulator, sender: Bot
) -> None:
    await add_articles(db, make_articles(3, end=NOW))
    await subscribe_chats(db, [211], emulator=emulator, since=LONG_AGO)
    await create_due_jobs(SqliteStorage(db), now=NOW)
    emulator.fail_next("sendMessage", retry_after=1, chat_id=211)
    result = await deliver_ready(sender, SqliteStorage(db), FAST)
    assert (result.sent, result.rate_limited) == (1, 1)
    requests = [r for r in emulator.requests_for("sendMessage") if r.params.get("chat_id") == 211]
    assert len(requests) == 2 and requests[1].time - requests[0].time >= 0.95
    assert len(texts_to(emulator, 211)) == 1


async def test_5xx_and_dropped_connections_are_retried_with_backoff(
    db: Database, emulator: BotAPIEmulator, sender: Bot
) -> None:
    await add_articles(db, make_articles(5, end=NOW))
    await subscribe_chats(db, [301, 302, 303], emulator=emulator, since=LONG_AGO)
    await create_due_jobs(SqliteStorage(db), now=NOW)
    emulator.fail_next(
        "sendMessage", error_code=502, raw_body="<html>Bad Gateway</html>", chat_id=301, times=2
    )
    emulator.fail_next("sendMessage", error_code=500, chat_id=302, times=1)
    emulator.drop_connection("sendMessage", chat_id=303, times=2)
    result = await deliver_ready(sender, SqliteStorage(db), FAST)
    assert (result.sent, result.failed, result.retried) == (3, 0, 5)
    for chat_id in (301, 302, 303):
        assert len(texts_to(emulator, chat_id)) == 1
    assert_no_doubles(emulator)


async def test_retries_run_out_then_the_job_waits_for_the_next_cycle(
    db: Database, emulator: BotAPIEmulator, sender: Bot
) -> None:
    await add_articles(db, make_articles(5, end=NOW))
    await subscribe_chats(db, [311, 312], emulator=emulator, since=LONG_AGO)
    await create_due_jobs(SqliteStorage(db), now=NOW)
    emulator.fail_next("sendMessage", error_code=500, chat_id=311, times=100)
    result = await deliver_ready(sender, SqliteStorage(db), FAST)
    assert (result.sent, result.failed) == (1, 1)
    outbox = OutboxRepository(db)
    counts = await outbox.counts()
    assert (counts.sent, counts.failed) == (1, 1)
    [job] = await outbox.jobs_for_chat(311)
    assert job.state == "failed" and "Internal Server Error" in (job.last_error or "")
    assert len([r for r in emulator.requests_for("sendMessage") if r.params.get("chat_id") == 311]) == 5
    emulator.clear_faults()
    assert (await deliver_ready(sender, SqliteStorage(db), FAST)).jobs == 0  # not before the next cycle
    later = db.clock() + timedelta(seconds=FAST.failed_retry_delay + 1)
    again = await deliver_ready(sender, SqliteStorage(db), FAST, now=later)
    assert (again.sent, again.failed) == (1, 0)
    assert len(texts_to(emulator, 311)) == 1
    assert (await outbox.counts()).failed == 0


@pytest.mark.parametrize("how", ["blocked", "kicked", "deactivated"])
async def test_403_makes_the_chat_inactive_and_keeps_subscriptions(
    db: Database, emulator: BotAPIEmulator, sender: Bot, how: str
) -> None:
    chat_id = -401 if how == "kicked" else 401
    await add_articles(db, make_articles(3, end=NOW))
    await subscribe_chats(db, [chat_id, 402], emulator=emulator, since=LONG_AGO, notify_empty=True)
    {
        "blocked": emulator.block_chat,
        "kicked": emulator.kick_from_chat,
        "deactivated": emulator.deactivate_user,
    }[how](chat_id)
    await create_due_jobs(SqliteStorage(db), now=NOW)
    result = await deliver_ready(sender, SqliteStorage(db), FAST)
    assert (result.sent, result.inactive) == (1, 1)
    chat = await ChatRepository(db).get(chat_id)
    assert chat is not None and not chat.active and "403" in (chat.inactive_reason or "")
    assert await SubscriptionRepository(db).is_subscribed(chat_id)
    assert (await OutboxRepository(db).counts()).inactive == 1
    # The next day: no job for the inactive chat.
    created, _ = await create_due_jobs(SqliteStorage(db), now=NOW + timedelta(days=1))
    assert created == 1
    # Back (e.g. /start): digests resume.
    await ChatRepository(db).reactivate(chat_id)
    created, _ = await create_due_jobs(SqliteStorage(db), now=NOW + timedelta(days=1))
    assert created == 1


async def test_group_migrated_to_supergroup_is_rewritten_and_retried(
    db: Database, emulator: BotAPIEmulator, sender: Bot
) -> None:
    await add_articles(db, make_articles(30, end=NOW, lead_words=100))
    await subscribe_chats(db, [-501], emulator=emulator, since=LONG_AGO)
    await SubscriptionRepository(db).add_query(-501, "комиссии")
    await create_due_jobs(SqliteStorage(db), now=NOW)
    emulator.migrate_chat(-501, -100501)
    result = await deliver_ready(sender, SqliteStorage(db), FAST)
    assert (result.sent, result.migrated) == (1, 1)
    chats = ChatRepository(db)
    assert await chats.get(-501) is None
    moved = await chats.get(-100501)
    assert moved is not None and moved.type == "supergroup"
    assert [q.text for q in await SubscriptionRepository(db).list_queries(-100501)] == ["комиссии"]
    [job] = await OutboxRepository(db).jobs_for_chat(-100501)
    parts = await OutboxRepository(db).parts(job.id)
    assert len(parts) >= 2
    assert texts_to(emulator, -100501) == [parse_html(p.text).text for p in parts]
    assert texts_to(emulator, -501) == []


async def test_catch_up_after_downtime_sends_one_digest(
    db: Database, emulator: BotAPIEmulator, sender: Bot
) -> None:
    last = NOW - timedelta(days=3)  # the last digest went out three days ago; the bot was down since
    await add_articles(db, make_articles(12, end=NOW, span=timedelta(days=4)))
    await subscribe_chats(db, [601], emulator=emulator, since=LONG_AGO, last_period_end=last)
    later = NOW + timedelta(hours=5)  # back at 14:00 Moscow
    created, _ = await create_due_jobs(SqliteStorage(db), now=later)
    assert created == 1
    assert (await create_due_jobs(SqliteStorage(db), now=later))[0] == 0
    [job] = await OutboxRepository(db).jobs_for_chat(601)
    assert (job.period_start, job.period_end) == (last, NOW - timedelta(seconds=5))
    result = await deliver_ready(sender, SqliteStorage(db), FAST, now=later)
    assert result.sent == 1
    [message] = texts_to(emulator, 601)
    assert "23.11–26.11.2026" in message and "9 материалов" in message  # three days' news, once


async def test_two_timezones_across_a_dst_change(db: Database, emulator: BotAPIEmulator, sender: Bot) -> None:
    # New York springs forward on 2026-03-08: 09:00 there is 14:00 UTC before, 13:00 UTC after.
    start = datetime(2026, 3, 5, 0, 0, tzinfo=UTC)
    await subscribe_chats(
        db, [701], emulator=emulator, timezone="America/New_York", notify_empty=True, since=start
    )
    await subscribe_chats(db, [702], emulator=emulator, timezone="Europe/Moscow", at=time(8, 30), since=start)
    await ChatRepository(db).set_notify_empty(702, True)
    moment = start
    while moment < datetime(2026, 3, 11, tzinfo=UTC):
        await create_due_jobs(SqliteStorage(db), now=moment)
        await deliver_ready(sender, SqliteStorage(db), FAST, now=moment)
        moment += timedelta(minutes=30)
    outbox = OutboxRepository(db)
    new_york = sorted(j.period_end for j in await outbox.jobs_for_chat(701) if j.period_end)
    moscow = sorted(j.period_end for j in await outbox.jobs_for_chat(702) if j.period_end)
    assert [(p.day, p.hour) for p in new_york] == [(5, 14), (6, 14), (7, 14), (8, 13), (9, 13), (10, 13)]
    assert [(p.day, p.hour, p.minute) for p in moscow] == [(d, 5, 30) for d in range(5, 11)]
    assert len(texts_to(emulator, 701)) == 6 and len(texts_to(emulator, 702)) == 6
    assert all("Ничего нового" in t for t in texts_to(emulator, 701))


async def test_capped_digest_has_a_more_button_that_pages(
    db: Database, emulator: BotAPIEmulator, sender: Bot
) -> None:
    await add_articles(db, make_articles(12, end=NOW))
    await subscribe_chats(db, [801], emulator=emulator, since=LONG_AGO, max_items=5)
    await create_due_jobs(SqliteStorage(db), now=NOW)
    await deliver_ready(sender, SqliteStorage(db), FAST)
    [message] = emulator.messages_to(801)
    assert "И ещё 7 материалов" in message.text
    [button] = message.buttons
    data = DigestPage.unpack(button["callback_data"])
    [job] = await OutboxRepository(db).jobs_for_chat(801)
    assert (data.job, data.page) == (job.id, 1)
    second = await digest_page(SqliteStorage(db), data.job, data.page, chat_id=801)
    assert len(second) == 1 and "И ещё 2 материала" in second[0].text and second[0].reply_markup
    third = await digest_page(SqliteStorage(db), data.job, 2, chat_id=801)
    assert third[0].reply_markup is None and "И ещё" not in third[0].text
    # pages never repeat an item
    shown = [parse_html(message.text).text, parse_html(second[0].text).text, parse_html(third[0].text).text]
    numbers = [line for text in shown for line in text.splitlines() if "№" in line]
    assert len(numbers) == len(set(numbers)) == 12
    assert "больше недоступен" in (await digest_page(SqliteStorage(db), data.job, 1, chat_id=999))[0].text


async def test_preview_does_not_touch_schedule_or_outbox(db: Database, emulator: BotAPIEmulator) -> None:
    await add_articles(db, make_articles(4, end=NOW))
    await subscribe_chats(db, [901], emulator=emulator, since=LONG_AGO, max_items=2)
    parts = await preview_digest(SqliteStorage(db), 901, now=NOW)
    assert len(parts) == 1 and parts[0].reply_markup is not None
    assert '"dg:0:1:' in parts[0].reply_markup
    chat = await ChatRepository(db).get(901)
    assert chat is not None and chat.last_period_end is None
    assert (await OutboxRepository(db).counts()).total == 0
    await SubscriptionRepository(db).unsubscribe_all(901)
    await SubscriptionRepository(db).add_query(901, "несуществующееслово")
    [nothing] = await preview_digest(SqliteStorage(db), 901, now=NOW)
    assert "Ничего нового" in nothing.text


async def test_digest_at_the_4096_boundary_is_accepted_by_telegram(
    db: Database, emulator: BotAPIEmulator, sender: Bot
) -> None:
    # Long leads and emoji titles (2 UTF-16 units each): many parts, every one at most 4096 after parsing.
    articles = make_articles(70, end=NOW, lead_words=40, title_prefix="Комиссия 🇷🇺 & <партнёры>")
    await add_articles(db, articles)
    await subscribe_chats(db, [-1001], emulator=emulator, since=LONG_AGO)
    await create_due_jobs(SqliteStorage(db), now=NOW)
    result = await deliver_ready(sender, SqliteStorage(db), FAST)
    assert result.sent == 1 and result.failed == 0
    messages = emulator.messages_to(-1001)
    assert len(messages) >= 3
    parts = await OutboxRepository(db).parts((await OutboxRepository(db).jobs_for_chat(-1001))[0].id)
    assert max(visible_length(p.text) for p in parts) > 3500  # parts are filled up to near the limit
    for message in messages:
        assert len(message.text.encode("utf-16-le")) // 2 <= 4096
    joined = "\n".join(m.text for m in messages)
    for article in articles:
        assert joined.count(article.title) == 1


async def test_broadcast_goes_through_the_same_outbox(
    db: Database, emulator: BotAPIEmulator, sender: Bot
) -> None:
    await subscribe_chats(db, [1101, 1102, -1103], emulator=emulator, since=LONG_AGO)
    chats = [c.id for c in await ChatRepository(db).subscribed()]
    await OutboxRepository(db).create_broadcast("<b>Важно</b>: обновление", created_by=1000, chat_ids=chats)
    result = await deliver_ready(sender, SqliteStorage(db), FAST, kind="broadcast")
    assert result.sent == 3
    assert all(texts_to(emulator, c) == ["Важно: обновление"] for c in chats)
    last = await OutboxRepository(db).last_fanout()
    assert last is not None and (last.kind, last.sent, last.messages) == ("broadcast", 3, 3)


async def test_run_due_recovers_an_interrupted_job_without_resending(
    db: Database, emulator: BotAPIEmulator, sender: Bot
) -> None:
    await add_articles(db, make_articles(40, end=NOW, lead_words=60))
    await subscribe_chats(db, [1201], emulator=emulator, since=LONG_AGO)
    await create_due_jobs(SqliteStorage(db), now=NOW)
    outbox = OutboxRepository(db)
    [job] = await outbox.jobs_for_chat(1201)
    parts = await outbox.parts(job.id)
    assert len(parts) >= 3
    # A previous process sent part 0 and died with part 1 in flight (Telegram took it).
    first = await sender.send_message(1201, parts[0].text)
    await outbox.begin_job(job.id)
    await outbox.mark_part_sending(job.id, 0)
    await outbox.mark_part_sent(job.id, 0, first.message_id)
    await outbox.mark_part_sending(job.id, 1)
    await sender.send_message(1201, parts[1].text)
    result = await run_due(sender, SqliteStorage(db), FAST, now=NOW)
    assert result.sent == 1
    assert texts_to(emulator, 1201) == [parse_html(p.text).text for p in parts]
    counts = await outbox.counts()
    assert (counts.parts_uncertain, counts.sent) == (1, 1)


async def test_digest_service_delivers_wakes_for_broadcasts_and_stops_promptly(
    db: Database, emulator: BotAPIEmulator, sender: Bot, settings: Settings
) -> None:
    now = db.clock()
    await subscribe_chats(
        db, [1301, 1302], emulator=emulator, since=now - timedelta(days=10), notify_empty=True
    )
    stop = asyncio.Event()
    service = asyncio.create_task(digest_service(sender, SqliteStorage(db), settings, stop))
    try:
        for chat_id in (1301, 1302):
            [message] = await emulator.wait_for_messages(chat_id, 1, timeout=10)
            assert "Ничего нового" in message.text
        await OutboxRepository(db).create_broadcast("Новость", created_by=1000, chat_ids=[1301, 1302])
        await emulator.wait_for_messages(1301, 2, timeout=10)
        await emulator.wait_for_messages(1302, 2, timeout=10)
    finally:
        stop.set()
        await asyncio.wait_for(service, timeout=5)
    assert [m.text for m in emulator.messages_to(1301)][1:] == ["Новость"]


async def test_run_due_stands_aside_while_another_live_process_delivers(
    db: Database, emulator: BotAPIEmulator, sender: Bot
) -> None:
    await add_articles(db, make_articles(3, end=NOW))
    await subscribe_chats(db, [1401], emulator=emulator, since=LONG_AGO)
    outbox = OutboxRepository(db)
    here = socket.gethostname()
    # A live holder (this very process, another service instance): run-due does nothing.
    live = f"{here}:{os.getpid()}:other"
    await outbox.take_lease(live, expires_at=db.clock() + timedelta(minutes=2), expected=None)
    result = await run_due(sender, SqliteStorage(db), FAST, now=NOW)
    assert result.errors and live in result.errors[0]
    assert texts_to(emulator, 1401) == [] and (await outbox.counts()).total == 0
    assert holder_alive(live)
    # The holder was killed (its pid is gone): taken over at once, delivered, released.
    dead = f"{here}:{_dead_pid()}:gone"
    assert not holder_alive(dead)
    await db.execute("UPDATE leases SET holder = ? WHERE name = 'delivery'", (dead,))
    result = await run_due(sender, SqliteStorage(db), FAST, now=NOW)
    assert (result.errors, result.sent) == ([], 1)
    assert await outbox.lease() is None
    # Another host's holder counts as alive until its lease lapses.
    assert holder_alive("elsewhere.example:1:x")


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


async def test_cli_run_due_status_and_preview(
    emulator: BotAPIEmulator,
    settings: Settings,
    capsys: pytest.CaptureFixture[str],
    time_machine: time_machine.TimeMachineFixture,
) -> None:
    from bot.cli import digest as cli

    # The commands read the wall clock (an operator's "now"); the data is fixed in time, so the clock is too.
    time_machine.move_to(NOW, tick=True)

    settings = dataclasses.replace(settings, telegram_api_url=emulator.base_url)
    async with await Database.connect(settings.database_path) as db:
        await add_articles(db, make_articles(30, end=NOW))
        await subscribe_chats(db, [1501, 1502], emulator=emulator, since=LONG_AGO, max_items=5)
    emulator.block_chat(1502)
    assert await cli.preview_command(argparse.Namespace(chat_id=1501), settings) == 0
    out = capsys.readouterr().out
    assert "--- message 1 (" in out and "И ещё" in out
    assert await cli.preview_command(argparse.Namespace(chat_id=4242), settings) == 1
    capsys.readouterr()
    assert await cli.run_due_command(argparse.Namespace(), settings) == 0
    out = capsys.readouterr().out
    assert "jobs: 2, sent: 1, messages: 1" in out and "inactive chats: 1" in out
    assert len(texts_to(emulator, 1501)) == 1
    assert await cli.status_command(argparse.Namespace(json=False), settings) == 0
    out = capsys.readouterr().out
    assert "pending: 0\nsent: 1\nfailed: 0\ninactive: 1\n" in out and "last fan-out (digest)" in out
    assert await cli.status_command(argparse.Namespace(json=True), settings) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["jobs"] == {"pending": 0, "sent": 1, "failed": 0, "inactive": 1}
    assert data["chats"]["inactive"] == 1 and data["last_fanout"]["messages"] == 1


async def test_one_chat_failing_to_compose_does_not_hold_up_the_others(db: Database) -> None:
    class Flaky(DigestComposer):
        async def compose(self, chat: Chat, subscription: Subscription, **kwargs: Any) -> ComposedDigest:
            if chat.id == 1601:
                raise RuntimeError("archive trouble")
            return await super().compose(chat, subscription, **kwargs)

    await add_articles(db, make_articles(3, end=NOW))
    await subscribe_chats(db, [1601, 1602], since=LONG_AGO)
    created, _ = await create_due_jobs(SqliteStorage(db), now=NOW, composer=Flaky(SqliteStorage(db)))
    assert created == 1
    assert await OutboxRepository(db).jobs_for_chat(1601) == []
    assert (await ChatRepository(db).get(1601)).last_period_end is None  # type: ignore[union-attr]
    assert (await create_due_jobs(SqliteStorage(db), now=NOW))[0] == 1  # retried on the next cycle


async def test_stop_interrupts_a_long_429_wait(db: Database, emulator: BotAPIEmulator, sender: Bot) -> None:
    await add_articles(db, make_articles(3, end=NOW))
    await subscribe_chats(db, [1701], emulator=emulator, since=LONG_AGO)
    await create_due_jobs(SqliteStorage(db), now=NOW)
    emulator.fail_next("sendMessage", retry_after=60, chat_id=1701)
    stop = asyncio.Event()
    delivery = asyncio.create_task(deliver_ready(sender, SqliteStorage(db), FAST, stop=stop))
    await emulator.wait_for_request("sendMessage", 1)
    await asyncio.sleep(0.2)
    stop.set()
    result = await asyncio.wait_for(delivery, timeout=3)
    assert (result.sent, result.failed, result.rate_limited) == (0, 0, 1)
    [job] = await OutboxRepository(db).jobs_for_chat(1701)
    assert job.state == "pending" and texts_to(emulator, 1701) == []


async def test_pacing_20_per_minute_in_groups_1_per_second_in_private_chats_30_overall() -> None:
    from bot.digest.pacing import _Pacing

    clock = [0.0]

    async def fake_sleep(seconds: float) -> None:
        clock[0] += seconds

    pacing = _Pacing(DeliveryConfig(), sleep=fake_sleep, clock=lambda: clock[0])
    sent: dict[int, list[float]] = {}
    overall: list[float] = []
    for _ in range(4):
        for chat_id in (-100, 7, *range(1000, 1040)):
            await pacing.wait(chat_id)
            sent.setdefault(chat_id, []).append(clock[0])
            overall.append(clock[0])
    gaps = {chat: [b - a for a, b in itertools.pairwise(times)] for chat, times in sent.items()}
    assert min(gaps[-100]) >= 3.0 - 1e-9  # 20 per minute in a group
    assert min(gaps[7]) >= 1.0 - 1e-9  # one per second in a private chat
    assert min(b - a for a, b in itertools.pairwise(overall)) >= 1 / 30 - 1e-9


# --- one story carried by several sources -----------------------------------------------------------------

STORIES = (
    (
        "Правительственная комиссия по законопроектной деятельности одобрила поправки о цифровых платформах",
        "Комиссия под председательством вице-премьера рассмотрела законопроект о цифровых платформах "
        "и рекомендовала внести его в Государственную думу.",
    ),
    (
        "Правительственная комиссия по транспорту утвердила план ремонта мостов в регионах",
        "Члены комиссии обсудили финансирование ремонта мостов и путепроводов на федеральных трассах.",
    ),
    (
        "Правительственная комиссия по региональному развитию распределила субсидии на модернизацию школ",
        "Комиссия одобрила распределение субсидий между регионами на капитальный ремонт школьных зданий.",
    ),
)


def feed(items: list[tuple[str, str, str, datetime]]) -> bytes:
    """An RSS document of (title, description, link, published) items."""
    from email.utils import format_datetime
    from html import escape

    entries = "".join(
        f"<item><title>{escape(title)}</title><link>{escape(link)}</link>"
        f"<description>{escape(lead)}</description><pubDate>{format_datetime(published)}</pubDate></item>"
        for title, lead, link, published in items
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Лента</title>'
        f"{entries}</channel></rss>"
    ).encode()


async def test_a_story_carried_by_two_sources_is_one_item_with_also_one_source(
    db: Database, emulator: BotAPIEmulator, sender: Bot, settings: Settings
) -> None:
    from bot.sources.fetch import Fetcher
    from bot.sources.poller import poll_once
    from bot.sources.records import NewSource
    from storage.sqlite.articles import ArticleRepository
    from storage.sqlite.sources import SourceRepository
    from tests.bot.sources.feed_server import QUICK_LIMITS, FeedServer

    published = [NOW - timedelta(hours=hours) for hours in (10, 8, 6)]
    official = [
        (title, lead, f"https://government.example/news/{n}", at)
        for n, ((title, lead), at) in enumerate(zip(STORIES, published, strict=True))
    ]
    # The aggregator rewords story 0 (an agency dateline before the lead: a near-duplicate, its own article)
    # and copies story 1 word for word (the same article, linked to both sources); story 2 is not carried.
    (title0, lead0), (title1, lead1), _ = STORIES
    aggregator = [
        (title0, "МОСКВА, 25 ноября — Агрегатор. " + lead0, "https://aggregator.example/a/1", published[0]),
        (title1, lead1, "https://aggregator.example/a/2", published[1] + timedelta(minutes=20)),
    ]
    server = await FeedServer().start()
    try:
        sources = SourceRepository(db)
        added = [
            await sources.add(NewSource(url=server.add(path, feed(items)), name=name), now=LONG_AGO)
            for path, name, items in (("/gov", "Правительство", official), ("/agg", "Агрегатор", aggregator))
        ]
        # The official feed is polled first, as it is in life: which copy of a word-for-word repost is stored
        # (and so which link it keeps) is then not left to a race between two concurrent polls.
        reports = []
        async with Fetcher(limits=QUICK_LIMITS) as fetcher:
            for source in added:
                reports.append(
                    await poll_once(
                        SqliteStorage(db),
                        settings,
                        fetcher=fetcher,
                        now=NOW,
                        article_fetches=0,
                        source_ids=[source.id],
                    )
                )
    finally:
        await server.stop()
    new, duplicates, errors = (
        sum(getattr(r, name) for r in reports) for name in ("new", "duplicates", "errors")
    )
    assert (new, duplicates, errors) == (4, 1, 0)
    stored = await ArticleRepository(db).published_between(LONG_AGO, NOW, gov_only=True)
    assert len(stored) == 4  # without collapsing, story 0 would be in the digest twice

    await subscribe_chats(db, [1801], emulator=emulator, since=LONG_AGO)
    # /digest's preview counts and shows stories the same way.
    [preview] = await preview_digest(SqliteStorage(db), 1801, now=NOW - timedelta(seconds=5))
    assert (await create_due_jobs(SqliteStorage(db), now=NOW))[0] == 1
    [job] = await OutboxRepository(db).jobs_for_chat(1801)
    assert len(job.items) == 3
    assert (await deliver_ready(sender, SqliteStorage(db), FAST)).sent == 1
    [message] = emulator.messages_to(1801)
    assert "3 материала" in message.text
    for title, _ in STORIES:
        assert message.text.count(title) == 1
    # The earliest publication stands for story 0: the official one, linked to its own page.
    assert "https://government.example/news/0" in message.source
    assert "aggregator.example" not in message.source
    assert message.text.count("ещё 1 источник: Агрегатор") == 2  # stories 0 and 1; story 2 has none
    assert parse_html(preview.text).text == message.text


# --- one overall send budget for replies and fan-out -------------------------------------------------------


@pytest.mark.parametrize("shared", [True, False], ids=["one budget", "two budgets (control)"])
async def test_replies_and_fan_out_together_stay_within_the_global_limit(
    db: Database, emulator: BotAPIEmulator, settings: Settings, shared: bool
) -> None:
    """The bot's replies (paced by its session middleware) and the digest service (its own session) send at
    once. With the one budget create_bot makes, Telegram's 30/s per token is never exceeded; the control
    gives the service a bot of its own, i.e. a budget of its own, and the emulator answers global 429s."""
    from bot.app import create_bot
    from bot.telegram.pacing import send_budget_of

    chats = list(range(2001, 2046))
    users = list(range(3001, 3046))
    now = db.clock()
    await subscribe_chats(db, chats, emulator=emulator, since=now - timedelta(days=10), notify_empty=True)
    for user in users:
        emulator.add_chat(user, "private")
    settings = dataclasses.replace(settings, telegram_api_url=emulator.base_url)
    replier = create_bot(settings)
    service_bot = replier if shared else create_bot(settings)
    assert (send_budget_of(replier) is send_budget_of(service_bot)) is shared
    stop = asyncio.Event()
    service = asyncio.create_task(digest_service(service_bot, SqliteStorage(db), settings, stop))
    try:
        await emulator.wait_for_messages(chats[0], 1, timeout=10)  # the fan-out is under way
        replies = [replier.send_message(user, f"Ответ {user}") for user in users]
        await asyncio.wait_for(asyncio.gather(*replies), timeout=20)
        for chat_id in chats:
            await emulator.wait_for_messages(chat_id, 1, timeout=10)
    finally:
        stop.set()
        await asyncio.wait_for(service, timeout=5)
        for bot in {replier, service_bot}:
            await bot.session.close()
    assert all(len(emulator.messages_to(user)) == 1 for user in users)
    assert_no_doubles(emulator)
    global_429 = [event for event in emulator.flood_events if event.scope == "global"]
    if shared:
        assert global_429 == [] and emulator.flood_events == []
    else:
        assert global_429


# --- a chat that comes back ------------------------------------------------------------------------------


async def test_a_chat_back_after_a_block_gets_one_catch_up_digest_not_the_stale_ones(
    db: Database, emulator: BotAPIEmulator, sender: Bot
) -> None:
    from bot.chats.comeback import reactivate

    await add_articles(db, make_articles(6, end=NOW, span=timedelta(days=3)))
    await subscribe_chats(
        db, [1901], emulator=emulator, since=LONG_AGO, last_period_end=NOW - timedelta(days=2)
    )
    emulator.block_chat(1901)
    # Two digests fall due while the user has the bot blocked: the first one meets the 403 and is parked,
    # the second is never even composed (the chat is inactive).
    yesterday = NOW - timedelta(days=1)
    assert (await create_due_jobs(SqliteStorage(db), now=yesterday))[0] == 1
    assert (await deliver_ready(sender, SqliteStorage(db), FAST, now=yesterday)).inactive == 1
    assert (await create_due_jobs(SqliteStorage(db), now=NOW))[0] == 0
    emulator.unblock_chat(1901)
    chats, outbox = ChatRepository(db), OutboxRepository(db)
    assert await reactivate(1901, chats, outbox)
    assert (await create_due_jobs(SqliteStorage(db), now=NOW))[0] == 1
    assert (await deliver_ready(sender, SqliteStorage(db), FAST, now=NOW)).sent == 1
    [message] = texts_to(emulator, 1901)  # one digest, not yesterday's and today's
    # The whole gap since the last delivered digest (two days: 4 of the 6 articles), once.
    assert "24.11–26.11.2026" in message and "4 материала" in message


@pytest.mark.parametrize("when", ["before its turn", "between its parts"])
async def test_a_chat_blocking_and_coming_back_during_a_fan_out_gets_its_period_once(
    db: Database, emulator: BotAPIEmulator, sender: Bot, when: str
) -> None:
    """The fan-out works through the list it read at the start. Chat 1952 blocks the bot and comes back
    while its job is still in that list (or while its digest is half sent): the job is superseded and the
    catch-up digest covers the period. The stale entry must not be sent (nor the rest of a half-sent one),
    or the chat gets the same news twice."""
    from bot.chats.comeback import reactivate
    from bot.digest.sender import Deliverer

    await add_articles(db, make_articles(40, end=NOW, lead_words=60))
    chats_ids = [1951, 1952]
    await subscribe_chats(
        db, chats_ids, emulator=emulator, since=LONG_AGO, last_period_end=NOW - timedelta(days=1)
    )
    assert (await create_due_jobs(SqliteStorage(db), now=NOW))[0] == 2
    chats, outbox = ChatRepository(db), OutboxRepository(db)
    snapshot = await outbox.ready_jobs()  # the fan-out's list: 1951's job first, then 1952's
    assert [job.chat_id for job in snapshot] == chats_ids
    [stale] = [job for job in snapshot if job.chat_id == 1952]
    stale_parts = await outbox.parts(stale.id)
    assert len(stale_parts) >= 2
    trigger = (stale.id, 0) if when == "between its parts" else (snapshot[0].id, 0)
    came_back = False

    async def block_and_come_back(job_id: int, seq: int, message_id: int) -> None:
        nonlocal came_back
        if (job_id, seq) == trigger and not came_back:
            came_back = True
            await chats.deactivate(1952, "bot kicked")  # my_chat_member "kicked" ...
            assert await reactivate(1952, chats, outbox)  # ... then /start

    config = dataclasses.replace(FAST, concurrency=1)  # one worker: the list is worked in order
    first = await Deliverer(sender, SqliteStorage(db), config, on_accepted=block_and_come_back).deliver(
        snapshot
    )
    assert came_back
    # The next cycle: the catch-up digest for the rewound period.
    assert (await create_due_jobs(SqliteStorage(db), now=NOW))[0] == 1
    assert (await deliver_ready(sender, SqliteStorage(db), FAST)).sent == 1
    [catch_up] = [job for job in await outbox.jobs_for_chat(1952) if not job.superseded]
    assert (catch_up.period_start, catch_up.period_end) == (stale.period_start, stale.period_end)
    expected = [parse_html(p.text).text for p in await outbox.parts(catch_up.id)]
    before = 1 if when == "between its parts" else 0  # the part already sent when the chat left
    received = texts_to(emulator, 1952)
    assert received == [parse_html(stale_parts[0].text).text] * before + expected
    headers = [text for text in received if text.startswith("Дайджест новостей · 26.11.2026")]
    assert len(headers) == 1 + before  # the period's digest arrives once (whole), after what got through
    assert texts_to(emulator, 1951) == [parse_html(p.text).text for p in await outbox.parts(snapshot[0].id)]
    assert (first.sent, first.skipped) == (1, 1)
    assert (await outbox.get_job(stale.id)).state == "inactive"  # type: ignore[union-attr]
