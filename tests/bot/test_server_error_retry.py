"""The replies' retry of 5xx answers and network errors (bot.telegram.ServerErrorRetryMiddleware), what an error
proves (`answer_not_taken`), and giving a refused message's slot back (SendBudget.refund): pure units with
fake sleeps and clocks."""

from __future__ import annotations

import asyncio
import heapq
import logging
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import aiohttp
import pytest
from aiogram import Bot
from aiogram.exceptions import (
    ClientDecodeError,
    TelegramBadRequest,
    TelegramEntityTooLarge,
    TelegramNetworkError,
    TelegramServerError,
)
from aiogram.methods import (
    AnswerCallbackQuery,
    EditMessageText,
    GetChat,
    GetUpdates,
    SendChatAction,
    SendMessage,
    TelegramMethod,
)
from aiohttp.client_reqrep import ConnectionKey

from bot.digest.pacing import DeliveryConfig, _Pacing
from bot.digest.sender import delivery_bot
from bot.telegram.pacing import Pace, Pacer, SendBudget
from bot.telegram.redaction import REDACTED
from bot.telegram.retries import (
    REPLY_RETRY_DELAYS,
    RetryAfterMiddleware,
    ServerErrorRetryMiddleware,
    answer_not_taken,
    caller_handles_flood_control,
    retries_exhausted,
)
from bot.telegram.session import install_session_middlewares
from tests.bot.test_telegram_budget import VirtualTime as _VirtualTime
from tests.emulator.flood import FloodLimiter, FloodLimits

TOKEN = "123456:TEST-token-for-the-emulator-000000000"
# Typed loosely, as aiogram types the next-request callable per method result.
MakeRequest = Any


class Sleeps:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


class VirtualTime(_VirtualTime):
    """test_telegram_budget's virtual clock, for sleeps that may be cancelled (a refund wakes a sleeping
    delivery worker, which cancels its sleep)."""

    async def run(self, until: float) -> None:
        await self.settle()
        while self._timers and self._timers[0][0] <= until:
            deadline, _, future = heapq.heappop(self._timers)
            if future.done():
                continue
            self.now = max(self.now, deadline)
            future.set_result(None)
            await self.settle()
        self.now = until


def failing(errors: list[BaseException], result: Any = "sent") -> tuple[MakeRequest, list[str]]:
    """A request that raises `errors` one per call, then answers `result`; the calls are counted."""
    calls: list[str] = []

    async def make_request(bot: Bot, method: TelegramMethod[Any]) -> Any:
        calls.append(method.__api_method__)
        if errors:
            raise errors.pop(0)
        return result

    return make_request, calls


def bad_gateway(method: TelegramMethod[Any]) -> TelegramServerError:
    return TelegramServerError(method=method, message="Bad Gateway")


def connection_lost(method: TelegramMethod[Any]) -> TelegramNetworkError:
    try:
        raise aiohttp.ServerDisconnectedError()
    except aiohttp.ServerDisconnectedError as cause:
        error = TelegramNetworkError(method=method, message="ServerDisconnectedError")
        error.__cause__ = cause
        return error


def connection_refused(method: TelegramMethod[Any]) -> TelegramNetworkError:
    key = ConnectionKey(**dict.fromkeys(ConnectionKey._fields))  # its fields vary between aiohttp versions
    cause = aiohttp.ClientConnectorError(key, OSError(111, "Connection refused"))
    error = TelegramNetworkError(method=method, message="ClientConnectorError")
    error.__cause__ = cause
    return error


@pytest.fixture
async def bot() -> AsyncIterator[Bot]:
    client = Bot(TOKEN)
    yield client
    await client.session.close()


async def test_a_5xx_is_sent_again_after_the_short_pauses(bot: Bot, caplog: pytest.LogCaptureFixture) -> None:
    method = SendMessage(chat_id=5, text="Подписка оформлена")
    time = Sleeps()
    make_request, calls = failing([bad_gateway(method), bad_gateway(method)])
    with caplog.at_level(logging.DEBUG, logger="bot.telegram"):
        result = await ServerErrorRetryMiddleware(sleep=time.sleep, clock=time)(make_request, bot, method)
    assert result == "sent" and len(calls) == 3
    assert time.slept == [0.2, 0.5]
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]  # recovered: nothing to report


