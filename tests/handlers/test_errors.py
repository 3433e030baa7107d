"""Unexpected errors, flood throttling and a 429 on a reply (Dispatcher layer)."""

from __future__ import annotations

import logging

import pytest
from aiogram.methods import AnswerCallbackQuery, SendMessage

from bot.config import Settings
from bot.telegram.session import install_session_middlewares
from bot.telegram.throttle import FloodThrottle
from storage.sqlite.database import Database
from tests.handlers.bot_harness import harness


async def test_an_unexpected_error_is_logged_with_the_update_id_and_apologised_for(
    settings: Settings, db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    async with harness(settings, db) as h:
        archive = h.dispatcher["archive"]

        async def broken(*args: object, **kwargs: object) -> int:
            raise RuntimeError("database exploded")

        archive.count = broken
        update = h.emulator.message("/search комиссия")
        with caplog.at_level(logging.INFO):
            await h.feed(update)
        [reply] = h.emulator.messages_to(2000)
        assert reply.text.startswith("Что-то пошло не так")
        assert "Traceback" not in reply.text and "exploded" not in reply.text
        failure = [r for r in caplog.records if r.name == "handlers.errors"]
        assert failure and f"update {update['update_id']} failed" in failure[0].getMessage()
        line = [r.getMessage() for r in caplog.records if r.name == "govdigest.updates"]
        assert line == [
            f"update {update['update_id']} message chat=2000 handler=handlers.search.search_message "
            + line[0].split("search_message ")[1]
        ]
        assert line[0].endswith(" error")
        # The bot goes on with the next update.
        del archive.count
        await h.feed(h.emulator.message("/latest"))
        assert "Последние статьи" in h.emulator.messages_to(2000)[-1].text


async def test_an_error_in_a_button_answers_the_callback(settings: Settings, db: Database) -> None:
    async with harness(settings, db) as h:
        [reply] = await h.message("/search комиссия")

        async def broken(*args: object, **kwargs: object) -> None:
            raise RuntimeError("boom")

        h.dispatcher["archive"].get = broken
        await h.click(reply, "Подробнее · 1")
        [answer] = h.session.calls_of(AnswerCallbackQuery)
        assert answer.show_alert and (answer.text or "").startswith("Что-то пошло не так")


async def test_per_update_log_line(
    settings: Settings, db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    async with harness(settings, db) as h:
        with caplog.at_level(logging.INFO, logger="govdigest.updates"):
            await h.message("/help", chat_id=-100900, chat_type="supergroup")
            await h.feed(h.emulator.inline_query("комиссия"))
        lines = [r.getMessage() for r in caplog.records if r.name == "govdigest.updates"]
        assert len(lines) == 2
        assert " message chat=-100900 handler=handlers.help.help_command " in lines[0]
        assert " inline_query chat=- handler=handlers.inline.inline_search " in lines[1]
        assert all(line.endswith(" ms ok") for line in lines)


async def test_flooding_user_gets_one_notice(settings: Settings, db: Database) -> None:
    # Five at once, then (practically) none: the test does not depend on how fast it runs.
    async with harness(settings, db, throttle=FloodThrottle(burst=5, rate_per_second=1e-6)) as h:
        for _ in range(12):
            await h.message("/search комиссия")
        texts = [m.text for m in h.emulator.messages_to(2000)]
        notices = [t for t in texts if t.startswith("Слишком много запросов")]
        assert len(notices) == 1
        assert len([t for t in texts if "Найдено" in t]) == 5  # the burst
        # Another user is not affected.
        [other] = await h.message("/search комиссия", user_id=3000, chat_id=3000)
        assert "Найдено" in other.text


async def test_429_on_a_reply_waits_and_retries(settings: Settings, db: Database) -> None:
    async with harness(settings, db) as h:
        install_session_middlewares(h.bot, messages_per_second=None)
        h.emulator.fail_next("sendMessage", retry_after=1)
        [reply] = await h.message("/search комиссия")
        assert "Найдено: 15" in reply.text
        assert len(h.session.calls_of(SendMessage)) == 2  # the refused one and the retry


async def test_an_error_after_the_button_was_answered_apologises_in_the_chat(
    settings: Settings, db: Database
) -> None:
    async with harness(settings, db) as h:
        [reply] = await h.message("/search доклад")
        h.session.raise_next(RuntimeError("network hiccup"), method=SendMessage)
        sent = await h.click(reply, "Подробнее · 1")
        assert [m.text for m in sent] == [
            "Что-то пошло не так. Мы уже разбираемся — попробуйте ещё раз чуть позже."
        ]
