"""Keeping messages to Telegram's pace: per chat, and overall for the bot token.

- `Pace` / `Pacer`: a generic cell rate per key (GCRA), reserved before the wait.
- `SendBudget`: the ONE overall rate of a bot token. Telegram counts every message of the token (~30/s), so the
  replies' pacing and the digest delivery (bot/digest/sender.py) reserve from the same object: `create_bot` makes it,
  `send_budget_of(bot)` finds it, `digest_service` passes it to its Deliverer. With several instances on one
  database (PostgreSQL), `SendBudget.share(storage.shared_limits)` adds the database's slot to each message, so
  the instances together keep the one rate.
- `PacingMiddleware`: keeps messages to Telegram's pace — per chat (about 1/s in a private chat with a small
  burst, 20/min in a group) and overall through the bot's `SendBudget` (`Settings.messages_per_second`).
  Requests inside `caller_handles_flood_control()` (bot/telegram/retries.py) skip it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiogram import Bot
from aiogram.client.session.middlewares.base import BaseRequestMiddleware, NextRequestMiddlewareType
from aiogram.methods import (
    CopyMessage,
    ForwardMessage,
    SendAnimation,
    SendAudio,
    SendDocument,
    SendMediaGroup,
    SendMessage,
    SendPhoto,
    SendVideo,
    SendVoice,
)
from aiogram.methods.base import Response, TelegramMethod, TelegramType

from bot.telegram.limits import GROUP_MESSAGES_PER_MINUTE, PRIVATE_CHAT_INTERVAL_SECONDS
from bot.telegram.retries import Sleep, answer_not_taken, caller_handles_flood
from storage.interfaces import SharedLimitStore

log = logging.getLogger(__name__)

# Methods that post a new message: these are what Telegram's flood limits count.
_SENDING_METHODS: tuple[type[TelegramMethod[Any]], ...] = (
    SendMessage,
    SendDocument,
    SendPhoto,
    SendAnimation,
    SendAudio,
    SendVideo,
    SendVoice,
    SendMediaGroup,
    CopyMessage,
    ForwardMessage,
)


@dataclass(slots=True)
class Pace:
    """A generic cell rate: `rate` per second on average, `burst` back to back."""

    rate: float
    burst: int

    @property
    def interval(self) -> float:
        return 1.0 / self.rate


PRIVATE_PACE = Pace(rate=1.0 / PRIVATE_CHAT_INTERVAL_SECONDS, burst=4)
GROUP_PACE = Pace(rate=GROUP_MESSAGES_PER_MINUTE / 60.0, burst=5)


class Pacer:
    """Reservation-based pacing (GCRA): `reserve(key)` returns how long to wait before sending. Reserving
    happens before the wait, so concurrent coroutines queue up instead of racing."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._arrival: dict[object, float] = {}

    def reserve(self, key: object, pace: Pace) -> float:
        now = self._clock()
        theoretical = max(self._arrival.get(key, now), now)
        wait = theoretical - (pace.burst - 1) * pace.interval - now
        wait = max(wait, 0.0)
        self._arrival[key] = theoretical + pace.interval
        if len(self._arrival) > 10_000:
            self._arrival = {k: t for k, t in self._arrival.items() if t > now}
        return wait

    def release(self, key: object, pace: Pace) -> None:
        """Undo the last `reserve(key, pace)`: the message it was for was not taken (a 5xx), so it did not
        count against the chat's limit either."""
        if key in self._arrival:
            self._arrival[key] -= pace.interval

    def ready_in(self, key: object, pace: Pace) -> float:
        """How long until `reserve(key, pace)` would return 0, reserving nothing."""
        now = self._clock()
        theoretical = max(self._arrival.get(key, now), now)
        return max(theoretical - (pace.burst - 1) * pace.interval - now, 0.0)


# Telegram's own bucket holds ~30 messages: the budget's burst stays a few below the rate, so a send that
# leaves a little after its slot (a loaded event loop, a database write before it) still fits.
BUDGET_BURST_MARGIN = 5


