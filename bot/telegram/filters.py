"""The aiogram filters the routers share: who is a bot admin (ADMIN_IDS, in a private chat with the bot).

The operator commands (/stats, /broadcast, /sources, /addsource, /removesource) and the admin section of /help
ask this one question; nothing else decides it.
"""

from __future__ import annotations

from aiogram.enums import ChatType
from aiogram.filters import Filter
from aiogram.types import Message

from bot.config import Settings


def is_bot_admin(message: Message, admin_ids: frozenset[int]) -> bool:
    """The sender is one of `admin_ids` and writes in a private chat (never in a group or channel)."""
    user = message.from_user
    return user is not None and user.id in admin_ids and message.chat.type == ChatType.PRIVATE


class BotAdmin(Filter):
    """Passes a message from a bot admin (ADMIN_IDS) in a private chat; `settings` comes from the Dispatcher."""

    async def __call__(self, message: Message, settings: Settings) -> bool:
        return is_bot_admin(message, settings.admin_ids)
