"""The error handler and failures on Telegram's side (Dispatcher layer, RecordingSession): a 5xx or a network
error that reaches it is one warning line with the update id, no traceback; the user still gets the apology."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from bot.config import Settings
from storage.sqlite.database import Database
from tests.handlers.bot_harness import harness


@pytest.mark.parametrize(
    ("fault", "logged"),
    [
        ({"error_code": 502}, "TelegramServerError: Bad Gateway"),
        ({"error_code": 500}, "TelegramServerError: Internal Server Error"),
        ({"disconnect": True}, "TelegramNetworkError: "),
    ],
)
async def test_telegram_failing_a_reply_is_one_line_without_a_traceback(
    settings: Settings,
    db: Database,
    caplog: pytest.LogCaptureFixture,
    fault: dict[str, Any],
    logged: str,
) -> None:
    async with harness(settings, db) as h:  # no session middlewares: nothing retried before the handler
        h.emulator.fail_next("sendMessage", **fault)
        update = h.emulator.message("/search комиссия")
        with caplog.at_level(logging.INFO):
            await h.feed(update)
        [apology] = h.emulator.messages_to(2000)
        assert apology.text.startswith("Что-то пошло не так")
    [line] = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert line.name == "handlers.errors" and line.exc_info is None
    assert line.getMessage().startswith(
        f"update {update['update_id']}: Telegram did not take a request: {logged}"
    )
