"""A 5xx during the fan-out does not hold its delivery worker: the chat leaves the queue for its backoff, the
worker goes on with the other chats in the very next slots (the refused message's slot is given back), and the
chat's part is sent when it comes back. On stop, a chat waiting to come back leaves its job `pending` for the
next cycle. Units on a fake Telegram and virtual time, with the real outbox."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import cast

import pytest
from aiogram import Bot
from aiogram.exceptions import TelegramServerError
from aiogram.methods import SendMessage
from aiogram.types import Chat, Message

from bot.digest.pacing import DeliveryConfig
from bot.digest.sender import Deliverer
from bot.telegram.pacing import SendBudget
from storage.sqlite import SqliteStorage
from storage.sqlite.chats import ChatRepository
from storage.sqlite.database import Database
from storage.sqlite.outbox import OutboxRepository

NOW = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)
CHATS = [101, 102, 103, 104]
RATE = 30.0
# The backoff after the 502 is 5-10 s (base 10 with jitter): long enough to tell apart from the pacing's waits.
CONFIG = DeliveryConfig(messages_per_second=RATE, concurrency=1, backoff_base=10.0, backoff_max=10.0)


class Time:
    """Virtual time: the pacing's short waits pass at once; the backoff waits until the test lets it end."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.backoff_over = asyncio.Event()
        self.backoffs = 0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        if seconds >= 5.0:
            self.backoffs += 1
            await self.backoff_over.wait()
            return
        self.now += seconds
        await asyncio.sleep(0)


class Telegram:
    """Takes every sendMessage, except the first attempt to each chat in `bad_gateway` (answered 502)."""

    def __init__(self, time: Time, bad_gateway: set[int]) -> None:
        self.time = time
        self.bad_gateway = set(bad_gateway)
        self.attempts: list[tuple[int, float, int]] = []  # chat, virtual time, HTTP status
        self.accepted: list[int] = []
        self.changed = asyncio.Event()

    async def __call__(self, method: SendMessage) -> Message:
        chat_id = int(method.chat_id)
        self.changed.set()
        if chat_id in self.bad_gateway:
            self.bad_gateway.discard(chat_id)
            self.attempts.append((chat_id, self.time.now, 502))
            raise TelegramServerError(method=method, message="Bad Gateway")
        self.attempts.append((chat_id, self.time.now, 200))
        self.accepted.append(chat_id)
        return Message(
            message_id=len(self.accepted),
            date=NOW,
            chat=Chat(id=chat_id, type="private"),
            text=method.text,
        )

    async def wait_accepted(self, count: int) -> None:
        while len(self.accepted) < count:
            self.changed.clear()
            await asyncio.wait_for(self.changed.wait(), timeout=5.0)


async def broadcast_jobs(db: Database) -> OutboxRepository:
    chats = ChatRepository(db)
    for chat_id in CHATS:
        await chats.upsert(chat_id, type="private")
    outbox = OutboxRepository(db)
    await outbox.create_broadcast("Новость", created_by=None, chat_ids=CHATS, now=NOW)
    return outbox


def deliverer(db: Database, telegram: Telegram, time: Time) -> Deliverer:
    budget = SendBudget(RATE, clock=time)
    return Deliverer(
        cast(Bot, telegram), SqliteStorage(db), CONFIG, budget=budget, clock=time, sleep=time.sleep
    )


async def test_a_502_does_not_hold_the_worker_nor_the_slot(db: Database) -> None:
    outbox = await broadcast_jobs(db)
    time = Time()
    telegram = Telegram(time, bad_gateway={101})
    sender = deliverer(db, telegram, time)
    jobs = await outbox.ready_jobs(NOW + timedelta(minutes=1))
    delivering = asyncio.create_task(sender.deliver(jobs, kind="broadcast"))

    # One worker: it went on with the other chats while the first one waits out its backoff, in the slots
    # Telegram's pace allows — the first of them the slot the 502 gave back.
    await telegram.wait_accepted(3)
    assert time.backoffs == 1 and not delivering.done()
    [(first, start, status), *others] = telegram.attempts
    assert (first, status) == (101, 502)
    interval = 1 / RATE
    assert others == [
        (102, start, 200),
        (103, pytest.approx(start + interval), 200),
        (104, pytest.approx(start + 2 * interval), 200),
    ]

    time.backoff_over.set()
    result = await asyncio.wait_for(delivering, timeout=5.0)
    assert telegram.accepted == [102, 103, 104, 101]  # each chat exactly once
    assert (result.sent, result.messages, result.retried, result.failed) == (4, 4, 1, 0)
    for chat_id in CHATS:
        [job] = await outbox.jobs_for_chat(chat_id)
        [part] = await outbox.parts(job.id)
        assert (job.state, part.state) == ("sent", "sent")
        assert part.message_id == telegram.accepted.index(chat_id) + 1


async def test_stopping_while_a_chat_waits_to_come_back_leaves_its_job_pending(db: Database) -> None:
    outbox = await broadcast_jobs(db)
    time = Time()
    telegram = Telegram(time, bad_gateway={101})
    sender = deliverer(db, telegram, time)
    delivering = asyncio.create_task(
        sender.deliver(await outbox.ready_jobs(NOW + timedelta(minutes=1)), kind="broadcast")
    )
    await telegram.wait_accepted(3)
    sender.stop.set()  # shutdown while chat 101 waits out its backoff
    await asyncio.wait_for(delivering, timeout=5.0)
    [job] = await outbox.jobs_for_chat(101)
    [part] = await outbox.parts(job.id)
    # Not `sending` (only a restart's recovery would pick it up again) and its part not `uncertain`: the 502
    # proved the message was not taken, so the next cycle sends it.
    assert (job.state, part.state) == ("pending", "pending")

    again = Telegram(time, bad_gateway=set())
    pending = await outbox.get_job(job.id)  # the next cycle (whenever `retry_later` scheduled it)
    assert pending is not None
    await deliverer(db, again, time).deliver([pending], kind="broadcast")
    assert again.accepted == [101]
    assert telegram.accepted + again.accepted == [102, 103, 104, 101]
