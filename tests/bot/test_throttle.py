"""Throttling, pacing, the 429 retry, token redaction and the query store: pure units with fake clocks."""

from __future__ import annotations

import io
import logging
from typing import Any

import pytest
from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest, TelegramNetworkError, TelegramRetryAfter
from aiogram.methods import AnswerCallbackQuery, GetMe, SendMessage

from bot.telegram.pacing import Pace, Pacer, PacingMiddleware
from bot.telegram.redaction import (
    REDACTED,
    RedactTokenMiddleware,
    TokenRedactingFilter,
    install_token_redaction,
)
from bot.telegram.retries import RetryAfterMiddleware, caller_handles_flood_control
from bot.telegram.session import install_session_middlewares
from bot.telegram.throttle import FloodThrottle

TOKEN = "123456:TEST-token-for-the-emulator-000000000"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# --- flood throttle ----------------------------------------------------------------------------------------


def test_throttle_allows_a_burst_then_notifies_once_per_stretch() -> None:
    clock = FakeClock()
    throttle = FloodThrottle(burst=3, rate_per_second=0.5, clock=clock)
    assert [throttle.check(1) for _ in range(3)] == [(True, False)] * 3
    # A flood: one notice, then silence.
    assert [throttle.check(1) for _ in range(5)] == [(False, True)] + [(False, False)] * 4
    assert throttle.check(2) == (True, False)  # other users are not affected
    clock.now += 2.0  # one token back
    assert throttle.check(1) == (True, False)
    assert throttle.check(1) == (False, True)  # a new stretch gets a new (single) notice


def test_throttle_prunes_idle_users() -> None:
    clock = FakeClock()
    throttle = FloodThrottle(burst=2, rate_per_second=1.0, clock=clock)
    for user in range(10_000):
        throttle.check(user)
    clock.now += 10
    throttle.check(-1)
    assert len(throttle._buckets) == 1


@pytest.mark.parametrize(("burst", "rate"), [(0, 1.0), (1, 0.0)])
def test_throttle_rejects_bad_settings(burst: int, rate: float) -> None:
    with pytest.raises(ValueError):
        FloodThrottle(burst=burst, rate_per_second=rate)


# --- pacing ------------------------------------------------------------------------------------------------


def test_pacer_allows_a_burst_then_spaces_messages() -> None:
    clock = FakeClock()
    pacer = Pacer(clock)
    pace = Pace(rate=1.0, burst=3)
    waits = [pacer.reserve("chat", pace) for _ in range(6)]
    assert waits == pytest.approx([0, 0, 0, 1, 2, 3])
    assert pacer.reserve("other", pace) == 0
    clock.now += 10
    assert pacer.reserve("chat", pace) == 0


async def test_pacing_middleware_waits_per_chat_and_ignores_other_methods() -> None:
    clock = FakeClock()
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock.now += seconds

    pacing = PacingMiddleware(
        messages_per_second=1000,
        private=Pace(rate=1.0, burst=2),
        group=Pace(1 / 3, 1),
        clock=clock,
        sleep=sleep,
    )
    bot = Bot(TOKEN)

    async def make_request(bot: Bot, method: Any) -> Any:
        return True

    for _ in range(3):
        await pacing(make_request, bot, SendMessage(chat_id=5, text="x"))
    assert slept == pytest.approx([1.0])
    await pacing(make_request, bot, AnswerCallbackQuery(callback_query_id="1"))
    await pacing(make_request, bot, SendMessage(chat_id=-100, text="x"))
    await pacing(make_request, bot, SendMessage(chat_id=-100, text="x"))
    assert slept == pytest.approx([1.0, 3.0])
    await bot.session.close()


# --- 429 and redaction -----------------------------------------------------------------------------


