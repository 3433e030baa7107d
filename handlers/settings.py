"""/settings: the inline-keyboard menu of a chat's digest (time, timezone, frequency, items per digest,
"nothing new" notices, pause/resume), and the text commands `/time 08:30`, `/tz Europe/Moscow`,
`/frequency weekly fri`, `/limit 10|all`, `/notices on|off`, `/pause`, `/resume`.

In a group only administrators change settings (others get a short refusal). A channel's settings are changed
from a private chat with `/settings @channel` by one of its administrators; the menu's buttons carry the
channel id, and every press is checked again (callback data is never trusted). Every value from a button goes
through the same parser as typed text. What is shown is rendered in bot/chats/view.py; who may manage
which chat is decided in bot/chats/managed.py.
"""

from __future__ import annotations

from aiogram import Bot, Dispatcher, Router
from aiogram.filters import Command, CommandObject
from aiogram.types import CallbackQuery, Message

from bot.chats.managed import managing_from_button, managing_from_message, safe_edit
from bot.chats.preferences import (
    SettingError,
    parse_chat_ref,
    parse_frequency,
    parse_limit,
    parse_switch,
    parse_time,
    parse_timezone,
    parse_weekday,
)
from bot.chats.view import (
    alert_text,
    frequency_keyboard,
    limit_keyboard,
    menu_keyboard,
    menu_text,
    setting_reply_text,
    t,
    time_keyboard,
    timezone_keyboard,
    weekday_keyboard,
)
from bot.clock import Clock
from bot.telegram.callbacks import SettingsAction
from storage.interfaces import ChatStore, SubscriptionStore

# --- /settings and its buttons ------------------------------------------------------------------------------


async def settings_command(
    message: Message,
    *,
    command: CommandObject,
    bot: Bot,
    dispatcher: Dispatcher,
    chats: ChatStore,
    subscriptions: SubscriptionStore,
) -> None:
    ref = parse_chat_ref(command.args) if command.args else None
    managing = await managing_from_message(message, bot=bot, dispatcher=dispatcher, chats=chats, ref=ref)
    if managing is None:
        return
    chat, locale = managing.chat, managing.locale
    subscription = await subscriptions.get(chat.id)
    await message.answer(
        menu_text(chat, subscription, managing.managed, locale),
        reply_markup=menu_keyboard(chat, locale),
        disable_web_page_preview=True,
    )


async def _apply(action: str, value: str, chat_id: int, chats: ChatStore) -> bool:
    """Apply a setter button; True when something was set (False: the action only navigates)."""
    if action == "set_time":
        await chats.set_delivery_time(chat_id, parse_time(value))
    elif action == "set_tz":
        await chats.set_timezone(chat_id, parse_timezone(value))
    elif action == "set_freq":
        frequency = parse_frequency(value)
        await chats.set_frequency(chat_id, frequency.kind, frequency.weekday)
    elif action == "set_day":
        await chats.set_frequency(chat_id, "weekly", parse_weekday(_WEEKDAY_CODES.get(value, value)))
    elif action == "set_limit":
        await chats.set_max_items(chat_id, parse_limit(value))
    elif action == "notify":
        await chats.set_notify_empty(chat_id, parse_switch(value))
    elif action == "pause":
        await chats.set_paused(chat_id, parse_switch(value))
    else:
        return False
    return True


# "set_day" carries 0..6; the parser reads day names.
_WEEKDAY_CODES = {
    str(day): name for day, name in enumerate(("mon", "tue", "wed", "thu", "fri", "sat", "sun"))
}

_PICKERS = {
    "time": ("settings.pick_time", time_keyboard),
    "tz": ("settings.pick_tz", timezone_keyboard),
    "freq": ("settings.pick_frequency", frequency_keyboard),
    "weekly": ("settings.pick_weekday", weekday_keyboard),
    "limit": ("settings.pick_limit", limit_keyboard),
}


