"""Replies when Telegram answers `502 Bad Gateway` (it did not take the message): the real application Dispatcher
polling the Bot API emulator over HTTP with Telegram's flood limits on, the bot's real session middlewares
(5xx retry — with short pauses here —, 429 retry, pacing), a fresh database. The user gets the answer exactly
once; when Telegram never takes it, one warning line is written, no traceback, and the user gets the apology."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import time

import pytest
from aiogram import Bot

from bot import app
from bot.config import Settings
from bot.telegram.session import install_session_middlewares
from storage.sqlite import SqliteStorage
from storage.sqlite.chats import ChatRepository
from storage.sqlite.database import Database
from storage.sqlite.subscriptions import SubscriptionRepository
from tests.emulator.server import BotAPIEmulator

USER = 2000
WAIT = 10.0
SUBSCRIBED = "✅ Подписка оформлена"
APOLOGY = "Что-то пошло не так"


@asynccontextmanager
async def running(settings: Settings, db: Database, emulator: BotAPIEmulator) -> AsyncIterator[Bot]:
    """The Dispatcher polling the emulator, one update at a time (so the emulator's seeded faults meet the
    replies in the same order on every run)."""
    app_settings = dataclasses.replace(settings, telegram_api_url=emulator.base_url)
    dispatcher = app.build_dispatcher(app_settings, SqliteStorage(db), throttling=False)
    bot = emulator.make_bot()
    install_session_middlewares(
        bot, messages_per_second=app_settings.messages_per_second, retry_delays=(0.01, 0.02, 0.03)
    )
    try:
        async with emulator.polling(dispatcher, bot, handle_as_tasks=False):
            yield bot
    finally:
        await bot.session.close()


def warnings_and_worse(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.levelno >= logging.WARNING]


async def test_a_reply_answered_502_is_sent_again_and_arrives_once(
    settings: Settings, db: Database, emulator: BotAPIEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    emulator.fail_next("sendMessage", error_code=502, chat_id=USER, times=2)
    with caplog.at_level(logging.INFO):
        async with running(settings, db, emulator):
            [reply] = await emulator.ask("/subscribe", user_id=USER, timeout=WAIT)
            await emulator.wait_until_idle(timeout=WAIT)
    assert reply.text.startswith(SUBSCRIBED)
    assert [m.text for m in emulator.messages_to(USER)] == [reply.text]  # once
    assert [r.status for r in emulator.requests_for("sendMessage")] == [502, 502, 200]
    assert (await SubscriptionRepository(db).get(USER)).gov_news
    assert warnings_and_worse(caplog) == []  # recovered: nothing to report


async def test_a_reply_telegram_never_takes_is_given_up_with_one_line(
    settings: Settings, db: Database, emulator: BotAPIEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO):
        async with running(settings, db, emulator):
            await emulator.ask("/subscribe", user_id=USER, timeout=WAIT)
            # The first attempt and all three retries of the /time answer; the apology after them goes through.
            emulator.fail_next("sendMessage", error_code=502, chat_id=USER, times=4)
            [answer] = await emulator.ask("/time 08:30", user_id=USER, timeout=WAIT)
            await emulator.wait_until_idle(timeout=WAIT)
    assert answer.text.startswith(APOLOGY)
    assert len(emulator.messages_to(USER)) == 2  # the /subscribe answer, then the apology: nothing doubled
    chat = await ChatRepository(db).get(USER)
    assert chat is not None and chat.delivery_time == time(8, 30)  # the change was saved
    [line] = warnings_and_worse(caplog)  # the error handler adds nothing: the retry's line says it all
    assert (line.name, line.levelno) == ("bot.telegram.retries", logging.WARNING)
    assert line.getMessage() == (
        f"sendMessage to chat {USER} failed 4 times, giving up: TelegramServerError: Bad Gateway"
    )
    assert all(r.exc_info is None for r in caplog.records) and "Traceback" not in caplog.text


async def test_with_one_send_in_ten_answered_502_every_user_gets_each_answer_once(
    settings: Settings, db: Database, emulator: BotAPIEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    """The issue's scenario: a share of all sends refused with 502; 30 users subscribe and set a time."""
    users = [3000 + n for n in range(30)]
    fault = emulator.fail_share("sendMessage", 0.1, seed=11)
    with caplog.at_level(logging.INFO):
        async with running(settings, db, emulator):
            for user in users:
                emulator.message("/subscribe", user_id=user)
                emulator.message("/time 07:15", user_id=user)
            for user in users:
                await emulator.wait_for_messages(user, 2, timeout=WAIT)
            await emulator.wait_until_idle(timeout=WAIT)
    assert fault.injected >= 3
    chats = ChatRepository(db)
    for user in users:
        subscribed, time_set = [m.text for m in emulator.messages_to(user)]
        assert subscribed.startswith(SUBSCRIBED) and time_set.startswith(
            "🕗 Дайджест будет приходить в 07:15"
        )
        chat = await chats.get(user)
        assert chat is not None and chat.delivery_time == time(7, 15)
    assert warnings_and_worse(caplog) == []
