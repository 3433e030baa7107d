"""Session middleware for outgoing Bot API requests, and keeping the token out of logs.

- `RetryAfterMiddleware`: on 429 (TelegramRetryAfter) wait `retry_after` seconds and send again instead of
  dropping the reply (a few times, and never for absurd waits).
- `ServerErrorRetryMiddleware`: on a 5xx (Telegram did not take the request) send again after a short backoff
  (0.2, 0.5, 1 s), and after a network error too where repeating cannot double anything; when it gives up, ONE
  warning line (no traceback), and the error is marked (`retries_exhausted`) so the error handler adds none.
- `PacingMiddleware`: keeps messages to Telegram's pace — per chat (about 1/s in a private chat with a small
  burst, 20/min in a group) and overall through the bot's `SendBudget` (`Settings.messages_per_second`).
- `SendBudget`: the ONE overall rate of a bot token. Telegram counts every message of the token (~30/s), so the
  replies' pacing and the digest delivery (bot/digest/delivery.py) reserve from the same object: `create_bot` makes it,
  `send_budget_of(bot)` finds it, `digest_service` passes it to its Deliverer.
- `caller_handles_flood_control()`: a block whose requests skip all three (for code with its own pacing and
  retries, such as the digest delivery).
- `answer_not_taken(error)`: whether an error is an answer proving Telegram did not carry the request out.
- `TokenRedactingFilter` / `redact`: the bot token never reaches a log line, an exception message or a
  logged URL.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import re
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
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
from aiogram.methods import (
    CopyMessage,
    ForwardMessage,
    GetUpdates,
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
# A reply that meets a 5xx is sent again after these pauses: short, so the update is not held long (at most
# REPLY_RETRY_MAX_SECONDS from the first attempt; the pacing inside adds its own, bounded, waits).
REPLY_RETRY_DELAYS = (0.2, 0.5, 1.0)
REPLY_RETRY_MAX_SECONDS = 5.0

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

    @property
    def rate(self) -> float:
        return self.pace.rate

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
        if not isinstance(method, _SENDING_METHODS) or _CALLER_HANDLES_FLOOD.get():
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


def install_session_middlewares(
    bot: Bot,
    *,
    messages_per_second: float | None,
    budget: SendBudget | None = None,
    retry_delays: Sequence[float] | None = None,
) -> None:
    """Token scrubbing outermost, then the 5xx retry (pausing `retry_delays`, REPLY_RETRY_DELAYS by default),
    the 429 retry, and pacing (unless None) inside: a retried request takes its place in the pace again. The
    pacing draws on `budget` (a new SendBudget by default); `send_budget_of(bot)` finds it. For the bot's own
    requests (replies, commands); the digest delivery sends on a session of its own without these
    (bot.delivery.delivery_bot)."""
    bot.session.middleware(RedactTokenMiddleware())
    bot.session.middleware(PinResponseTypesMiddleware())
    delays = REPLY_RETRY_DELAYS if retry_delays is None else retry_delays  # read now: tests may shorten it
    bot.session.middleware(ServerErrorRetryMiddleware(delays=delays))
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
