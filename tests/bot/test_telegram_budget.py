"""The bot's one overall send budget (bot.telegram.pacing.SendBudget), shared by the replies' pacing middleware and
the digest delivery: pure units on a fake clock, checked against the emulator's model of Telegram's bucket."""

from __future__ import annotations

import asyncio
import dataclasses
import heapq
import itertools
from typing import Any

import pytest
from aiogram import Bot
from aiogram.methods import SendMessage

from bot.app import create_bot
from bot.config import Settings
from bot.digest.pacing import DeliveryConfig, _Pacing
from bot.telegram.pacing import BUDGET_BURST_MARGIN, PacingMiddleware, SendBudget, send_budget_of
from tests.emulator.flood import FloodLimiter, FloodLimits


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds


@pytest.mark.parametrize(
    ("rate", "burst", "expected_burst"),
    [(30.0, None, 30 - BUDGET_BURST_MARGIN), (3.0, None, 1), (30.0, 10, 10), (0.5, None, 1)],
)
def test_budget_bursts_then_spaces_at_its_rate(rate: float, burst: int | None, expected_burst: int) -> None:
    clock = Clock()
    budget = SendBudget(rate, burst=burst, clock=clock)
    waits = [budget.reserve() for _ in range(expected_burst + 3)]
    assert waits[:expected_burst] == [0.0] * expected_burst
    assert waits[expected_burst:] == pytest.approx([1 / rate, 2 / rate, 3 / rate])


def test_budget_refuses_a_rate_of_zero() -> None:
    with pytest.raises(ValueError):
        SendBudget(0)


def test_smooth_reservations_never_book_ahead() -> None:
    clock = Clock()
    budget = SendBudget(30.0, clock=clock)
    assert budget.reserve(smooth=True) == 0.0  # a slot: send now
    # Behind: told how long until the budget is free, but nothing is booked, however often it asks.
    assert [budget.reserve(smooth=True) for _ in range(10)] == pytest.approx([1 / 30] * 10)
    assert budget.reserve() == 0.0  # a reply does not queue behind the digests ...
    assert budget.reserve(smooth=True) == pytest.approx(2 / 30)  # ... the next digest comes after it
    clock.now += 2 / 30
    assert budget.reserve(smooth=True) == 0.0


@pytest.mark.parametrize("late", [0.0, 0.001, 0.005])
def test_a_smooth_sender_waking_late_keeps_the_rate_but_never_exceeds_it(late: float) -> None:
    """Timers fire a little late on a busy event loop; the fan-out must not lose that delay at every slot
    (300 messages would take 10 s + 300 × late), nor make it up by exceeding the rate. It loses it once per
    second at most: the window counts the actual (late) slots."""
    clock = Clock()
    budget = SendBudget(30.0, clock=clock)
    sent: list[float] = []
    while len(sent) < 300:
        if (wait := budget.reserve(smooth=True)) > 0:
            clock.now += wait + late
            continue
        sent.append(clock.now)
    assert sent[-1] - sent[0] <= 299 / 30 + late * (300 / 30 + 1) + 1e-6
    assert min(b - a for a, b in zip(sent, sent[30:], strict=False)) >= 1.0 - 1e-9


class VirtualTime:
    """A fake clock for concurrent tasks: `sleep` parks the task until `run` moves time to its deadline."""

    def __init__(self) -> None:
        self.now = 1000.0
        self._timers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._timers, (self.now + max(seconds, 0.0), next(self._order), future))
        await future

    async def settle(self) -> None:
        """Let every task run until all of them sleep (they await nothing but this clock)."""
        for _ in range(20):
            await asyncio.sleep(0)

    async def run(self, until: float) -> None:
        await self.settle()
        while self._timers and self._timers[0][0] <= until:
            deadline, _, future = heapq.heappop(self._timers)
            self.now = max(self.now, deadline)
            future.set_result(None)
            await self.settle()
        self.now = until


