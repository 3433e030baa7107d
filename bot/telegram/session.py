"""Session middleware for outgoing Bot API requests, and keeping the token out of logs.

- `RetryAfterMiddleware`: on 429 (TelegramRetryAfter) wait `retry_after` seconds and send again instead of
  dropping the reply (a few times, and never for absurd waits).
- `PacingMiddleware`: keeps messages to Telegram's pace — per chat (about 1/s in a private chat with a small
  burst, 20/min in a group) and overall through the bot's `SendBudget` (`Settings.messages_per_second`).
- `SendBudget`: the ONE overall rate of a bot token. Telegram counts every message of the token (~30/s), so the
  replies' pacing and the digest delivery (bot/digest/delivery.py) reserve from the same object: `create_bot` makes it,
  `send_budget_of(bot)` finds it, `digest_service` passes it to its Deliverer.
- `caller_handles_flood_control()`: a block whose requests skip both (for code with its own pacing and 429
  handling, such as the digest delivery).
- `TokenRedactingFilter` / `redact`: the bot token never reaches a log line, an exception message or a
  logged URL.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from aiogram import Bot
from aiogram.client.session.middlewares.base import BaseRequestMiddleware, NextRequestMiddlewareType
from aiogram.exceptions import TelegramRetryAfter
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

log = logging.getLogger(__name__)

REDACTED = "<BOT_TOKEN>"
MAX_RETRIES = 5
MAX_RETRY_AFTER_SECONDS = 120.0

Sleep = Callable[[float], Awaitable[None]]

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


# --- token redaction -----------------------------------------------------------------------------------


def redact(value: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        if secret:
            value = value.replace(secret, REDACTED)
    return value


def _redact_exception(error: BaseException, secrets: tuple[str, ...]) -> None:
    """Scrub the token from an exception, its text attributes (aiogram keeps `message`, a decode error
    `data`: the body that could echo the URL) and its cause chain, in place."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        for attribute in ("message", "data"):
            value = getattr(current, attribute, None)
            if isinstance(value, str) and any(secret in value for secret in secrets):
                setattr(current, attribute, redact(value, secrets))
        if any(secret in str(arg) for arg in current.args for secret in secrets):
            current.args = tuple(redact(str(arg), secrets) for arg in current.args)
        current = current.__cause__ or current.__context__


class TokenRedactingFilter(logging.Filter):
    """A handler filter: renders the record (message, arguments, traceback) and replaces the token."""

    def __init__(self, *secrets: str) -> None:
        super().__init__()
        self.secrets = tuple(s for s in secrets if s)

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secrets:
            return True
        message = record.getMessage()
        record.msg = redact(message, self.secrets)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text, self.secrets)
        if record.stack_info:
            record.stack_info = redact(record.stack_info, self.secrets)
        return True


def install_token_redaction(token: str, logger: logging.Logger | None = None) -> TokenRedactingFilter:
    """Add the filter to every handler of `logger` (the root logger by default), once."""
    target = logger or logging.getLogger()
    found = TokenRedactingFilter(token)
    for handler in target.handlers:
        if not any(
            isinstance(f, TokenRedactingFilter) and f.secrets == found.secrets for f in handler.filters
        ):
            handler.addFilter(found)
    return found


# --- opting out ---------------------------------------------------------------------------------------

_CALLER_HANDLES_FLOOD = contextvars.ContextVar("caller_handles_flood_control", default=False)


@contextlib.contextmanager
def caller_handles_flood_control() -> Iterator[None]:
    """Requests made inside this block skip the pacing and the 429 retry of the session middlewares: for code
    with its own pacing and 429 handling (the digest delivery, whose waits must end at once on shutdown).

        with caller_handles_flood_control():
            await bot.send_message(chat_id, text)
    """
    token = _CALLER_HANDLES_FLOOD.set(True)
    try:
        yield
    finally:
        _CALLER_HANDLES_FLOOD.reset(token)


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


class RedactTokenMiddleware(BaseRequestMiddleware):
    """Every error leaves the session with the token scrubbed from it (the outermost middleware of every session
    of ours: the bot's, and the digest delivery's, whose errors are stored in the outbox and printed by the CLI)."""

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        try:
            return await make_request(bot, method)
        except Exception as error:
            _redact_exception(error, (bot.token,))
            raise