async def settings_button(
    callback: CallbackQuery,
    *,
    callback_data: SettingsAction,
    bot: Bot,
    dispatcher: Dispatcher,
    chats: ChatStore,
    subscriptions: SubscriptionStore,
) -> None:
    managing = await managing_from_button(
        callback, callback_data.chat_id, bot=bot, dispatcher=dispatcher, chats=chats
    )
    if managing is None:
        return
    message, managed, chat, locale = managing.message, managing.managed, managing.chat, managing.locale
    action = callback_data.action
    try:
        changed = await _apply(action, callback_data.value, chat.id, chats)
    except SettingError as error:
        alert = alert_text(t(f"settings.{error.key}", locale, **error.values))
        await callback.answer(alert, show_alert=True)
        return
    if changed:
        await callback.answer(t("settings.saved", locale))
        chat = await chats.get(chat.id) or chat
    else:
        await callback.answer()
    subscription = await subscriptions.get(chat.id)
    if action == "close":
        summary = menu_text(chat, subscription, managed, locale)
        await safe_edit(message, summary + "\n\n" + t("settings.closed", locale), None)
        return
    picker = _PICKERS.get(action)
    if picker is not None:
        key, keyboard = picker
        await safe_edit(message, t(key, locale), keyboard(chat, locale))
        return
    await safe_edit(message, menu_text(chat, subscription, managed, locale), menu_keyboard(chat, locale))


# --- text commands ----------------------------------------------------------------------------------------


async def _setting_command(
    message: Message,
    *,
    command: CommandObject,
    bot: Bot,
    dispatcher: Dispatcher,
    chats: ChatStore,
    subscriptions: SubscriptionStore,
    clock: Clock,
) -> None:
    """/time, /tz, /frequency, /limit, /notices, /pause, /resume for the chat they are sent in."""
    name = command.command.lower()
    name = _COMMAND_ALIASES.get(name, name)
    managing = await managing_from_message(message, bot=bot, dispatcher=dispatcher, chats=chats)
    if managing is None:
        return
    before, locale = managing.chat, managing.locale
    chat_id = before.id
    args = (command.args or "").strip()
    try:
        if name in {"pause", "resume"}:
            wanted = name == "pause"
            if before.paused == wanted:
                reply = "already_paused" if wanted else "not_paused"
            else:
                await chats.set_paused(chat_id, wanted)
                reply = "paused" if wanted else "resumed"
        elif not args:
            reply = _CURRENT[name]
        elif name == "time":
            await chats.set_delivery_time(chat_id, parse_time(args))
            reply = "time_set"
        elif name == "tz":
            await chats.set_timezone(chat_id, parse_timezone(args))
            reply = "tz_set"
        elif name == "frequency":
            frequency = parse_frequency(args)
            await chats.set_frequency(chat_id, frequency.kind, frequency.weekday)
            reply = "frequency_set"
        elif name == "limit":
            await chats.set_max_items(chat_id, parse_limit(args))
            reply = "limit_set"
        else:
            enabled = parse_switch(args)
            await chats.set_notify_empty(chat_id, enabled)
            reply = "notify_set_on" if enabled else "notify_set_off"
    except SettingError as error:
        await message.answer(t(f"settings.{error.key}", locale, **error.values))
        return
    chat = await chats.get(chat_id) or before
    subscription = await subscriptions.get(chat_id)
    await message.answer(setting_reply_text(reply, chat, subscription, locale, now=clock()))


_COMMAND_ALIASES = {"timezone": "tz", "notify": "notices"}
_CURRENT = {
    "time": "time_current",
    "tz": "tz_current",
    "frequency": "frequency_current",
    "limit": "limit_current",
    "notices": "notify_current",
}
SETTING_COMMANDS = ("time", "tz", "timezone", "frequency", "limit", "notices", "notify", "pause", "resume")


def create_router() -> Router:
    router = Router(name="settings")
    router.message.register(settings_command, Command("settings"))
    router.message.register(_setting_command, Command(*SETTING_COMMANDS))
    router.callback_query.register(settings_button, SettingsAction.filter())
    return router