async def test_retry_after_waits_and_retries() -> None:
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    calls = 0
    method = SendMessage(chat_id=1, text="x")

    async def make_request(bot: Bot, m: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls < 3:
            raise TelegramRetryAfter(method=m, message="Too Many Requests: retry after 2", retry_after=2)
        return "sent"

    bot = Bot(TOKEN)
    assert await RetryAfterMiddleware(sleep=sleep)(make_request, bot, method) == "sent"
    assert calls == 3 and slept == [2.0, 2.0]
    await bot.session.close()


async def test_retry_after_gives_up_on_absurd_waits_and_after_max_retries() -> None:
    async def sleep(seconds: float) -> None:
        return None

    async def always_429(bot: Bot, m: Any) -> Any:
        raise TelegramRetryAfter(method=m, message="flood", retry_after=1)

    async def long_429(bot: Bot, m: Any) -> Any:
        raise TelegramRetryAfter(method=m, message="flood", retry_after=3600)

    bot = Bot(TOKEN)
    with pytest.raises(TelegramRetryAfter):
        await RetryAfterMiddleware(max_retries=2, sleep=sleep)(always_429, bot, GetMe())
    with pytest.raises(TelegramRetryAfter):
        await RetryAfterMiddleware(sleep=sleep)(long_429, bot, GetMe())
    await bot.session.close()


@pytest.mark.parametrize("session_of", ["bot", "delivery"])
async def test_errors_leave_the_session_without_the_token(session_of: str) -> None:
    """Through the middleware chains our sessions really have: the bot's and the digest delivery's."""
    from aiogram.client.session.middlewares.manager import RequestMiddlewareManager

    from bot.digest.sender import delivery_bot

    url = f"http://127.0.0.1:1/bot{TOKEN}/sendMessage"

    async def failing(bot: Bot, m: Any) -> Any:
        try:
            raise OSError(f"connection to {url} refused")
        except OSError as cause:
            raise TelegramNetworkError(method=m, message=f"ClientOSError: {url}") from cause

    async def bad_request(bot: Bot, m: Any) -> Any:
        raise TelegramBadRequest(method=m, message=f"Bad Request: {url}")

    async def too_long_a_wait(bot: Bot, m: Any) -> Any:
        raise TelegramRetryAfter(method=m, message=f"Flood control: {url}", retry_after=10_000)

    base = Bot(TOKEN)
    bot = base
    if session_of == "bot":
        install_session_middlewares(bot, messages_per_second=None)
    else:
        bot = delivery_bot(base)
    manager: RequestMiddlewareManager = bot.session.middleware
    for make_request in (failing, bad_request, too_long_a_wait):
        with pytest.raises((TelegramNetworkError, TelegramBadRequest, TelegramRetryAfter)) as caught:
            await manager.wrap_middlewares(make_request)(bot, SendMessage(chat_id=1, text="x"))
        assert TOKEN not in str(caught.value) and REDACTED in str(caught.value)
        cause = caught.value.__cause__
        assert cause is None or TOKEN not in str(cause)
    await bot.session.close()
    await base.session.close()


def test_log_filter_redacts_messages_arguments_and_tracebacks() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger = logging.getLogger("test.redaction")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        install_token_redaction(TOKEN, logger)
        install_token_redaction(TOKEN, logger)  # idempotent
        assert sum(isinstance(f, TokenRedactingFilter) for f in handler.filters) == 1
        logger.warning("GET https://api.example/bot%s/getMe", TOKEN)
        try:
            raise RuntimeError(f"failed: /bot{TOKEN}/sendMessage")
        except RuntimeError:
            logger.exception("boom %s", TOKEN)
    finally:
        logger.removeHandler(handler)
    output = stream.getvalue()
    assert TOKEN not in output
    assert output.count(REDACTED) == 3
    assert "RuntimeError" in output


async def test_caller_handles_flood_control_skips_pacing_and_retry() -> None:
    clock = FakeClock()
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    async def ok(bot: Bot, m: Any) -> Any:
        return True

    async def flood(bot: Bot, m: Any) -> Any:
        raise TelegramRetryAfter(method=m, message="flood", retry_after=1)

    bot = Bot(TOKEN)
    pacing = PacingMiddleware(messages_per_second=1000, private=Pace(1.0, 1), clock=clock, sleep=sleep)
    with caller_handles_flood_control():
        for _ in range(3):
            await pacing(ok, bot, SendMessage(chat_id=5, text="x"))
        with pytest.raises(TelegramRetryAfter):
            await RetryAfterMiddleware(sleep=sleep)(flood, bot, SendMessage(chat_id=5, text="x"))
    assert slept == []
    await pacing(ok, bot, SendMessage(chat_id=5, text="x"))
    await pacing(ok, bot, SendMessage(chat_id=5, text="x"))
    assert slept == [pytest.approx(1.0)]  # outside the block pacing applies again
    await bot.session.close()


@pytest.mark.parametrize(
    ("chat_type", "text", "caption", "counted"),
    [
        ("private", "привет", None, True),
        ("group", "привет всем", None, False),
        ("supergroup", None, "подпись к альбому", False),
        ("group", "/search Госсовет", None, True),
        ("supergroup", "/help@govdigest_bot", None, True),
    ],
)
def test_only_what_the_bot_answers_counts_towards_the_flood_budget(
    chat_type: str, text: str | None, caption: str | None, counted: bool
) -> None:
    from datetime import UTC, datetime

    from aiogram.types import Chat, Message

    from bot.telegram.throttle import addressed_to_bot

    message = Message(
        message_id=1,
        date=datetime(2026, 1, 1, tzinfo=UTC),
        chat=Chat(id=-100 if chat_type != "private" else 5, type=chat_type),
        text=text,
        caption=caption,
    )
    assert addressed_to_bot(message) is counted


async def test_the_delivery_session_scrubs_the_token_too() -> None:
    from bot.digest.sender import delivery_bot

    bot = Bot(TOKEN)
    delivery = delivery_bot(bot)
    assert any(isinstance(m, RedactTokenMiddleware) for m in delivery.session.middleware)
    assert not any(isinstance(m, RetryAfterMiddleware) for m in delivery.session.middleware)
    await delivery.session.close()
    await bot.session.close()