@pytest.mark.parametrize("rate", [30.0, 10.0])
async def test_a_reply_waits_at_most_one_slot_behind_a_big_concurrent_fan_out(rate: float) -> None:
    """64 delivery workers (as many as a Deliverer runs) send to 10,000 chats; in the middle of it a reply
    goes out through the bot's pacing middleware on the same budget. The reply waits at most one slot, the
    fan-out keeps the full rate, and no 1 s window holds more than `rate` messages — Telegram's bucket
    (the emulator's model) refuses none."""
    clock = VirtualTime()
    budget = SendBudget(rate, clock=clock)
    config = DeliveryConfig(messages_per_second=rate)
    fan_out = _Pacing(config, sleep=clock.sleep, clock=clock, budget=budget)
    replies = PacingMiddleware(messages_per_second=rate, clock=clock, sleep=clock.sleep, budget=budget)
    telegram = FloodLimiter(FloodLimits(global_per_second=rate, global_burst=int(rate)))
    chats = iter(range(100_000, 110_000))
    sent: list[float] = []
    refused: list[tuple[str, int]] = []

    def send(chat_id: int) -> None:
        sent.append(clock.now)
        if (verdict := telegram.check(chat_id, "private", clock.now)) is not None:
            refused.append(verdict)

    async def worker() -> None:
        for chat_id in chats:
            await fan_out.wait(chat_id)
            send(chat_id)

    async def reply(user_id: int) -> float:
        asked = clock.now

        async def make_request(bot: Any, method: Any) -> Any:
            send(method.chat_id)

        await replies(make_request, bot, SendMessage(chat_id=user_id, text="Ответ"))
        return clock.now - asked

    bot = Bot("123456:TEST-token-for-the-emulator-000000000")
    workers = [asyncio.create_task(worker()) for _ in range(64)]
    try:
        await clock.run(1000.0 + 20.0)  # well into the fan-out
        waits = []
        for n in range(5):  # replies a little apart, each to a user it never answered before
            replying = asyncio.create_task(reply(1 + n))
            await clock.run(clock.now + 3.0)
            assert replying.done(), "the reply still waits after 3 s"
            waits.append(replying.result())
        await clock.run(clock.now + 10.0)
    finally:
        for worker_task in workers:
            worker_task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        await bot.session.close()
    assert max(waits) <= 1 / rate + 1e-9
    assert refused == []
    window = [b - a for a, b in zip(sent, sent[int(rate) :], strict=False)]
    assert min(window) >= 1.0 - 1e-9  # any `rate` + 1 sends span at least a second
    elapsed = sent[-1] - 1000.0
    assert len(sent) >= rate * elapsed - 2  # and the fan-out kept the full rate meanwhile


async def interleave(*, shared: bool, messages: int = 300) -> tuple[list[tuple[str, int]], float]:
    """Replies to new users (no per-chat wait) and digest parts to many chats, alternating as the event loop
    would run them, every send checked by the emulator's model of Telegram's flood limits. Returns the
    refusals and the time it took."""
    clock = Clock()
    budget = SendBudget(30.0, clock=clock) if shared else None
    pacing = PacingMiddleware(messages_per_second=30.0, clock=clock, sleep=clock.sleep, budget=budget)
    fan_out = _Pacing(DeliveryConfig(), sleep=clock.sleep, clock=clock, budget=budget)
    telegram = FloodLimiter(FloodLimits())
    bot = Bot("123456:TEST-token-for-the-emulator-000000000")
    refused: list[tuple[str, int]] = []

    async def send(bot: Bot, method: Any) -> Any:
        if (verdict := telegram.check(method.chat_id, "private", clock())) is not None:
            refused.append(verdict)

    try:
        for n in range(messages):
            await pacing(send, bot, SendMessage(chat_id=10_000 + n, text="reply"))
            await fan_out.wait(20_000 + n)
            await send(bot, SendMessage(chat_id=20_000 + n, text="digest"))
    finally:
        await bot.session.close()
    return refused, clock.now - 1000.0


async def test_replies_and_fan_out_on_one_budget_never_trip_telegrams_bucket() -> None:
    refused, took = await interleave(shared=True)
    assert refused == []
    assert took >= (600 - 30) / 30  # 600 messages took the time 30/s allows


async def test_two_budgets_would_trip_it() -> None:
    """The control: the same interleaving with a budget each (as before they were shared) is refused."""
    refused, _ = await interleave(shared=False)
    assert refused and {scope for scope, _ in refused} == {"global"}


async def test_create_bot_paces_with_a_budget_the_digest_service_finds(settings: Settings) -> None:
    settings = dataclasses.replace(settings, messages_per_second=20.0)
    paced = create_bot(settings)
    unpaced = create_bot(settings, pacing=False)
    try:
        budget = send_budget_of(paced)
        assert budget is not None and budget.rate == 20.0
        assert send_budget_of(paced) is budget  # one object per bot, found again
        assert send_budget_of(unpaced) is None
    finally:
        await paced.session.close()
        await unpaced.session.close()
