"""The bot's own membership, kept in step with Telegram:

- `my_chat_member`: kicked or left (a user blocked the bot, a group removed it) → the chat is inactive at once
  (no more jobs; pending ones parked); a member or administrator again → active: parked digests are replaced
  by one catch-up digest covering the gap since the last delivered one (no stale digests arriving late),
  parked broadcasts under a day old are sent.
- `/start` from an inactive chat reactivates it; the handler then steps aside (SkipHandler), so the greeting
  or the `/start subscribe` deep link is still handled by the routers after this one.
- a group upgraded to a supergroup (a service message with `migrate_to_chat_id`, or `migrate_from_chat_id` in
  the new chat): the chat id is rewritten everywhere.
- the admin cache forgets the chat on any change of the bot's membership. (Other members' changes are not
  subscribed to: `chat_member` updates would flood big groups; the cache's short TTL covers demotions.)

This router must come first: its /start handler never answers, it only reactivates.
"""

from __future__ import annotations

import logging

from aiogram import F, Router
from aiogram.dispatcher.event.bases import SkipHandler
from aiogram.enums import ChatMemberStatus
from aiogram.filters import CommandStart
from aiogram.types import ChatMemberRestricted, ChatMemberUpdated, Message

from bot.chats.admins import ChatAdminCache
from bot.chats.comeback import reactivate
from storage.interfaces import ChatStore, OutboxStore

log = logging.getLogger(__name__)

_GONE = frozenset({ChatMemberStatus.KICKED, ChatMemberStatus.LEFT})
_PRESENT = frozenset({ChatMemberStatus.MEMBER, ChatMemberStatus.ADMINISTRATOR, ChatMemberStatus.CREATOR})


def bot_is_present(update: ChatMemberUpdated) -> bool:
    """Can the bot write there after this update? (A restricted member may still be a member.)"""
    member = update.new_chat_member
    if isinstance(member, ChatMemberRestricted):
        return member.is_member
    return member.status in _PRESENT


async def my_chat_member(
    update: ChatMemberUpdated,
    *,
    chat_admins: ChatAdminCache,
    chats: ChatStore,
    outbox: OutboxStore,
) -> None:
    chat_id = update.chat.id
    chat_admins.forget(chat_id)
    if bot_is_present(update):
        await reactivate(chat_id, chats, outbox)
    elif update.new_chat_member.status in _GONE or isinstance(update.new_chat_member, ChatMemberRestricted):
        status = update.new_chat_member.status
        reason = "bot " + str(getattr(status, "value", status))  # "bot kicked", "bot left"
        if await chats.deactivate(chat_id, reason):
            log.info("chat %d inactive: bot %s", chat_id, reason)


async def start_reactivates(message: Message, *, chats: ChatStore, outbox: OutboxStore) -> None:
    await reactivate(message.chat.id, chats, outbox)
    raise SkipHandler  # the greeting (or the deep link) is someone else's


async def migrated(message: Message, *, chats: ChatStore) -> None:
    if message.migrate_to_chat_id is not None:
        old_id, new_id = message.chat.id, message.migrate_to_chat_id
    elif message.migrate_from_chat_id is not None:
        old_id, new_id = message.migrate_from_chat_id, message.chat.id
    else:  # pragma: no cover - the filter lets only these through
        return
    if await chats.migrate_chat_id(old_id, new_id):
        log.info("chat %d became supergroup %d", old_id, new_id)


def create_router() -> Router:
    router = Router(name="membership")
    router.my_chat_member.register(my_chat_member)
    router.message.register(start_reactivates, CommandStart())
    router.message.register(migrated, F.migrate_to_chat_id | F.migrate_from_chat_id)
    return router
