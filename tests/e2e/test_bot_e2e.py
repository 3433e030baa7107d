"""End to end: `bot.runner.run()` (real Dispatcher, polling or webhook, aiogram's real HTTP session) against the
Bot API emulator with Telegram's flood limits on."""

from __future__ import annotations

import asyncio
import csv
import io
import logging
import os
import signal
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace

import pytest

from bot.config import Settings
from bot.runner import WebhookConfig, run
from bot.telegram.limits import CALLBACK_DATA_LIMIT, MESSAGE_TEXT_LIMIT
from storage.sqlite.database import Database
from tests.emulator.server import BotAPIEmulator
from tests.handlers.bot_harness import HOSTILE_TITLE, LONG_TITLE, seed

USER = 2000
GROUP = -100123
TIMEOUT = 10.0


@asynccontextmanager
async def running_bot(
    settings: Settings, emulator: BotAPIEmulator, *, webhook: WebhookConfig | None = None
) -> AsyncIterator[asyncio.Task[int]]:
    """`run()` as a task against the emulator over a seeded database; stopped (and checked to exit 0) after."""
    settings = replace(settings, telegram_api_url=emulator.base_url)
    db = await Database.connect(settings.database_path)
    await seed(db)
    await db.close()
    stop = asyncio.Event()
    task = asyncio.create_task(run(settings, webhook=webhook, polling_timeout=1, stop=stop))
    try:
        if webhook is None:
            await emulator.wait_for_request("getUpdates", timeout=TIMEOUT)
        else:
            await emulator.wait_for_request("setWebhook", timeout=TIMEOUT)
        yield task
    finally:
        stop.set()
        assert await asyncio.wait_for(task, TIMEOUT) == 0


def utf16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


async def test_private_chat_commands_buttons_and_documents(
    settings: Settings, emulator: BotAPIEmulator
) -> None:
    async with running_bot(settings, emulator):
        # Commands were published for private chats and groups, in Russian and English.
        commands = await emulator.wait_for(
            lambda: emulator.commands_for({"type": "all_group_chats"}, "en"), TIMEOUT
        )
        assert {c["command"] for c in commands} >= {"help", "search", "latest", "export"}
        private_ru = emulator.commands_for({"type": "all_private_chats"}, "")
        assert {c["command"] for c in private_ru} >= {"start", "help", "search"}
        assert any("поиск" in c["description"] for c in private_ru)

        emulator.message("/start")
        [greeting] = await emulator.wait_for_messages(USER, 1, TIMEOUT)
        assert greeting.text.startswith("Здравствуйте")

        emulator.message("/help")
        help_message = (await emulator.wait_for_messages(USER, 2, TIMEOUT))[-1]
        assert "/export — " in help_message.text

        emulator.message("/search комиссия")
        results = (await emulator.wait_for_messages(USER, 3, TIMEOUT))[-1]
        assert "Найдено: 15. Страница 1 из 3." in results.text
        assert all(len(b["callback_data"].encode()) <= CALLBACK_DATA_LIMIT for b in results.buttons)

        emulator.click(results, "Дальше")
        await emulator.wait_for(
            lambda: "Страница 2 из 3" in emulator.get_message(USER, results.message_id).text, TIMEOUT
        )
        page2 = emulator.get_message(USER, results.message_id)
        emulator.click(page2, "Назад")
        await emulator.wait_for(
            lambda: "Страница 1 из 3" in emulator.get_message(USER, results.message_id).text, TIMEOUT
        )
        await emulator.wait_for(lambda: len(emulator.callback_answers) == 2, TIMEOUT)

        # Another user (another chat, its own pace): plain text is a search, "Подробнее" sends the article.
        reader = USER + 1
        emulator.message("доклад", user_id=reader, chat_id=reader)
        [report] = await emulator.wait_for_messages(reader, 1, TIMEOUT)
        emulator.click(report, "Подробнее · 1")
        await emulator.wait_for(
            lambda: any("Абзац 29 доклада." in m.text for m in emulator.messages_to(reader)), TIMEOUT
        )
        parts = emulator.messages_to(reader)[1:]
        assert len(parts) >= 4
        assert parts[0].text.startswith(LONG_TITLE)
        assert all(utf16(p.text) <= MESSAGE_TEXT_LIMIT for p in parts)

        before = len(emulator.messages_to(USER))
        emulator.message("/latest 3")
        latest = (await emulator.wait_for_messages(USER, before + 1, TIMEOUT))[-1]
        assert "Последние статьи: 3" in latest.text

        emulator.message("/export кавычки")
        exported = (await emulator.wait_for_messages(USER, before + 2, TIMEOUT))[-1]
        assert exported.document is not None
        rows = list(csv.reader(io.StringIO(exported.document.data.decode("utf-8-sig"))))
        assert rows[1][2] == HOSTILE_TITLE

        emulator.message("/search")
        usage = (await emulator.wait_for_messages(USER, before + 3, TIMEOUT))[-1]
        assert "Например" in usage.text
    assert not emulator.flood_events  # the bot kept to Telegram's pace