async def test_giving_up_writes_one_warning_line_and_marks_the_error(
    bot: Bot, caplog: pytest.LogCaptureFixture
) -> None:
    method = SendMessage(chat_id=5, text="x")
    time = Sleeps()
    make_request, calls = failing([bad_gateway(method) for _ in range(10)])
    with caplog.at_level(logging.DEBUG), pytest.raises(TelegramServerError) as caught:
        await ServerErrorRetryMiddleware(sleep=time.sleep, clock=time)(make_request, bot, method)
    assert len(calls) == 1 + len(REPLY_RETRY_DELAYS) == 4
    assert time.slept == list(REPLY_RETRY_DELAYS)
    assert retries_exhausted(caught.value) == 4
    [line] = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert line.levelno == logging.WARNING and line.exc_info is None
    assert (
        line.getMessage()
        == "sendMessage to chat 5 failed 4 times, giving up: TelegramServerError: Bad Gateway"
    )


async def test_the_retries_stop_at_the_time_bound(bot: Bot) -> None:
    """Slow failing requests: no new attempt once the next pause would end past `max_seconds`."""
    method = SendMessage(chat_id=5, text="x")
    time = Sleeps()

    async def slow_502(bot: Bot, m: TelegramMethod[Any]) -> Any:
        time.now += 2.0  # each attempt takes 2 s to fail
        raise bad_gateway(m)

    middleware = ServerErrorRetryMiddleware(sleep=time.sleep, clock=time, max_seconds=5.0)
    with pytest.raises(TelegramServerError) as caught:
        await middleware(slow_502, bot, method)
    # Failed at 2.0, 4.2 and 6.7 s: a third attempt still started within 5 s (at 4.7), a fourth would not.
    assert retries_exhausted(caught.value) == 3 and time.slept == [0.2, 0.5]


async def test_an_html_gateway_page_counts_as_a_5xx_but_a_garbled_answer_does_not(bot: Bot) -> None:
    method = SendMessage(chat_id=5, text="x")
    page = ClientDecodeError("Failed to decode object", ValueError("no JSON"), "<html>502 Bad Gateway</html>")
    garbled = ClientDecodeError("Failed to decode object", ValueError("no JSON"), '{"ok": tru')
    assert answer_not_taken(page) and answer_not_taken(bad_gateway(method))
    assert not answer_not_taken(garbled)
    assert not answer_not_taken(TelegramBadRequest(method=method, message="Bad Request: chat not found"))
    assert not answer_not_taken(connection_lost(method))

    time = Sleeps()
    make_request, calls = failing([page])
    assert await ServerErrorRetryMiddleware(sleep=time.sleep, clock=time)(make_request, bot, method) == "sent"
    assert len(calls) == 2
    # A 200 whose body cannot be read may have posted the message: not sent again.
    make_request, calls = failing([garbled])
    with pytest.raises(ClientDecodeError):
        await ServerErrorRetryMiddleware(sleep=time.sleep, clock=time)(make_request, bot, method)
    assert len(calls) == 1


@pytest.mark.parametrize(
    ("method", "retried"),
    [
        (SendMessage(chat_id=5, text="x"), False),  # may have been posted: a repeat would double it
        (EditMessageText(chat_id=5, message_id=1, text="x"), False),  # "message is not modified" next time
        (AnswerCallbackQuery(callback_query_id="1"), False),  # "query is too old" next time
        (GetChat(chat_id=5), True),
        (SendChatAction(chat_id=5, action="typing"), True),
    ],
)
async def test_an_ambiguous_network_error_is_retried_only_where_a_repeat_cannot_double_anything(
    bot: Bot, method: TelegramMethod[Any], retried: bool
) -> None:
    time = Sleeps()
    make_request, calls = failing([connection_lost(method)])
    middleware = ServerErrorRetryMiddleware(sleep=time.sleep, clock=time)
    if retried:
        assert await middleware(make_request, bot, method) == "sent"
    else:
        with pytest.raises(TelegramNetworkError):
            await middleware(make_request, bot, method)
    assert len(calls) == (2 if retried else 1)


async def test_a_connection_that_never_opened_is_retried_for_any_method(bot: Bot) -> None:
    method = SendMessage(chat_id=5, text="x")
    time = Sleeps()
    make_request, calls = failing([connection_refused(method)])
    assert await ServerErrorRetryMiddleware(sleep=time.sleep, clock=time)(make_request, bot, method) == "sent"
    assert len(calls) == 2


