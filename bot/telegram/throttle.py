"""Per-user flood throttling: a token bucket per user; past it, updates are dropped and the user gets ONE
polite notice per throttled stretch (not one per message). The stretch ends when the bucket has a token
again."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import CallbackQuery, InlineQuery, Message, TelegramObject, User

from bot.clock import Clock, system_clock
from bot.telegram.texts import locale_of, text
from storage.interfaces import SharedLimitStore

log = logging.getLogger(__name__)

# Generous for people (paging quickly through results is fine), tight for scripts: 10 requests at once,
# then one a second.
DEFAULT_BURST = 10
DEFAULT_RATE_PER_SECOND = 1.0
_PRUNE_AT = 10_000


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float
    notified: bool = False


class FloodThrottle:
    """The pure part: whether a user may go on, and whether to tell them they may not."""

    def __init__(
        self,
        *,
        burst: int = DEFAULT_BURST,
        rate_per_second: float = DEFAULT_RATE_PER_SECOND,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if burst < 1 or rate_per_second <= 0:
            raise ValueError("burst and rate must be positive")
        self.burst = burst
        self.rate = rate_per_second
        self._clock = clock
        self._buckets: dict[int, _Bucket] = {}

    def check(self, user_id: int) -> tuple[bool, bool]:
        """(allowed, notify): `notify` is True only for the first refusal of a throttled stretch."""
        now = self._clock()
        bucket = self._buckets.get(user_id)
        if bucket is None:
            if len(self._buckets) >= _PRUNE_AT:
                self._prune(now)
            bucket = self._buckets[user_id] = _Bucket(float(self.burst), now)
        else:
            bucket.tokens = min(float(self.burst), bucket.tokens + (now - bucket.updated) * self.rate)
            bucket.updated = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            bucket.notified = False
            return True, False
        notify = not bucket.notified
        bucket.notified = True
        return False, notify

    def _prune(self, now: float) -> None:
        """Forget users whose bucket has refilled completely (they are as good as new)."""
        full_after = self.burst / self.rate
        for user_id in [uid for uid, b in self._buckets.items() if now - b.updated >= full_after]:
            del self._buckets[user_id]


def addressed_to_bot(event: TelegramObject) -> bool:
    """Only what the bot answers counts towards a user's flood budget: in groups that is a command, never the
    chat's ordinary messages (an album of ten photos must not draw a notice into the group)."""
    if isinstance(event, Message) and event.chat.type != "private":
        return (event.text or event.caption or "").startswith("/")
    return True


class ThrottleMiddleware(BaseMiddleware):
    """Outer middleware for messages, callback queries and inline queries (one throttle shared by them).

    With `shared` limits (several instances on one database) each user's bucket lives in the database under
    `scope`, so a flood spread over the instances is throttled as one; when the database cannot answer, this
    instance's own bucket decides (a throttle must never stop the bot)."""

    def __init__(
        self,
        throttle: FloodThrottle | None = None,
        *,
        shared: SharedLimitStore | None = None,
        now: Clock = system_clock,
        scope: str = "user",
    ) -> None:
        self.throttle = throttle or FloodThrottle()
        self.shared = shared
        self.now = now
        self.scope = scope
        self._shared_failing = False

    async def check(self, user_id: int) -> tuple[bool, bool]:
        """(allowed, notify), from the shared bucket when there is one."""
        if self.shared is not None:
            try:
                allowed, refusals, _ = await self.shared.use_limit(
                    f"{self.scope}:{user_id}",
                    burst=self.throttle.burst,
                    per_second=self.throttle.rate,
                    now=self.now(),
                )
            except Exception as error:  # any database failure: throttle locally, never drop the update
                if not self._shared_failing:
                    log.warning("shared throttle unavailable (%s): throttling per instance", error)
                self._shared_failing = True
            else:
                self._shared_failing = False
                return allowed, refusals == 1
        return self.throttle.check(user_id)

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        user: User | None = data.get("event_from_user")
        if user is None or not addressed_to_bot(event):
            return await handler(event, data)
        allowed, notify = await self.check(user.id)
        if allowed:
            return await handler(event, data)
        log.info("throttled user %d (%s)", user.id, type(event).__name__)
        notice = text("common.throttled", locale_of(user.language_code))
        if isinstance(event, CallbackQuery):
            # A callback query must be answered anyway, or the button spins.
            await event.answer(notice if notify else None)
        elif isinstance(event, Message) and notify:
            await event.answer(notice)
        elif isinstance(event, InlineQuery):
            await event.answer([], cache_time=1, is_personal=True)
        return None
