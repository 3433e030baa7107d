"""Who may change a chat's digest: in a private chat its user; in a group only its administrators (asked
with getChatMember and remembered briefly, so a burst of button presses costs one request); a channel is
managed from a private chat by a user who is an administrator there, and only when the bot is one too (it has
to post).

One cache per Dispatcher, built in bot/app.py `build_dependencies` and handed to handlers as their
`chat_admins` argument, so every router shares it and a `my_chat_member`/`chat_member` update drops stale
answers.
"""

from __future__ import annotations

import enum
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from aiogram import Bot
from aiogram.enums import ChatMemberStatus, ChatType
from aiogram.exceptions import TelegramAPIError, TelegramBadRequest, TelegramForbiddenError, TelegramNotFound
from aiogram.types import Chat, ChatMemberAdministrator, ChatMemberOwner, User

from bot.chats.preferences import KeyedError
from storage.interfaces import ChatStore

log = logging.getLogger(__name__)

ADMIN_STATUSES = frozenset({ChatMemberStatus.CREATOR, ChatMemberStatus.ADMINISTRATOR})
DEFAULT_TTL_SECONDS = 30.0
DEFAULT_MAX_ENTRIES = 10_000


@dataclass(frozen=True, slots=True)
class MemberInfo:
    """What getChatMember said that matters here."""

    is_admin: bool
    can_post: bool  # for the bot in a channel: may it post messages there