async def test_what_is_left_alone(bot: Bot) -> None:
    time = Sleeps()
    middleware = ServerErrorRetryMiddleware(sleep=time.sleep, clock=time)
    send = SendMessage(chat_id=5, text="x")
    cases: list[tuple[TelegramMethod[Any], BaseException]] = [
        (send, TelegramBadRequest(method=send, message="Bad Request: message is too long")),  # final
        (send, TelegramEntityTooLarge(method=send, message="Request Entity Too Large")),  # a 413 answer
        (GetUpdates(), bad_gateway(GetUpdates())),  # the polling loop has its own backoff
    ]
    for method, error in cases:
        make_request, calls = failing([error])
        with pytest.raises(type(error)):
            await middleware(make_request, bot, method)
        assert len(calls) == 1
    with caller_handles_flood_control():  # code with its own retries sees every failure
        make_request, calls = failing([bad_gateway(send)])
        with pytest.raises(TelegramServerError):
            await middleware(make_request, bot, send)
        assert len(calls) == 1
    assert time.slept == []


async def test_the_bot_session_retries_5xx_and_the_delivery_session_does_not(
    bot: Bot, caplog: pytest.LogCaptureFixture
) -> None:
    """Through the real middleware chains: the bot's (token scrubbing outermost, so the give-up line and the
    error carry no token) and the digest delivery's, which retries and settles every part itself."""
    install_session_middlewares(bot, messages_per_second=None, retry_delays=(0.0, 0.0, 0.0))
    chain = [type(m) for m in bot.session.middleware]
    assert chain.index(ServerErrorRetryMiddleware) < chain.index(RetryAfterMiddleware)
    url = f"http://127.0.0.1:1/bot{TOKEN}/sendMessage"
    method = SendMessage(chat_id=5, text="x")
    make_request, calls = failing([TelegramServerError(method=method, message=f"Bad Gateway {url}")] * 9)
    with caplog.at_level(logging.WARNING), pytest.raises(TelegramServerError) as caught:
        await bot.session.middleware.wrap_middlewares(make_request)(bot, method)
    assert len(calls) == 4 and TOKEN not in str(caught.value)
    [line] = caplog.records
    assert TOKEN not in line.getMessage() and REDACTED in line.getMessage()

    delivery = delivery_bot(bot)
    try:
        assert not any(isinstance(m, ServerErrorRetryMiddleware) for m in delivery.session.middleware)
        make_request, calls = failing([bad_gateway(method)])
        with pytest.raises(TelegramServerError):
            await delivery.session.middleware.wrap_middlewares(make_request)(delivery, method)
        assert len(calls) == 1
    finally:
        await delivery.session.close()


# --- giving a slot back ---------------------------------------------------------------------------------


def test_a_refunded_slot_is_taken_again_at_once_and_only_within_a_window() -> None:
    time = Sleeps()
    budget = SendBudget(30.0, clock=time)
    assert budget.reserve(smooth=True) == 0.0
    first = budget.last_booked
    assert budget.reserve(smooth=True) > 0  # the next slot is 1/30 s away ...
    budget.refund(first)  # ... but Telegram did not take the first message
    assert budget.reserve(smooth=True) == 0.0  # so its slot carries another one now
    assert budget.reserve(smooth=True) == pytest.approx(1 / 30)  # and the schedule is the same as before

    # A refund nobody takes within a window expires: refunds never save up a burst.
    time.now += 10.0
    assert budget.reserve(smooth=True) == 0.0
    budget.refund(budget.last_booked)
    time.now += 1.0
    assert budget.reserve(smooth=True) == 0.0
    assert budget.reserve(smooth=True) == pytest.approx(1 / 30)


async def test_a_refund_wakes_a_sender_waiting_for_its_slot() -> None:
    budget = SendBudget(30.0, clock=Sleeps())
    waiter = budget.refunded()
    assert budget.refunded() is waiter and not waiter.done()
    budget.refund(0.0)
    assert waiter.done()
    assert budget.refunded() is not waiter


def test_pacer_release_gives_the_chat_its_slot_back() -> None:
    time = Sleeps()
    pacer = Pacer(time)
    pace = Pace(rate=1.0, burst=1)
    assert pacer.reserve(7, pace) == 0.0
    assert pacer.ready_in(7, pace) == pytest.approx(1.0)
    pacer.release(7, pace)
    assert pacer.ready_in(7, pace) == 0.0
    assert pacer.reserve(7, pace) == 0.0


