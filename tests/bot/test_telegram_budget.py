"""The bot's one overall send budget (bot.telegram.SendBudget), shared by the replies' pacing middleware and
the digest delivery: pure units on a fake clock, checked against the emulator's model of Telegram's bucket."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from aiogram import Bot
from aiogram.methods import SendMessage

from bot.app import create_bot
from bot.config import Settings
from bot.delivery import DeliveryConfig, _Pacing
from bot.telegram import BUDGET_BURST_MARGIN, PacingMiddleware, SendBudget, send_budget_of
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


def test_replies_may_burst_past_a_smooth_fan_out_backlog() -> None:
    clock = Clock()
    budget = SendBudget(30.0, clock=clock)
    fan_out = [budget.reserve(smooth=True) for _ in range(10)]
    assert fan_out == pytest.approx([n / 30 for n in range(10)])
    assert budget.reserve() == 0.0  # a reply does not queue behind the digests
    assert budget.reserve(smooth=True) == pytest.approx(11 / 30)  # the next digest comes after it


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