class ChatAdminCache:
    """(chat, user) → MemberInfo for `ttl` seconds; past `max_entries` the oldest stored entries go first."""

    def __init__(
        self,
        *,
        ttl: float = DEFAULT_TTL_SECONDS,
        max_entries: int = DEFAULT_MAX_ENTRIES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[tuple[int, int], tuple[float, MemberInfo]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    async def member(self, bot: Bot, chat_id: int, user_id: int) -> MemberInfo:
        """The user's standing in the chat; raises TelegramAPIError when Telegram cannot tell (not cached)."""
        key = (chat_id, user_id)
        now = self._clock()
        cached = self._entries.get(key)
        if cached is not None and cached[0] > now:
            return cached[1]
        found = await bot.get_chat_member(chat_id=chat_id, user_id=user_id)
        info = MemberInfo(
            is_admin=found.status in ADMIN_STATUSES,
            can_post=isinstance(found, ChatMemberOwner)
            or (isinstance(found, ChatMemberAdministrator) and bool(found.can_post_messages)),
        )
        self._entries[key] = (now + self.ttl, info)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)
        return info

    async def is_admin(self, bot: Bot, chat_id: int, user_id: int) -> bool:
        """True for an administrator or the owner; False for anyone else and when Telegram won't answer."""
        try:
            return (await self.member(bot, chat_id, user_id)).is_admin
        except TelegramAPIError as error:
            log.info("getChatMember(%s, %s) failed: %s", chat_id, user_id, error)
            return False

    def forget(self, chat_id: int, user_id: int | None = None) -> None:
        """Drop what is known about one member, or about the whole chat."""
        if user_id is not None:
            self._entries.pop((chat_id, user_id), None)
            return
        for key in [key for key in self._entries if key[0] == chat_id]:
            del self._entries[key]


def is_group(chat: Chat) -> bool:
    return chat.type in {ChatType.GROUP, ChatType.SUPERGROUP}


async def can_manage(
    bot: Bot, cache: ChatAdminCache, chat: Chat, user: User | None, sender_chat: Chat | None = None
) -> bool:
    """May this sender change the digest of `chat` from inside it? Private: yes. Group: administrators only
    (an anonymous administrator writes as the group itself). Channel posts and everything else: no."""
    if chat.type == ChatType.PRIVATE:
        return True
    if not is_group(chat):
        return False
    if sender_chat is not None and sender_chat.id == chat.id:
        return True
    if user is None or user.is_bot:
        return False
    return await cache.is_admin(bot, chat.id, user.id)


class ChannelProblem(enum.Enum):
    """Why a channel cannot be subscribed; each value is the explaining text key under `subscriptions.`."""

    NOT_FOUND = "channel_not_found"
    NOT_CHANNEL = "channel_not_channel"
    BOT_NOT_ADMIN = "channel_bot_not_admin"
    BOT_CANNOT_POST = "channel_bot_cannot_post"
    USER_NOT_ADMIN = "channel_user_not_admin"


@dataclass(frozen=True, slots=True)
class ChannelCheck:
    """The outcome of checking a channel: `chat` when found, `problem` None when the user may subscribe it."""

    chat: Chat | None
    problem: ChannelProblem | None

    @property
    def ok(self) -> bool:
        return self.problem is None and self.chat is not None


async def check_channel(bot: Bot, cache: ChatAdminCache, ref: int | str, user_id: int) -> ChannelCheck:
    """Resolve `@name` or a chat id to a channel and check that both the user and the bot administer it and
    the bot may post there. Asked afresh (never a stale 'yes' for a subscription)."""
    try:
        chat = await bot.get_chat(chat_id=ref)
    except (TelegramBadRequest, TelegramForbiddenError, TelegramNotFound) as error:
        log.info("getChat(%s) failed: %s", ref, error)
        return ChannelCheck(None, ChannelProblem.NOT_FOUND)
    if chat.type != ChatType.CHANNEL:
        return ChannelCheck(chat, ChannelProblem.NOT_CHANNEL)
    try:
        me = await bot.me()
        cache.forget(chat.id)
        bot_member = await cache.member(bot, chat.id, me.id)
    except (TelegramBadRequest, TelegramForbiddenError, TelegramNotFound) as error:
        log.info("getChatMember(%s, bot) failed: %s", chat.id, error)
        return ChannelCheck(chat, ChannelProblem.BOT_NOT_ADMIN)
    if not bot_member.is_admin:
        return ChannelCheck(chat, ChannelProblem.BOT_NOT_ADMIN)
    if not bot_member.can_post:
        return ChannelCheck(chat, ChannelProblem.BOT_CANNOT_POST)
    if not await cache.is_admin(bot, chat.id, user_id):
        return ChannelCheck(chat, ChannelProblem.USER_NOT_ADMIN)
    return ChannelCheck(chat, None)


class Refused(KeyedError):
    """The sender may not manage that chat; the text is `subscriptions.<key>`."""


@dataclass(frozen=True, slots=True)
class ManagedChat:
    """The chat a command manages: the chat it was sent in, or a channel named in a private chat (`label` is
    then its `@username` or title, for showing; None for the chat itself)."""

    chat_id: int
    label: str | None = None


def channel_label(chat_id: int, username: str | None, title: str | None) -> str:
    if username:
        return "@" + username
    return title or str(chat_id)


async def resolve_managed(
    bot: Bot,
    cache: ChatAdminCache,
    chats: ChatStore,
    *,
    here: Chat,
    user: User | None,
    sender_chat: Chat | None,
    ref: int | str | None,
) -> ManagedChat:
    """The chat a settings command sent in `here` manages, or Refused. `ref` (from `parse_chat_ref`) names a
    channel already known to the bot; it is managed only from a private chat by one of its administrators."""
    if ref is None:
        if not await can_manage(bot, cache, here, user, sender_chat):
            raise Refused("not_admin")
        return ManagedChat(here.id)
    shown = ref if isinstance(ref, str) else str(ref)
    if here.type != ChatType.PRIVATE or user is None:
        raise Refused("not_in_channel")
    stored = await (chats.get_by_username(ref) if isinstance(ref, str) else chats.get(ref))
    if stored is None or stored.type != "channel":
        raise Refused("channel_unknown", channel=shown, ref=shown)
    label = channel_label(stored.id, stored.username, stored.title)
    if not await cache.is_admin(bot, stored.id, user.id):
        raise Refused("channel_user_not_admin", channel=label)
    return ManagedChat(stored.id, label)


async def may_manage_id(
    bot: Bot, cache: ChatAdminCache, chats: ChatStore, *, chat_id: int, here: Chat, user: User
) -> ManagedChat | None:
    """For a button pressed in `here` that manages `chat_id`: the ManagedChat when the user may, else None.
    Callback data is never trusted: a channel id counts only in a private chat, for its administrators."""
    if chat_id == here.id:
        return ManagedChat(here.id) if await can_manage(bot, cache, here, user) else None
    if here.type != ChatType.PRIVATE:
        return None
    stored = await chats.get(chat_id)
    if stored is None or stored.type != "channel" or not await cache.is_admin(bot, chat_id, user.id):
        return None
    return ManagedChat(chat_id, channel_label(stored.id, stored.username, stored.title))