@dataclass
class RefusedShareRun:
    """What a minute of fan-out with one send in ten answered 502 gave: the moments of the messages Telegram
    took, the ones its bucket refused anyway, and how many were answered 502."""

    taken: list[float] = field(default_factory=list)
    refused: list[tuple[str, int]] = field(default_factory=list)
    answered_502: int = 0


async def run_with_refused_share(
    clock: VirtualTime, pacings: list[_Pacing], workers_each: int, answer_delay: float, seed: int
) -> RefusedShareRun:
    """`workers_each` delivery workers per pacing (an instance each) send to fresh private chats for 60
    virtual seconds; one send in ten is answered 502 after `answer_delay` and its slot refunded, as the
    Deliverer does. Telegram's side is the emulator's bucket, which does not count a 502."""
    telegram = FloodLimiter(FloodLimits(global_per_second=30.0, global_burst=30))
    faults = random.Random(seed)
    chats = iter(range(100_000, 200_000))
    run = RefusedShareRun()

    async def worker(pacing: _Pacing) -> None:
        for chat_id in chats:
            slot = await pacing.wait(chat_id)
            assert slot is not None
            if faults.random() < 0.1:
                run.answered_502 += 1
                if answer_delay:
                    await clock.sleep(answer_delay)
                pacing.refund(chat_id, slot)
                continue
            run.taken.append(clock.now)
            if (verdict := telegram.check(chat_id, "private", clock.now)) is not None:
                run.refused.append(verdict)

    workers = [asyncio.create_task(worker(pacing)) for pacing in pacings for _ in range(workers_each)]
    try:
        await clock.run(1000.0 + 60.0)
    finally:
        for task in workers:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
    assert run.answered_502 > 100
    return run


def virtual_pacing(clock: VirtualTime, shared: VirtualSharedSlots | None = None) -> _Pacing:
    budget = SendBudget(30.0, clock=clock)
    budget.share(shared)
    return _Pacing(DeliveryConfig(messages_per_second=30.0), sleep=clock.sleep, clock=clock, budget=budget)


@pytest.mark.parametrize("answer_delay", [0.0, 0.005, 0.1])
async def test_refused_sends_do_not_slow_a_concurrent_fan_out(answer_delay: float) -> None:
    """64 delivery workers on the budget (as a Deliverer runs them); one send in ten is answered 502 after
    `answer_delay` and its slot refunded. The messages Telegram took keep its full rate — within 1% of the
    fault-free pace when the answers are quick — and its bucket (the emulator's model, which does not count
    a 502) refuses none; no second holds more than 30 of them."""
    clock = VirtualTime()
    run = await run_with_refused_share(clock, [virtual_pacing(clock)], 64, answer_delay, seed=7)
    assert run.refused == []
    assert min(b - a for a, b in zip(run.taken, run.taken[30:], strict=False)) >= 1.0 - 1e-9
    expected = 30.0 * 60.0 if answer_delay <= 0.005 else 0.95 * 30.0 * 60.0
    assert len(run.taken) >= expected * 0.99


class VirtualSharedSlots:
    """storage/postgres/shared_limits.py's send slot on the virtual clock: the moment of the last slot handed
    out, moved back one interval per slot given back, never before now."""

    def __init__(self, clock: VirtualTime) -> None:
        self.clock = clock
        self.last_slot = clock.now

    async def take_send_slot(self, interval_seconds: float, *, returned: int = 0) -> float:
        self.last_slot = max(self.last_slot + (1 - returned) * interval_seconds, self.clock.now)
        return self.last_slot - self.clock.now

    async def use_limit(
        self, key: str, *, burst: int, per_second: float, now: datetime
    ) -> tuple[bool, int, float]:
        raise AssertionError("the send rate only")


@pytest.mark.parametrize("answer_delay", [0.0, 0.005])
async def test_two_instances_sharing_the_send_rate_keep_it_through_refused_sends(answer_delay: float) -> None:
    """Two instances, 32 delivery workers each, on one shared send slot (as on PostgreSQL); one send in ten
    answered 502. The slot of a refused message goes back to the shared schedule too, so the messages Telegram
    took keep its full rate between them (not 10% less), and none is refused for flooding."""
    clock = VirtualTime()
    shared = VirtualSharedSlots(clock)
    instances = [virtual_pacing(clock, shared), virtual_pacing(clock, shared)]
    run = await run_with_refused_share(clock, instances, 32, answer_delay, seed=11)
    assert run.refused == []
    assert len(run.taken) >= 30.0 * 60.0 * 0.97
