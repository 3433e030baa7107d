"""/digest: the chat's digest now — what the next scheduled one would hold — without touching the schedule or
the outbox; and the "next page" button every digest past its item cap carries (`DigestPage`).

The button sends the next page into the chat the digest is in, once: it is removed from the message before the
page goes out, so a second press (or a second reader in a group or channel) sends nothing twice. A button with
a forged or stale period end or page answers "page gone".

In a group /digest works once per GROUP_DIGEST_COOLDOWN_SECONDS (10 minutes): any member may ask, but the
whole multi-message digest is not posted over and over; the first extra request gets a short notice, later
ones silence until the window ends.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence

from aiogram import Bot, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message

from bot.chats.admins import is_group
from bot.chats.view import t
from bot.clock import Clock
from bot.digest.on_demand import (
    GROUP_DIGEST_COOLDOWN_SECONDS,
    MAX_DIGEST_PAGE,
    ChatCooldown,
    PagesInFlight,
    digest_page,
    preview_digest,
    preview_period_end,
)
from bot.digest.records import PartDraft
from bot.telegram.callbacks import DigestPage
from storage.interfaces import ChatStore, Storage, SubscriptionStore

log = logging.getLogger(__name__)


async def send_parts(bot: Bot, chat_id: int, parts: Sequence[PartDraft]) -> None:
    """Send rendered digest parts in order (HTML; the markup is stored as JSON)."""
    for part in parts:
        markup = InlineKeyboardMarkup.model_validate_json(part.reply_markup) if part.reply_markup else None
        await bot.send_message(chat_id, part.text, reply_markup=markup, disable_web_page_preview=True)


async def digest_command(
    message: Message,
    *,
    bot: Bot,
    store: Storage,
    digest_cooldown: ChatCooldown,
    chats: ChatStore,
    subscriptions: SubscriptionStore,
    locale: str,
) -> None:
    chat = await chats.get(message.chat.id)
    if chat is None or not await subscriptions.is_subscribed(chat.id):
        await message.answer(t("digest.not_subscribed", locale))
        return
    if is_group(message.chat):
        answer = await digest_cooldown.claim(chat.id)
        if not answer.allowed:
            if answer.tell:
                await message.answer(
                    t(
                        "digest.cooldown",
                        locale,
                        minutes=max(1, math.ceil(answer.remaining / 60)),
                        period=GROUP_DIGEST_COOLDOWN_SECONDS // 60,
                    )
                )
            return
    await send_parts(bot, chat.id, await preview_digest(store, chat.id))


async def digest_page_button(
    callback: CallbackQuery,
    *,
    callback_data: DigestPage,
    bot: Bot,
    store: Storage,
    clock: Clock,
    pages_in_flight: PagesInFlight,
    locale: str,
) -> None:
    message = callback.message
    if not isinstance(message, Message) or not 1 <= callback_data.page <= MAX_DIGEST_PAGE:
        await callback.answer(t("digest.page_gone", locale), show_alert=True)
        return
    key = (message.chat.id, message.message_id)
    if not pages_in_flight.claim(key):
        await callback.answer()
        return
    try:
        if callback_data.job:
            parts = await digest_page(store, callback_data.job, callback_data.page, chat_id=message.chat.id)
        else:
            until = preview_period_end(callback_data.until, now=clock())
            if until is None:  # forged, or a preview too old to page through
                await callback.answer(t("digest.page_gone", locale), show_alert=True)
                return
            parts = await preview_digest(store, message.chat.id, now=until, page=callback_data.page)
        if not parts:
            await callback.answer(t("digest.page_gone", locale), show_alert=True)
            return
        await callback.answer(t("digest.page_sent", locale))
        try:
            await message.edit_reply_markup(reply_markup=None)
        except TelegramBadRequest as error:
            # Already removed: someone else pressed it first and got this page.
            log.info("next-page button of %s already gone: %s", key, error)
            return
        await send_parts(bot, message.chat.id, parts)
    finally:
        pages_in_flight.release(key)


def create_router() -> Router:
    router = Router(name="digest")
    router.message.register(digest_command, Command("digest"))
    router.callback_query.register(digest_page_button, DigestPage.filter())
    return router
