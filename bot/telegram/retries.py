"""Sending a Bot API request again when Telegram did not take it, and what an error proves.

- `RetryAfterMiddleware`: on 429 (TelegramRetryAfter) wait `retry_after` seconds and send again instead of
  dropping the reply (a few times, and never for absurd waits).
- `ServerErrorRetryMiddleware`: on a 5xx (Telegram did not take the request) send again after a short backoff
  (0.2, 0.5, 1 s), and after a network error too where repeating cannot double anything; when it gives up, ONE
  warning line (no traceback), and the error is marked (`retries_exhausted`) so the error handler adds none.
- `answer_not_taken(error)`: whether an error is an answer proving Telegram did not carry the request out.
- `caller_handles_flood_control()`: a block whose requests skip both retries and the pacing
  (bot/telegram/pacing.py), for code with its own pacing and retries, such as the digest delivery;
  `caller_handles_flood()` tells the middlewares whether they are inside one.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import re
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from typing import Any

import aiohttp
from aiogram import Bot
from aiogram.client.session.middlewares.base import BaseRequestMiddleware, NextRequestMiddlewareType
from aiogram.exceptions import (
    ClientDecodeError,
    TelegramEntityTooLarge,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.methods import GetUpdates
from aiogram.methods.base import Response, TelegramMethod, TelegramType

from bot.telegram.redaction import redact

log = logging.getLogger(__name__)

MAX_RETRIES = 5
MAX_RETRY_AFTER_SECONDS = 120.0
# A reply that meets a 5xx is sent again after these pauses: short, so the update is not held long (at most
# REPLY_RETRY_MAX_SECONDS from the first attempt; the pacing inside adds its own, bounded, waits).
REPLY_RETRY_DELAYS = (0.2, 0.5, 1.0)
REPLY_RETRY_MAX_SECONDS = 5.0

Sleep = Callable[[float], Awaitable[None]]

# --- what an error proves -----------------------------------------------------------------------------

# Telegram's front end answers a 5xx with an HTML page when the Bot API server behind it is unreachable;
# aiogram, finding no JSON, raises ClientDecodeError with the page as `data`.
_ERROR_PAGE = re.compile(
    r"\b50[0-9]\b|bad gateway|service unavailable|gateway time-?out|internal server error", re.IGNORECASE
)


def answer_not_taken(error: BaseException) -> bool:
    """True when Telegram answered, and the answer proves the request was not carried out (nor counted
    against the flood limits): a 5xx, as JSON from the Bot API (TelegramServerError) or as the front end's
    HTML error page. Sending again cannot double the message. A network error proves nothing (the request
    may have arrived); a 4xx is final."""
    if isinstance(error, TelegramServerError):
        return True
    if isinstance(error, ClientDecodeError):
        return isinstance(error.data, str) and _ERROR_PAGE.search(error.data[:500]) is not None
    return False


def _never_sent(error: BaseException) -> bool:
    """A network error raised before the request left: the connection could not even be opened."""
    return isinstance(error, TelegramNetworkError) and isinstance(
        error.__cause__, aiohttp.ClientConnectorError
    )


# After an ambiguous network error (the request may have been carried out) only these are sent again:
# reading, and setting something to the same value again. Sends, edits, deletes and callback answers are
# not: a repeat doubles a message, or fails with an error ("message is not modified", "query is too old")
# the first attempt did not have.
_IDEMPOTENT_METHODS = frozenset(
    {
        "sendChatAction",
        "setMyCommands",
        "deleteMyCommands",
        "setMyDescription",
        "setMyShortDescription",
        "setMyName",
        "setChatMenuButton",
        "setMyDefaultAdministratorRights",
        "setWebhook",
        "deleteWebhook",
    }
)


def _idempotent(method: TelegramMethod[Any]) -> bool:
    name = method.__api_method__
    return name.startswith("get") or name in _IDEMPOTENT_METHODS


_ATTEMPTS = "_govdigest_attempts"  # set on an error ServerErrorRetryMiddleware gave up on


def retries_exhausted(error: BaseException) -> int:
    """How many attempts ServerErrorRetryMiddleware made before it gave up on (and logged) this error; 0
    when it did not handle it. The error handler logs nothing more for such an error."""
    attempts = getattr(error, _ATTEMPTS, 0)
    return attempts if isinstance(attempts, int) else 0


def _one_line(error: BaseException, secrets: tuple[str, ...]) -> str:
    if isinstance(error, ClientDecodeError):
        detail = f"non-JSON answer {str(error.data)[:200]!r}"
    else:
        detail = str(getattr(error, "message", "") or error)
    return redact(f"{type(error).__name__}: {' '.join(detail.split())}", secrets)


# --- opting out ---------------------------------------------------------------------------------------

_CALLER_HANDLES_FLOOD = contextvars.ContextVar("caller_handles_flood_control", default=False)


@contextlib.contextmanager
def caller_handles_flood_control() -> Iterator[None]:
    """Requests made inside this block skip the pacing, the 429 retry and the 5xx retry of the session
    middlewares: for code with its own pacing and retries (like the digest delivery, whose waits must end at
    once on shutdown, and whose bookkeeping must see every failed attempt).

        with caller_handles_flood_control():
            await bot.send_message(chat_id, text)
    """
    token = _CALLER_HANDLES_FLOOD.set(True)
    try:
        yield
    finally:
        _CALLER_HANDLES_FLOOD.reset(token)


def caller_handles_flood() -> bool:
    """Whether the current request is made inside `caller_handles_flood_control()`."""
    return _CALLER_HANDLES_FLOOD.get()


# --- 429 -----------------------------------------------------------------------------------------------


class RetryAfterMiddleware(BaseRequestMiddleware):
    """On TelegramRetryAfter wait and retry (RedactTokenMiddleware, outside it, scrubs what leaves)."""

    def __init__(
        self,
        *,
        max_retries: int = MAX_RETRIES,
        max_wait: float = MAX_RETRY_AFTER_SECONDS,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.max_retries = max_retries
        self.max_wait = max_wait
        self._sleep = sleep

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        attempt = 0
        while True:
            try:
                return await make_request(bot, method)
            except TelegramRetryAfter as error:
                if (
                    attempt >= self.max_retries
                    or error.retry_after > self.max_wait
                    or _CALLER_HANDLES_FLOOD.get()
                ):
                    raise
                attempt += 1
                log.warning(
                    "429 on %s: waiting %d s (retry %d of %d)",
                    method.__api_method__,
                    error.retry_after,
                    attempt,
                    self.max_retries,
                )
                await self._sleep(float(error.retry_after))


# --- 5xx and network errors ----------------------------------------------------------------------------


class ServerErrorRetryMiddleware(BaseRequestMiddleware):
    """Sends a request again when Telegram answered a 5xx (it did not take it: `answer_not_taken`), and after a
    network error when that cannot double anything (the connection never opened, or the method is idempotent),
    after each of `delays` in turn, while less than `max_seconds` have passed since the first attempt. Then it
    logs ONE warning line and re-raises, the error marked (`retries_exhausted`). getUpdates is left alone: the
    polling loop has its own backoff."""

    def __init__(
        self,
        *,
        delays: Sequence[float] = REPLY_RETRY_DELAYS,
        max_seconds: float = REPLY_RETRY_MAX_SECONDS,
        sleep: Sleep = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.delays = tuple(delays)
        self.max_seconds = max_seconds
        self._sleep = sleep
        self._clock = clock

    @staticmethod
    def retryable(method: TelegramMethod[Any], error: BaseException) -> bool:
        if answer_not_taken(error):
            return True
        if isinstance(error, TelegramNetworkError) and not isinstance(error, TelegramEntityTooLarge):
            return _never_sent(error) or _idempotent(method)
        return False

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        if isinstance(method, GetUpdates) or _CALLER_HANDLES_FLOOD.get():
            return await make_request(bot, method)
        started = self._clock()
        attempt = 0
        while True:
            attempt += 1
            try:
                return await make_request(bot, method)
            except (TelegramServerError, TelegramNetworkError, ClientDecodeError) as error:
                if not self.retryable(method, error):
                    raise
                delay = self.delays[attempt - 1] if attempt <= len(self.delays) else None
                if delay is None or self._clock() - started + delay > self.max_seconds:
                    setattr(error, _ATTEMPTS, attempt)  # read back by retries_exhausted()
                    chat_id = getattr(method, "chat_id", None)
                    log.warning(
                        "%s%s failed %d times, giving up: %s",
                        method.__api_method__,
                        "" if chat_id is None else f" to chat {chat_id}",
                        attempt,
                        _one_line(error, (bot.token,)),
                    )
                    raise
                log.debug("%s: %s; retrying in %.1f s", method.__api_method__, type(error).__name__, delay)
                await self._sleep(delay)
