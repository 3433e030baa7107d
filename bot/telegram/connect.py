"""Waiting for Telegram at start: getMe with backoff until it answers (one WARNING naming TELEGRAM_API_URL for
the outage, one INFO line "connected as @name" when it ends), while the background services already run."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass

from aiogram import Bot
from aiogram.exceptions import (
    AiogramError,
    ClientDecodeError,
    TelegramRetryAfter,
    TelegramUnauthorizedError,
)
from aiogram.types import (
    User,
)

from bot.config import Settings
from bot.telegram.retries import caller_handles_flood_control

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class StartupBackoff:
    """How run() retries getMe while Telegram cannot be reached: `first` seconds, doubling up to `maximum`, each
    delay scaled by a random factor within 1 ± `jitter` (and still at most `maximum`); one attempt gives up
    after `attempt_timeout` seconds (a network that drops packets would otherwise hold it for a minute)."""

    first: float = 1.0
    maximum: float = 60.0
    jitter: float = 0.1
    attempt_timeout: float = 10.0

    def delays(self) -> Iterator[float]:
        delay = self.first
        while True:
            yield min(delay * random.uniform(1.0 - self.jitter, 1.0 + self.jitter), self.maximum)
            delay = min(delay * 2.0, self.maximum)


DEFAULT_STARTUP_BACKOFF = StartupBackoff()


async def wait_for_telegram(
    bot: Bot,
    stop: asyncio.Event,
    settings: Settings,
    backoff: StartupBackoff = DEFAULT_STARTUP_BACKOFF,
) -> User | None:
    """getMe until Telegram answers: the bot's user (cached by aiogram, so polling does not ask again), or None
    when `stop` is set first (a signal: return at once, mid-request or mid-wait).

    Every failure but 401 is retried after `backoff`'s delays: network errors, timeouts, 5xx, a long 429,
    answers that are not the Bot API's (a proxy's error page, a 404 of a wrong URL). The first failure logs one
    WARNING naming TELEGRAM_API_URL and the reason, the next ones DEBUG lines only. A token Telegram refuses
    (TelegramUnauthorizedError) is raised at once."""
    delays = backoff.delays()
    failures = 0
    started = time.monotonic()
    while not stop.is_set():
        try:
            me = await _get_me_unless_stopped(bot, stop, backoff.attempt_timeout)
        except TelegramUnauthorizedError:
            raise
        except (AiogramError, TimeoutError) as error:
            failures += 1
            delay = next(delays)
            if isinstance(error, TelegramRetryAfter):  # a 429 longer than the session middleware waits
                delay = max(delay, float(error.retry_after))
            reason = _failure_reason(error, backoff.attempt_timeout)
            if failures == 1:
                log.warning(
                    "cannot reach Telegram at TELEGRAM_API_URL=%s: %s; retrying with backoff (at most %.0f s "
                    "apart) while the other services run",
                    settings.telegram_api_url,
                    reason,
                    backoff.maximum,
                )
            else:
                log.debug(
                    "getMe failed again (attempt %d): %s; next attempt in %.1f s", failures, reason, delay
                )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
            continue
        if me is None:
            break
        if failures:
            log.info(
                "connected as @%s (Telegram was unreachable for %.0f s, %d failed attempts)",
                me.username,
                time.monotonic() - started,
                failures,
            )
        else:
            log.info("connected as @%s", me.username)
        return me
    return None


async def _get_me_unless_stopped(bot: Bot, stop: asyncio.Event, seconds: float) -> User | None:
    """`bot.me()` within `seconds`, or None (the request cancelled) as soon as `stop` is set."""

    async def get_me() -> User:
        # The backoff here is the retry: the session's own 5xx and 429 retries would add their waits and
        # warnings to each attempt.
        with caller_handles_flood_control():
            async with asyncio.timeout(seconds):
                return await bot.me()

    request = asyncio.create_task(get_me())
    stopping = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({request, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        request.cancel()
        stopping.cancel()
        await asyncio.gather(request, stopping, return_exceptions=True)
    if stop.is_set() or request.cancelled():
        return None
    return request.result()


def _failure_reason(error: BaseException, timeout: float) -> str:
    """One short line: aiogram's text of the error (its URLs are already scrubbed of the token)."""
    if isinstance(error, TimeoutError):
        reason = f"no answer in {timeout:g} s"
    elif isinstance(error, ClientDecodeError):  # its text goes on with the whole body
        reason = f"not a Bot API answer ({error.message}: {type(error.original).__name__})"
    else:
        reason = str(error)
    reason = " ".join(reason.split())
    return reason if len(reason) <= 300 else reason[:299] + "…"
