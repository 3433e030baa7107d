"""The digest fan-out's pace and its knobs (`DeliveryConfig`).

Pacing: at most `settings.messages_per_second` overall — one budget shared with the bot's replies
(`bot.telegram.pacing.SendBudget`, found on the bot by `digest_service`), so replies plus fan-out stay within
Telegram's per-token limit (the fan-out never books slots ahead: a reply waits at most about one slot behind
it); per chat, one message per second in a private chat, 20 per minute in a group or channel.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from bot.config import Settings
from bot.telegram.limits import GROUP_MESSAGES_PER_MINUTE, PRIVATE_CHAT_INTERVAL_SECONDS
from bot.telegram.pacing import Pace, Pacer, SendBudget


@dataclass(frozen=True, slots=True)
class DeliveryConfig:
    """Knobs of the sender; tests shrink the delays."""

    messages_per_second: float = 30.0
    private_interval: float = PRIVATE_CHAT_INTERVAL_SECONDS
    group_interval: float = 60.0 / GROUP_MESSAGES_PER_MINUTE
    concurrency: int = 64
    transient_retries: int = 4  # network errors and 5xx, per part, before the job waits for the next cycle
    backoff_base: float = 0.5
    backoff_max: float = 30.0
    failed_retry_delay: float = 60.0  # a `failed` job is tried again this much later (the next cycle)
    max_retry_after: float = 600.0  # a longer 429 wait releases the worker and reschedules the job

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> DeliveryConfig:
        return cls(messages_per_second=settings.messages_per_second, **overrides)


class _Pacing:
    """Per-chat pace first (waiting for it does not hold an overall slot), then a slot of the bot's overall
    budget, shared with the replies' pacing when the service runs inside the bot (see bot.telegram.pacing.SendBudget).
    Digest messages take slots smoothly — never booked ahead, never the burst — so a reply waits at most about
    one slot behind a fan-out. The workers queue for that slot one at a time (a FIFO lock): the one at the
    front sleeps until the budget is free and takes it, the others wait on the lock instead of all waking at
    every slot."""

    def __init__(
        self,
        config: DeliveryConfig,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
        budget: SendBudget | None = None,
        stop: asyncio.Event | None = None,
    ) -> None:
        self._pacer = Pacer(clock)
        self._sleep = sleep
        self._stop = stop
        self._turn = asyncio.Lock()
        self.budget = budget or SendBudget(config.messages_per_second, clock=clock)
        self.private = Pace(rate=1.0 / config.private_interval, burst=1)
        self.group = Pace(rate=1.0 / config.group_interval, burst=1)

    def _pace(self, chat_id: int) -> Pace:
        return self.private if chat_id > 0 else self.group

    async def wait(self, chat_id: int) -> float | None:
        """Returns when this worker may send to `chat_id` now: the moment of the budget slot it took, or None
        when asked to stop first (no slot taken; the caller checks)."""
        per_chat = self._pacer.reserve(chat_id, self._pace(chat_id))
        if per_chat > 0:
            await self._sleep(per_chat)
        async with self._turn:
            while (wait := self.budget.reserve(smooth=True)) > 0:
                if self._stop is not None and self._stop.is_set():
                    return None
                await self._sleep_for_slot(wait)
            slot = self.budget.last_booked
            # Several instances: the slot all of them share comes after this process's own (held in the lock,
            # so the fan-out's workers still take shared slots one at a time).
            shared = await self.budget.shared_wait()
            if shared > 0:
                await self._sleep(shared)
            return slot

    async def _sleep_for_slot(self, seconds: float) -> None:
        """Sleep until the budget's next slot, or until a refund frees one sooner (a 502 elsewhere: that slot
        is taken at once, not lost while this worker sleeps)."""
        refunded = self.budget.refunded()
        sleeper = asyncio.ensure_future(self._sleep(seconds))
        try:
            await asyncio.wait((sleeper, refunded), return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeper.cancel()

    def refund(self, chat_id: int, slot: float) -> None:
        """The message sent in `slot` to `chat_id` was not taken (a 5xx): neither Telegram's overall count
        nor the chat's holds it, so both slots are given back."""
        self.budget.refund(slot)
        self._pacer.release(chat_id, self._pace(chat_id))

    def chat_ready_in(self, chat_id: int) -> float:
        """Seconds until the chat's own pace allows its next message (nothing reserved)."""
        return self._pacer.ready_in(chat_id, self._pace(chat_id))

    def hold_chat(self, chat_id: int, seconds: float) -> None:
        """After a 429 for this chat: its next reservation starts after `seconds`."""
        self._pacer.reserve(chat_id, Pace(rate=1.0 / max(seconds, 0.001), burst=1))