async def test_groups_and_inline_mode(settings: Settings, emulator: BotAPIEmulator) -> None:
    emulator.add_chat(GROUP, "supergroup", "Группа")
    async with running_bot(settings, emulator):
        emulator.message("комиссия", chat_id=GROUP, chat_type="supergroup")
        emulator.message("/search@other_bot комиссия", chat_id=GROUP, chat_type="supergroup")
        emulator.message("/search@govdigest_bot кавычки", chat_id=GROUP, chat_type="supergroup")
        emulator.message("/latest 2", chat_id=GROUP, chat_type="supergroup")
        replies = await emulator.wait_for_messages(GROUP, 2, TIMEOUT)
        assert any(HOSTILE_TITLE in reply.text for reply in replies)
        assert any("Последние статьи: 2" in reply.text for reply in replies)

        emulator.inline_query("комиссия")
        await emulator.wait_for(lambda: emulator.inline_answers, TIMEOUT)
        [answer] = emulator.inline_answers
        assert 0 < len(answer.results) <= 50
        assert all({"title", "description", "input_message_content"} <= set(r) for r in answer.results)
        # Nothing else reached the group: plain text and the other bot's command were ignored.
        await emulator.wait_until_idle()
        assert len(emulator.messages_to(GROUP)) == 2


async def test_429_on_a_reply_is_retried_and_the_token_never_logged(
    settings: Settings,
    emulator: BotAPIEmulator,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    token = settings.bot_token
    assert token
    monkeypatch.setattr("bot.telegram.retries.REPLY_RETRY_DELAYS", (0.01, 0.01, 0.01))  # the 502s' pauses
    with caplog.at_level(logging.DEBUG):
        async with running_bot(settings, emulator):
            emulator.fail_next("sendMessage", retry_after=1)
            emulator.message("/search комиссия")
            [reply] = await emulator.wait_for_messages(USER, 1, TIMEOUT)
            assert "Найдено: 15" in reply.text
            assert len(emulator.requests_for("sendMessage")) == 2

            # A front-end error page echoing the request URL (with the token), on the first attempt and all three
            # retries, breaks the reply: giving up is logged and the user gets the apology, all without the token.
            emulator.fail_next(
                "sendMessage",
                error_code=502,
                raw_body=f"<h1>502</h1> {emulator.base_url}/bot{token}/sendMessage",
                times=4,
            )
            emulator.message("/latest")
            await emulator.wait_for_messages(USER, 2, TIMEOUT)
    assert "sendMessage to chat 2000 failed 4 times, giving up: ClientDecodeError" in caplog.text
    assert "/bot<BOT_TOKEN>/sendMessage" in caplog.text
    assert token not in caplog.text
    for record in caplog.records:
        assert token not in record.getMessage()
    lines = [r.getMessage() for r in caplog.records if r.name == "govdigest.updates"]
    assert any(" message chat=2000 handler=handlers.search.search_message " in line for line in lines)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_webhook_mode_checks_the_secret(settings: Settings, emulator: BotAPIEmulator) -> None:
    port = free_port()
    webhook = WebhookConfig(
        url=f"http://127.0.0.1:{port}/tg/hook", host="127.0.0.1", port=port, secret="s3cret"
    )
    async with running_bot(settings, emulator, webhook=webhook):
        assert emulator.webhook_url == webhook.url
        assert emulator.webhook_secret == "s3cret"
        assert set(emulator.webhook_allowed_updates or ()) >= {"message", "callback_query", "inline_query"}
        update = emulator.message("/search комиссия")
        await emulator.wait_for_messages(USER, 1, TIMEOUT)  # delivered by the emulator with the right secret
        assert await emulator.post_update(update=update, secret_token="wrong") == 401
        assert await emulator.post_update(update=update, secret_token="") == 401
        assert len(emulator.messages_to(USER)) == 1


async def test_a_token_telegram_rejects_ends_run_with_2(
    settings: Settings, emulator: BotAPIEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    revoked = "654321:REVOKED-token-the-emulator-does-not-know"
    settings = replace(settings, bot_token=revoked, telegram_api_url=emulator.base_url)
    with caplog.at_level(logging.INFO):
        assert await asyncio.wait_for(run(settings, polling_timeout=1), TIMEOUT) == 2
    assert "rejected the bot token" in caplog.text
    assert revoked not in caplog.text


@pytest.mark.parametrize("method", ["deleteWebhook", "setMyCommands"])
async def test_a_401_after_getme_ends_run_with_2(
    settings: Settings, emulator: BotAPIEmulator, caplog: pytest.LogCaptureFixture, method: str
) -> None:
    """getMe answered, then the start is refused (a token revoked meanwhile): the same one line and 2."""
    settings = replace(settings, telegram_api_url=emulator.base_url)
    emulator.fail_next(method, error_code=401)
    with caplog.at_level(logging.INFO):
        assert await asyncio.wait_for(run(settings, polling_timeout=1), TIMEOUT) == 2
    ours = [r for r in caplog.records if r.name.split(".")[0] in {"bot", "aiogram"}]  # not the emulator's
    [line] = [r.getMessage() for r in ours if "BOT_TOKEN" in r.getMessage()]
    assert line == "Telegram rejected the bot token (401 Unauthorized): check BOT_TOKEN"
    assert [r.getMessage() for r in ours if r.levelno >= logging.WARNING] == [line]


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
async def test_a_signal_finishes_the_update_in_flight_and_returns_0(
    settings: Settings, emulator: BotAPIEmulator, signum: signal.Signals, caplog: pytest.LogCaptureFixture
) -> None:
    settings = replace(settings, telegram_api_url=emulator.base_url)
    db = await Database.connect(settings.database_path)
    await seed(db)
    await db.close()
    task = asyncio.create_task(run(settings, polling_timeout=1))
    await emulator.wait_for_request("getUpdates", timeout=TIMEOUT)
    emulator.set_latency(1.5, "sendMessage")  # longer than closing the session and the database takes
    update = emulator.message("/latest")
    await emulator.wait_for_request("sendMessage", timeout=TIMEOUT)  # the reply is on its way
    with caplog.at_level(logging.INFO, logger="govdigest.updates"):
        os.kill(os.getpid(), signum)
        assert await asyncio.wait_for(task, TIMEOUT) == 0
    # By the time run() returned, the update had been handled completely (not cut off with the session).
    [line] = [r.getMessage() for r in caplog.records if r.name == "govdigest.updates"]
    assert line.startswith(f"update {update['update_id']} message ") and line.endswith(" ok")
    assert "Последние статьи" in emulator.messages_to(USER)[-1].text
