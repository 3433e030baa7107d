"""Which chat a subscription or settings command manages, checked once for every handler (by the inner
middleware of bot/chats/managed_middleware.py): the chat (the one the command is sent in, or a channel named from a private chat), its stored row, and the
refusal answered on the spot when the sender may not manage it (a group's non-admin, a channel's stranger,
forged button data). Also the menu edit that tolerates a double press.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiogram import Bot
from aiogram.enums import ChatType
from aiogram.exceptions import TelegramBadRequest
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.types import Chat as TgChat

from bot.chats.admins import ChatAdminCache, ManagedChat, Refused, may_manage_id, resolve_managed
from bot.chats.records import CHAT_TYPES, Chat
from bot.chats.records import ChatType as ChatKind
from bot.chats.view import t
from bot.telegram.texts import text
from storage.interfaces import ChatStore


@dataclass(frozen=True, slots=True)
class Managing:
    """A command or button press allowed to manage `chat`: `message` is the command (or the menu message the
    button is on), `locale` the sender's language."""

    message: Message
    locale: str
    managed: ManagedChat
    chat: Chat


def chat_type(chat: TgChat) -> ChatKind:
    found = str(chat.type)
    if found not in CHAT_TYPES:
        raise ValueError(f"unexpected chat type {found!r}")
    return found  # type: ignore[return-value]  # checked against CHAT_TYPES just above


async def ensure_chat(chats: ChatStore, chat: TgChat, *, locale: str | None = None) -> Chat:
    """The stored chat, created on first contact (settings may be changed before subscribing)."""
    stored = await chats.get(chat.id)
    if stored is not None:
        return stored
    return await chats.upsert(
        chat.id, type=chat_type(chat), title=chat.title, username=chat.username, locale=locale
    )


async def managing_from_message(
    message: Message,
    *,
    bot: Bot,
    chat_admins: ChatAdminCache,
    chats: ChatStore,
    locale: str,
    ref: int | str | None = None,
) -> Managing | None:
    """The chat this message manages (`ref`: a channel named from a private chat), stored on first contact;
    None after answering the refusal (in `locale`, the sender's) when the sender may not manage it."""
    try:
        managed = await resolve_managed(
            bot,
            chat_admins,
            chats,
            here=message.chat,
            user=message.from_user,
            sender_chat=message.sender_chat,
            ref=ref,
        )
    except Refused as refusal:
        await message.answer(t(refusal.key, locale, **refusal.values))
        return None
    if managed.label is None:
        chat = await ensure_chat(
            chats, message.chat, locale=locale if message.chat.type == ChatType.PRIVATE else None
        )
    else:
        found = await chats.get(managed.chat_id)
        if found is None:  # resolve_managed names only stored channels; removed in between
            await message.answer(t("channel_unknown", locale, channel=managed.label, ref=managed.label))
            return None
        chat = found
    return Managing(message, locale, managed, chat)


async def managing_from_button(
    callback: CallbackQuery,
    chat_id: int,
    *,
    bot: Bot,
    chat_admins: ChatAdminCache,
    chats: ChatStore,
    locale: str,
) -> Managing | None:
    """The same for a button press managing `chat_id` (from callback data, so checked again: never trusted);
    None after answering the press when the presser may not."""
    message = callback.message
    if not isinstance(message, Message):
        await callback.answer()
        return None
    managed = await may_manage_id(
        bot, chat_admins, chats, chat_id=chat_id, here=message.chat, user=callback.from_user
    )
    if managed is None:
        # In a group: not one of its admins; elsewhere: not an admin of that channel (or forged data).
        refusal = t("not_admin", locale) if chat_id == message.chat.id else text("common.not_admin", locale)
        await callback.answer(refusal, show_alert=True)
        return None
    chat = await chats.get(managed.chat_id)
    if chat is None:
        await callback.answer(t("already_changed", locale))
        return None
    return Managing(message, locale, managed, chat)


async def safe_edit(message: Message, html_text: str, markup: InlineKeyboardMarkup | None) -> None:
    """Edit a menu message; "message is not modified" (a double press) is not an error."""
    try:
        await message.edit_text(html_text, reply_markup=markup, disable_web_page_preview=True)
    except TelegramBadRequest as error:
        if "not modified" not in str(error).lower():
            raise