# --- response types ------------------------------------------------------------------------------------

# aiogram checks every answer with `Response[method.__returning__]`; pydantic keeps parametrized models in a
# WeakValueDictionary, so once the garbage collector frees one, the next request rebuilds its schema (5-15 ms
# per sendMessage, measured in bench/bot_bench.py). Holding them here makes it a dictionary lookup.
_RESPONSE_TYPES: dict[object, object] = {}


class PinResponseTypesMiddleware(BaseRequestMiddleware):
    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        returning = method.__returning__
        if returning not in _RESPONSE_TYPES:
            _RESPONSE_TYPES[returning] = Response[returning]  # type: ignore[valid-type]
        return await make_request(bot, method)


# --- pacing --------------------------------------------------------------------------------------------


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

    @property
    def rate(self) -> float:
        return self.pace.rate

    def _earliest(self, now: float, burst: int) -> float:
        moment = max(now, self._theoretical - (burst - 1) * self.pace.interval)
        if self._booked:
            moment = max(moment, self._booked[-1])  # after every slot booked ahead
            if len(self._booked) == self._booked.maxlen:
                moment = max(moment, self._booked[0] + self._window)
        return moment

    def _book(self, moment: float, *, on_time_within: float = 0.0) -> None:
        """Hand out the slot at `moment`. One taken up to `on_time_within` after its theoretical time still
        counts as on time: a smooth sender wakes a little late at every slot (timer and event-loop delays),
        and restarting the schedule from each late wake-up would add that delay to every slot."""
        late = moment - self._theoretical
        start = self._theoretical if 0.0 <= late <= on_time_within else max(self._theoretical, moment)
        self._theoretical = start + self.pace.interval
        self._booked.append(moment)

    def reserve(self, *, smooth: bool = False) -> float:
        """Plain: book the next slot (within the burst) and return the seconds to wait before sending.

        `smooth=True`: 0.0 means a slot was taken, send now; a positive value means NO slot was taken — sleep
        that long and call again. (Booking ahead instead would let 64 concurrent fan-out workers keep the
        budget 64 slots in the future, and every reply would queue behind them.)"""
        now = self._clock()
        moment = self._earliest(now, 1 if smooth else self.pace.burst)
        if smooth:
            if moment > now:
                return moment - now
            self._book(moment, on_time_within=self.pace.interval)
            return 0.0
        self._book(moment)
        return moment - now


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

    async def wait(self, method: TelegramMethod[Any]) -> None:
        """The chat's pace first, then a slot of the overall budget (see SendBudget)."""
        if not isinstance(method, _SENDING_METHODS) or _CALLER_HANDLES_FLOOD.get():
            return
        chat_id = getattr(method, "chat_id", None)
        if chat_id is not None:
            is_private = isinstance(chat_id, int) and chat_id > 0
            per_chat = self._pacer.reserve(chat_id, self.private if is_private else self.group)
            if per_chat > 0:
                await self._sleep(per_chat)
        overall = self.budget.reserve()
        if overall > 0:
            await self._sleep(overall)

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        await self.wait(method)
        return await make_request(bot, method)


def install_session_middlewares(
    bot: Bot, *, messages_per_second: float | None, budget: SendBudget | None = None
) -> None:
    """Token scrubbing outermost, then 429 retry, pacing (unless None) inside: a retried request takes its place
    in the pace again. The pacing draws on `budget` (a new SendBudget by default); `send_budget_of(bot)` finds it."""
    bot.session.middleware(RedactTokenMiddleware())
    bot.session.middleware(PinResponseTypesMiddleware())
    bot.session.middleware(RetryAfterMiddleware())
    if messages_per_second is not None:
        bot.session.middleware(PacingMiddleware(messages_per_second=messages_per_second, budget=budget))


def send_budget_of(bot: Bot) -> SendBudget | None:
    """The overall budget the bot's replies are paced with (None without pacing): whoever else sends with
    this token in this process (the digest delivery, on its own session) must draw on it too."""
    for middleware in bot.session.middleware:
        if isinstance(middleware, PacingMiddleware):
            return middleware.budget
    return None
