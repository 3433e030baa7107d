"""The inner middleware that gives the handlers managing a chat that chat, worked out once instead of in every
handler: a handler registered with `flags={MANAGES_CHAT: <ManagedTarget>}` on a router that installed the
middleware (`install_managed_chat`) receives `managing: Managing` (bot/chats/managed.py); when the sender may
not manage the chat the refusal is answered here and the handler is not called.

Which chat a handler manages is its flag's value: the chat a command is sent in, a channel named in the
command's arguments (from a private chat), or the chat id a button carries (checked again: never trusted).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from enum import StrEnum
from typing import Any

from aiogram import BaseMiddleware, Router
from aiogram.dispatcher.flags import get_flag
from aiogram.filters import CommandObject
from aiogram.types import CallbackQuery, Message, TelegramObject

from bot.chats.managed import managing_from_button, managing_from_message
from bot.chats.preferences import parse_chat_ref, split_channel_ref

MANAGES_CHAT = "manages_chat"


class ManagedTarget(StrEnum):
    """The value of a handler's MANAGES_CHAT flag: where the managed chat comes from."""

    HERE = "here"  # the chat the command is sent in
    NAMED_FIRST = (
        "named_first"  # a channel named first in the arguments (`/subscriptions @channel`), else here
    )
    NAMED = "named"  # a channel the whole arguments name (`/settings @channel`), else here
    BUTTON = "button"  # the `chat_id` of the button's callback data


def _channel_ref(target: ManagedTarget, command: CommandObject | None) -> int | str | None:
    args = command.args if command is not None else None
    if target is ManagedTarget.NAMED_FIRST:
        return split_channel_ref(args or "")[0]
    if target is ManagedTarget.NAMED:
        return parse_chat_ref(args) if args else None
    return None


class ManagedChatMiddleware(BaseMiddleware):
    """Inner middleware on message and callback-query observers: for a handler flagged MANAGES_CHAT, puts
    `managing` in its keyword arguments, or answers the refusal and does not call it. Other handlers pass."""

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        target: ManagedTarget | None = get_flag(data, MANAGES_CHAT)
        if target is None:
            return await handler(event, data)
        found = dict(
            bot=data["bot"], chat_admins=data["chat_admins"], chats=data["chats"], locale=data["locale"]
        )
        if isinstance(event, CallbackQuery):
            managing = await managing_from_button(event, data["callback_data"].chat_id, **found)
        elif isinstance(event, Message):
            managing = await managing_from_message(
                event, ref=_channel_ref(target, data.get("command")), **found
            )
        else:
            raise TypeError(f"{MANAGES_CHAT} on a {type(event).__name__} handler")
        if managing is None:
            return None
        data["managing"] = managing
        return await handler(event, data)


def install_managed_chat(router: Router) -> None:
    """The middleware on the router's message and callback-query observers (its handlers flag which manage)."""
    middleware = ManagedChatMiddleware()
    router.message.middleware(middleware)
    router.callback_query.middleware(middleware)
