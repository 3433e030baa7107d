"""Telegram's flood limits as token buckets: ~30 messages/s per bot, ~1/s per private chat with short bursts,
20/min per group, supergroup or channel. A refused send gets 429 with the whole seconds until a token
is free."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from tests.emulator.models import PRIVATE


@dataclass(frozen=True, slots=True)
class FloodLimits:
    """Rates and burst sizes; the defaults follow Telegram's published guidance."""

    global_per_second: float = 30.0
    global_burst: int = 30
    private_per_second: float = 1.0
    private_burst: int = 5
    group_per_minute: float = 20.0
    group_burst: int = 20


@dataclass(slots=True)
class TokenBucket:
    capacity: float
    rate: float  # tokens per second
    tokens: float
    updated: float

    def _refill(self, now: float) -> None:
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now

    def wait_time(self, now: float) -> float:
        """Seconds until one token is available (0 when one is available now)."""
        self._refill(now)
        return 0.0 if self.tokens >= 1.0 else (1.0 - self.tokens) / self.rate

    def take(self, now: float) -> None:
        self._refill(now)
        self.tokens -= 1.0


@dataclass(slots=True)
class FloodLimiter:
    limits: FloodLimits
    _global: TokenBucket | None = None
    _chats: dict[int, TokenBucket] = field(default_factory=dict)

    def check(self, chat_id: int, chat_type: str, now: float) -> tuple[str, int] | None:
        """Consume a send for `chat_id`, or return (scope, retry_after) when a limit refuses it."""
        if self._global is None:
            self._global = TokenBucket(
                self.limits.global_burst, self.limits.global_per_second, self.limits.global_burst, now
            )
        chat_bucket = self._chats.get(chat_id)
        if chat_bucket is None:
            if chat_type == PRIVATE:
                capacity, rate = self.limits.private_burst, self.limits.private_per_second
            else:
                capacity, rate = self.limits.group_burst, self.limits.group_per_minute / 60.0
            chat_bucket = self._chats[chat_id] = TokenBucket(capacity, rate, capacity, now)
        chat_wait = chat_bucket.wait_time(now)
        global_wait = self._global.wait_time(now)
        if chat_wait > 0 or global_wait > 0:
            chat_scope = "private" if chat_type == PRIVATE else "group"
            scope = chat_scope if chat_wait >= global_wait else "global"
            return scope, max(1, math.ceil(max(chat_wait, global_wait)))
        chat_bucket.take(now)
        self._global.take(now)
        return None


class ManualClock:
    """A clock a test moves by hand (`emulator.clock = clock = ManualClock()`; `clock.advance(1.0)`), so that
    flood-limit tests do not depend on how fast a loaded machine sends."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
