"""The emulator's share-of-calls fault (`fail_share`), through a real aiogram Bot over HTTP."""

from __future__ import annotations

import pytest
from aiogram import Bot
from aiogram.exceptions import ClientDecodeError, TelegramRetryAfter, TelegramServerError

from tests.emulator import BotAPIEmulator, FloodLimits
from tests.emulator.flood import ManualClock


async def statuses(bot: Bot, emulator: BotAPIEmulator, chat_id: int, count: int) -> list[int]:
    for index in range(count):
        try:
            await bot.send_message(chat_id, f"message {index}")
        except TelegramServerError as error:
            assert error.message == "Bad Gateway"
    return [r.status for r in emulator.requests_for("sendMessage")[-count:]]


async def test_a_seeded_share_of_sends_is_answered_502_without_any_effect(
    bot: Bot, emulator: BotAPIEmulator
) -> None:
    emulator.set_flood_limits(FloodLimits(global_burst=200, private_burst=200))
    emulator.clock = ManualClock()  # no refill meanwhile: the bucket shows exactly what counted
    emulator.add_chat(2000, "private")
    fault = emulator.fail_share("sendMessage", 0.25, seed=3)
    first = await statuses(bot, emulator, 2000, 200)
    assert set(first) == {200, 502} and fault.injected == first.count(502)
    assert 30 <= fault.injected <= 70  # about a quarter
    # No effect: only the accepted ones were posted, and only they used the flood limits: exactly the rest of
    # the 200 the buckets hold still go through, then a 429.
    assert len(emulator.messages_to(2000)) == first.count(200)
    await bot.get_me()  # other methods are not affected
    emulator.fail_share("sendMessage", 0)
    assert await statuses(bot, emulator, 2000, fault.injected) == [200] * fault.injected
    with pytest.raises(TelegramRetryAfter):
        await bot.send_message(2000, "one too many")

    emulator.fail_share("sendMessage", 0.25, seed=3)  # the same seed: the same sequence
    emulator.set_flood_limits(None)
    assert await statuses(bot, emulator, 2000, 200) == first

    emulator.fail_share("sendMessage", 0)  # ended
    assert await statuses(bot, emulator, 2000, 10) == [200] * 10


async def test_fail_share_can_answer_the_front_ends_html_page(bot: Bot, emulator: BotAPIEmulator) -> None:
    emulator.add_chat(2000, "private")
    emulator.fail_share("*", 1.0, raw_body="<html><h1>502 Bad Gateway</h1></html>")
    with pytest.raises(ClientDecodeError):
        await bot.send_message(2000, "x")
    emulator.clear_faults()
    await bot.send_message(2000, "x")
    with pytest.raises(ValueError):
        emulator.fail_share("sendMessage", 1.5)
