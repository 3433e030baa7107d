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

from aiogram import Router
from aiogram.filters import Command, CommandObject
from aiogram.types import CallbackQuery, Message

from bot.chats.managed import Managing, safe_edit
from bot.chats.managed_middleware import MANAGES_CHAT, ManagedTarget, install_managed_chat
from bot.chats.preferences import SettingError
from bot.chats.setters import CHAT_SETTINGS
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


async def settings_command(message: Message, *, managing: Managing, subscriptions: SubscriptionStore) -> None:
    chat, locale = managing.chat, managing.locale
    subscription = await subscriptions.get(chat.id)
    await message.answer(
        menu_text(chat, subscription, managing.managed, locale),
        reply_markup=menu_keyboard(chat, locale),
        disable_web_page_preview=True,
    )


# The settings each setter button changes (bot/chats/setters.py); other actions only navigate.
_BUTTON_SETTINGS = {
    "set_time": "time",
    "set_tz": "tz",
    "set_freq": "frequency",
    "set_day": "weekday",
    "set_limit": "limit",
    "notify": "notices",
    "pause": "pause",
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
    managing: Managing,
    chats: ChatStore,
    subscriptions: SubscriptionStore,
) -> None:
    message, managed, chat, locale = managing.message, managing.managed, managing.chat, managing.locale
    action = callback_data.action
    setting = _BUTTON_SETTINGS.get(action)
    try:
        if setting is not None:
            await CHAT_SETTINGS[setting].apply(chats, chat.id, callback_data.value)
    except SettingError as error:
        alert = alert_text(t(f"settings.{error.key}", locale, **error.values))
        await callback.answer(alert, show_alert=True)
        return
    if setting is not None:
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
    managing: Managing,
    chats: ChatStore,
    subscriptions: SubscriptionStore,
    clock: Clock,
) -> None:
    """/time, /tz, /frequency, /limit, /notices, /pause, /resume for the chat they are sent in."""
    name = command.command.lower()
    name = _COMMAND_ALIASES.get(name, name)
    before, locale = managing.chat, managing.locale
    chat_id = before.id
    args = (command.args or "").strip()
    try:
        if name in {"pause", "resume"}:
            wanted = name == "pause"
            if before.paused == wanted:
                reply = "already_paused" if wanted else "not_paused"
            else:
                await CHAT_SETTINGS["pause"].store(chats, chat_id, wanted)
                reply = "paused" if wanted else "resumed"
        elif not args:
            reply = _CURRENT[name]
        else:
            value = await CHAT_SETTINGS[name].apply(chats, chat_id, args)
            reply = _SET[name] if name != "notices" else ("notify_set_on" if value else "notify_set_off")
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
_SET = {"time": "time_set", "tz": "tz_set", "frequency": "frequency_set", "limit": "limit_set"}
SETTING_COMMANDS = ("time", "tz", "timezone", "frequency", "limit", "notices", "notify", "pause", "resume")


def create_router() -> Router:
    """Every handler manages a chat: it gets it (or the refusal) from the managed-chat middleware."""
    router = Router(name="settings")
    install_managed_chat(router)
    router.message.register(settings_command, Command("settings"), flags={MANAGES_CHAT: ManagedTarget.NAMED})
    router.message.register(
        _setting_command, Command(*SETTING_COMMANDS), flags={MANAGES_CHAT: ManagedTarget.HERE}
    )
    router.callback_query.register(
        settings_button, SettingsAction.filter(), flags={MANAGES_CHAT: ManagedTarget.BUTTON}
    )
    return router
