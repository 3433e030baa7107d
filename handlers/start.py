"""/start: what the bot does and the main commands.

Deep links belong to their features: `/start subscribe` to the subscriptions, `/start search_<words>` to the
search. This router declines them (see `_not_claimed_payload`), so a router placed before or after this one
takes them."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import CommandStart
from aiogram.types import Message

from bot.telegram.deep_links import SEARCH_PAYLOAD_PREFIX
from bot.telegram.texts import text

# Deep-link payloads handled by other routers; this router never answers them.
CLAIMED_PAYLOADS = frozenset({"subscribe"})


async def start(message: Message, *, locale: str) -> None:
    await message.answer(text("bot.start", locale))


def _not_claimed_payload(message: Message) -> bool:
    payload = (message.text or "").partition(" ")[2].strip()
    return payload not in CLAIMED_PAYLOADS and not payload.startswith(SEARCH_PAYLOAD_PREFIX)


def create_router() -> Router:
    router = Router(name="start")
    # Plain /start, and /start with a payload nobody else took (an old or mistyped link): the greeting.
    router.message.register(start, CommandStart(), _not_claimed_payload)
    return router
