"""/start: what the bot does and the main commands; the deep link `/start search_<words>` runs a search.

The deep link `/start subscribe` belongs to the subscription feature: this router declines it (see
CLAIMED_PAYLOADS), so a router placed before or after this one can take it."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import CommandStart
from aiogram.types import Message

from bot.texts import text
from handlers.search import SEARCH_PAYLOAD_PREFIX, search_message

# Deep-link payloads handled by other routers; this router never answers them.
CLAIMED_PAYLOADS = frozenset({"subscribe"})


async def start(message: Message, *, locale: str) -> None:
    await message.answer(text("bot.start", locale))


def _not_claimed_payload(message: Message) -> bool:
    payload = (message.text or "").partition(" ")[2].strip()
    return payload not in CLAIMED_PAYLOADS


def create_router() -> Router:
    router = Router(name="start")
    router.message.register(
        search_message, CommandStart(deep_link=True, magic=F.args.startswith(SEARCH_PAYLOAD_PREFIX))
    )
    # Plain /start, and /start with a payload nobody else took (an old or mistyped link): the greeting.
    router.message.register(start, CommandStart(), _not_claimed_payload)
    return router
