"""Wiring the session middlewares of the bot's own requests (replies, commands), and pinning response types.

- `install_session_middlewares`: token scrubbing (bot/telegram/redaction.py) outermost, then the 5xx and 429
  retries (bot/telegram/retries.py), then the pacing (bot/telegram/pacing.py).
- `PinResponseTypesMiddleware`: keeps aiogram's parametrized response models alive, so their schemas are not
  rebuilt for every request (also on the digest delivery's own session).
"""

from __future__ import annotations

from collections.abc import Sequence

from aiogram import Bot
from aiogram.client.session.middlewares.base import BaseRequestMiddleware, NextRequestMiddlewareType
from aiogram.methods.base import Response, TelegramMethod, TelegramType

from bot.telegram import retries
from bot.telegram.pacing import PacingMiddleware, SendBudget
from bot.telegram.redaction import RedactTokenMiddleware
from bot.telegram.retries import RetryAfterMiddleware, ServerErrorRetryMiddleware

# --- response types ------------------------------------------------------------------------------------


# aiogram checks every answer with `Response[method.__returning__]`; pydantic keeps parametrized models in a
# WeakValueDictionary, so once the garbage collector frees one, the next request rebuilds its schema (5-15 ms
# per sendMessage, measured in bench/bot_bench.py). Holding them (one middleware per session) makes it a
# dictionary lookup.
class PinResponseTypesMiddleware(BaseRequestMiddleware):
    def __init__(self) -> None:
        self._pinned: dict[object, object] = {}

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        returning = method.__returning__
        if returning not in self._pinned:
            self._pinned[returning] = Response[returning]  # type: ignore[valid-type]
        return await make_request(bot, method)


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
    (bot.digest.sender.delivery_bot)."""
    bot.session.middleware(RedactTokenMiddleware())
    bot.session.middleware(PinResponseTypesMiddleware())
    # Read now, from its module: tests may shorten it.
    delays = retries.REPLY_RETRY_DELAYS if retry_delays is None else retry_delays
    bot.session.middleware(ServerErrorRetryMiddleware(delays=delays))
    bot.session.middleware(RetryAfterMiddleware())
    if messages_per_second is not None:
        bot.session.middleware(PacingMiddleware(messages_per_second=messages_per_second, budget=budget))