class SendBudget:
    """One bot's overall send rate, shared by everything that sends with its token. Two rules at once: a GCRA
    (`rate` per second on average, at most `burst` back to back) and a sliding window (never more than
    `rate` slots in any second, for a fractional rate `max(1, floor(rate))` slots in the time they take at
    `rate`), which is Telegram's "30 messages per second" taken literally. Waiting for a per-chat pace must
    happen BEFORE `reserve()`: a slot reserved and then held while the chat's pace runs would be spent later,
    on top of others.

    Two kinds of sender draw on it. Replies (`reserve()`) book their slot at once and may burst into a quiet
    window. Bulk sending, the digest fan-out (`reserve(smooth=True)`), never books ahead and never bursts:
    it takes a slot only when one is free now, otherwise it is told how long until one is and asks again then.
    A fan-out of any size thus holds no future slot, and a reply during it waits at most about one slot
    (1/rate s): the one the fan-out would have taken next."""

    def __init__(
        self,
        messages_per_second: float,
        *,
        burst: int | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if messages_per_second <= 0:
            raise ValueError("messages_per_second must be positive")
        default_burst = max(1, int(messages_per_second) - BUDGET_BURST_MARGIN)
        self.pace = Pace(rate=messages_per_second, burst=max(1, burst or default_burst))
        self._clock = clock
        self._theoretical = clock()  # the GCRA's theoretical arrival time of the next slot
        slots = max(1, int(messages_per_second))
        self._window = slots / messages_per_second  # 1.0 s for a whole rate
        self._booked: deque[float] = deque(maxlen=slots)  # the last slots handed out, in time order
        self.last_booked = self._theoretical  # the moment of the slot the last reserve() handed out
        self._refunded: deque[float] = deque(maxlen=slots)  # slots given back, not handed out again yet
        self._refund_waiter: asyncio.Future[None] | None = None  # see refunded()
        self._shared: SharedLimitStore | None = None
        self._shared_failing = False
        self._shared_returned = 0  # refunded slots handed out again: their shared slots go back (shared_wait)

    @property
    def rate(self) -> float:
        return self.pace.rate

    def share(self, slots: SharedLimitStore | None) -> None:
        """Also take every message's slot from `slots`, the rate all instances on the database share."""
        self._shared = slots

    async def shared_wait(self) -> float:
        """After this process's own slot: the seconds until the shared slot (0.0 when not shared). When the
        database cannot answer, this instance goes on at its own rate (one log line per outage)."""
        if self._shared is None:
            return 0.0
        returned, self._shared_returned = self._shared_returned, 0
        try:
            wait = await self._shared.take_send_slot(self.pace.interval, returned=returned)
        except Exception as error:  # any database failure: fall back, never drop the message
            if not self._shared_failing:
                log.warning("shared send rate unavailable (%s): pacing this instance alone", error)
            self._shared_failing = True
            self._shared_returned += returned  # given back when the database answers again
            return 0.0
        if self._shared_failing:
            log.warning("shared send rate available again")
            self._shared_failing = False
        return wait

    def _earliest(self, now: float, burst: int | None) -> float:
        """The first moment both rules allow (`burst` None: the window's rule only)."""
        moment = now
        if burst is not None:
            moment = max(moment, self._theoretical - (burst - 1) * self.pace.interval)
        if self._booked:
            moment = max(moment, self._booked[-1])  # after every slot booked ahead
            if len(self._booked) == self._booked.maxlen:
                moment = max(moment, self._booked[0] + self._window)
        return moment

    def _book(self, moment: float, *, on_time_within: float = 0.0, refunded: bool = False) -> None:
        """Hand out the slot at `moment`. One taken up to `on_time_within` after its theoretical time still
        counts as on time: a smooth sender wakes a little late at every slot (timer and event-loop delays),
        and restarting the schedule from each late wake-up would add that delay to every slot. A `refunded`
        slot is one the GCRA's schedule paid for already: only the window records it."""
        if not refunded:
            late = moment - self._theoretical
            start = self._theoretical if 0.0 <= late <= on_time_within else max(self._theoretical, moment)
            self._theoretical = start + self.pace.interval
        self._booked.append(moment)
        self.last_booked = moment

    def reserve(self, *, smooth: bool = False) -> float:
        """Plain: book the next slot (within the burst) and return the seconds to wait before sending.

        `smooth=True`: 0.0 means a slot was taken, send now; a positive value means NO slot was taken — sleep
        that long (or until `refunded()`) and call again. (Booking ahead instead would let 64 concurrent
        fan-out workers keep the budget 64 slots in the future, and every reply would queue behind them.)

        A slot given back by `refund()` less than a window ago goes first, under the window's rule only."""
        now = self._clock()
        while self._refunded and self._refunded[0] <= now - self._window:
            self._refunded.popleft()  # unused for a whole window: refunds never save up a burst
        if self._refunded:
            moment = self._earliest(now, None)
            if not smooth or moment <= now:
                self._refunded.popleft()
                self._book(moment, refunded=True)
                if self._shared is not None:
                    self._shared_returned += 1  # the slot's shared twin goes back too (shared_wait)
                return moment - now
        moment = self._earliest(now, 1 if smooth else self.pace.burst)
        if smooth:
            if moment > now:
                return moment - now
            self._book(moment, on_time_within=self.pace.interval)
            return 0.0
        self._book(moment)
        return moment - now

    def refund(self, moment: float) -> None:
        """Give back the slot handed out at `moment` (`last_booked` right after its reserve()): Telegram
        answered that the message was not taken (`answer_not_taken`), so it did not count it either. The window
        forgets it, and the next reservation takes it at once (under the window's rule only; the GCRA's
        schedule paid for it already), so the senders keep Telegram's full rate of messages actually taken. A
        smooth sender sleeping until its slot is woken for it (`refunded()`): the slot is not lost to a
        sleep."""
        with contextlib.suppress(ValueError):  # out of the window already
            self._booked.remove(moment)
        self._refunded.append(moment)
        if self._refund_waiter is not None and not self._refund_waiter.done():
            self._refund_waiter.set_result(None)
        self._refund_waiter = None

    def refunded(self) -> asyncio.Future[None]:
        """Resolved at the next refund: a smooth sender sleeps until its slot or this, whichever comes first."""
        loop = asyncio.get_running_loop()
        if self._refund_waiter is None or self._refund_waiter.get_loop() is not loop:
            self._refund_waiter = loop.create_future()
        return self._refund_waiter


class PacingMiddleware(BaseRequestMiddleware):
    def __init__(
        self,
        *,
        messages_per_second: float,
        private: Pace = PRIVATE_PACE,
        group: Pace = GROUP_PACE,
        clock: Callable[[], float] = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        budget: SendBudget | None = None,
    ) -> None:
        self.budget = budget or SendBudget(messages_per_second, clock=clock)
        self.private = private
        self.group = group
        self._pacer = Pacer(clock)
        self._sleep = sleep

    async def wait(self, method: TelegramMethod[Any]) -> float | None:
        """The chat's pace first, then a slot of the overall budget (see SendBudget). Returns the slot's moment
        (None for a request that takes none)."""
        if not isinstance(method, _SENDING_METHODS) or caller_handles_flood():
            return None
        chat_id = getattr(method, "chat_id", None)
        if chat_id is not None:
            is_private = isinstance(chat_id, int) and chat_id > 0
            per_chat = self._pacer.reserve(chat_id, self.private if is_private else self.group)
            if per_chat > 0:
                await self._sleep(per_chat)
        overall = self.budget.reserve()
        slot = self.budget.last_booked
        if overall > 0:
            await self._sleep(overall)
        shared = await self.budget.shared_wait()
        if shared > 0:
            await self._sleep(shared)
        return slot

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        slot = await self.wait(method)
        try:
            return await make_request(bot, method)
        except Exception as error:
            if slot is not None and answer_not_taken(error):
                self.budget.refund(slot)  # Telegram did not count it: the digest fan-out may use the slot
            raise


def send_budget_of(bot: Bot) -> SendBudget | None:
    """The overall budget the bot's replies are paced with (None without pacing): whoever else sends with
    this token in this process (the digest delivery, on its own session) must draw on it too."""
    for middleware in bot.session.middleware:
        if isinstance(middleware, PacingMiddleware):
            return middleware.budget
    return None
