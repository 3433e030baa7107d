"""/settings: the inline-keyboard menu of a chat's digest (time, timezone, frequency, items per digest,
"nothing new" notices, pause/resume), and the text commands `/time 08:30`, `/tz Europe/Moscow`,
`/frequency weekly fri`, `/limit 10|all`, `/notices on|off`, `/pause`, `/resume`.

In a group only administrators change settings (others get a short refusal). A channel's settings are changed
from a private chat with `/settings @channel` by one of its administrators; the menu's buttons carry the
channel id, and every press is checked again (callback data is never trusted). Every value from a button goes
through the same parser as typed text.

The render helpers here (schedule, status and value texts) are shared by the other subscription handlers.
"""

from __future__ import annotations

import html
import logging
import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from aiogram import Bot, Dispatcher, Router
from aiogram.enums import ChatType
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command, CommandObject
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message, User
from aiogram.types import Chat as TgChat
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.callbacks import SettingsAction
from bot.chat_admin import ManagedChat, Refused, chat_admins_of, may_manage_id, resolve_managed
from bot.render import shorten
from bot.schedule import next_due, schedule_anchor
from bot.settings_parse import (
    LIMIT_CHOICES,
    SettingError,
    format_time,
    parse_chat_ref,
    parse_frequency,
    parse_limit,
    parse_switch,
    parse_time,
    parse_timezone,
    parse_weekday,
)
from bot.texts import Raw, locale_of, text
from storage.chats import CHAT_TYPES, Chat, ChatRepository
from storage.chats import ChatType as ChatKind
from storage.subscriptions import Subscription, SubscriptionRepository

log = logging.getLogger(__name__)

TIME_CHOICES: tuple[str, ...] = (
    "06:00", "07:00", "07:30", "08:00", "08:30", "09:00",
    "10:00", "12:00", "15:00", "18:00", "20:00", "21:00",
)  # fmt: skip
TIMEZONE_CHOICES: tuple[str, ...] = (
    "Europe/Kaliningrad", "Europe/Moscow", "Europe/Samara", "Asia/Yekaterinburg", "Asia/Omsk",
    "Asia/Novosibirsk", "Asia/Krasnoyarsk", "Asia/Irkutsk", "Asia/Yakutsk", "Asia/Vladivostok",
    "Asia/Magadan", "Asia/Kamchatka", "UTC",
)  # fmt: skip
CHECK = "✓ "
# Telegram shows at most 200 characters of a callback answer.
CALLBACK_ANSWER_LIMIT = 200
_TAG_RE = re.compile(r"<[^>]*>")


# --- rendering (shared with the other subscription handlers) ------------------------------------------


def t(key: str, locale: str, /, **values: object) -> str:
    """A text of this feature (`subscriptions.<key>`)."""
    return text(f"subscriptions.{key}", locale, **values)


def frequency_text(chat: Chat, locale: str) -> str:
    if chat.frequency == "weekly":
        return t(f"weekday_on.{chat.weekday}", locale)
    return t(f"freq_{chat.frequency}", locale)


def schedule_text(chat: Chat, locale: str) -> str:
    """ "ежедневно в 09:00 (Europe/Moscow)"."""
    return t(
        "schedule",
        locale,
        frequency=frequency_text(chat, locale),
        time=format_time(chat.delivery_time),
        timezone=chat.timezone,
    )


def limit_text(chat: Chat, locale: str) -> str:
    return t("limit_all", locale) if chat.max_items is None else str(chat.max_items)


def switch_text(enabled: bool, locale: str) -> str:
    return t("switch_on" if enabled else "switch_off", locale)


def status_text(chat: Chat, subscription: Subscription, locale: str) -> str:
    if not chat.active:
        return t("status_inactive", locale)
    if not subscription.active:
        return t("status_off", locale)
    if chat.paused:
        return t("status_paused", locale)
    return t("status_on", locale) + ", " + schedule_text(chat, locale)


def next_digest_at(chat: Chat, subscription: Subscription, *, now: datetime | None = None) -> datetime | None:
    """When the next digest is due (UTC), or None when none is coming (not subscribed, paused, inactive)."""
    if not chat.active or chat.paused or not subscription.active:
        return None
    moment = now or datetime.now(UTC)
    anchor, after_digest = schedule_anchor(
        last_period_end=chat.last_period_end, subscribed_since=subscription.since, created_at=chat.created_at
    )
    return max(next_due(chat, after=anchor, after_digest=after_digest), moment)


def local_moment_text(moment: datetime, timezone: str) -> str:
    return moment.astimezone(ZoneInfo(timezone)).strftime("%d.%m.%Y %H:%M")


def next_digest_line(chat: Chat, subscription: Subscription, locale: str) -> str:
    """ "\nСледующий дайджест: 27.11.2026 09:00." or "" when none is coming."""
    due = next_digest_at(chat, subscription)
    if due is None:
        return ""
    return "\n" + t("settings.next_digest", locale, when=local_moment_text(due, chat.timezone))


def chat_label_suffix(managed: ManagedChat, locale: str) -> Raw:
    """ " — @channel" after a heading when a channel is managed from a private chat (escaped)."""
    return Raw("" if managed.label is None else t("channel_label", locale, channel=managed.label))


def menu_text(chat: Chat, subscription: Subscription, managed: ManagedChat, locale: str) -> str:
    return t(
        "settings.menu",
        locale,
        chat=chat_label_suffix(managed, locale),
        time=format_time(chat.delivery_time),
        timezone=chat.timezone,
        frequency=frequency_text(chat, locale),
        limit=limit_text(chat, locale),
        notify=switch_text(chat.notify_empty, locale),
        status=status_text(chat, subscription, locale),
    )


def _button(builder: InlineKeyboardBuilder, label: str, chat_id: int, action: str, value: str = "") -> None:
    builder.button(text=label, callback_data=SettingsAction(chat_id=chat_id, action=action, value=value))


def _marked(label: str, chosen: bool) -> str:
    return CHECK + label if chosen else label


def menu_keyboard(chat: Chat, locale: str) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    _button(builder, t("settings.button_time", locale), chat.id, "time")
    _button(builder, t("settings.button_tz", locale), chat.id, "tz")
    _button(builder, t("settings.button_frequency", locale), chat.id, "freq")
    _button(builder, t("settings.button_limit", locale), chat.id, "limit")
    if chat.notify_empty:
        _button(builder, t("settings.button_notify_off", locale), chat.id, "notify", "off")
    else:
        _button(builder, t("settings.button_notify_on", locale), chat.id, "notify", "on")
    if chat.paused:
        _button(builder, t("settings.button_resume", locale), chat.id, "pause", "off")
    else:
        _button(builder, t("settings.button_pause", locale), chat.id, "pause", "on")
    _button(builder, t("settings.button_close", locale), chat.id, "close")
    builder.adjust(2, 2, 1, 1, 1)
    return builder.as_markup()


def _with_back(builder: InlineKeyboardBuilder, chat: Chat, locale: str, *widths: int) -> InlineKeyboardMarkup:
    _button(builder, t("settings.button_back", locale), chat.id, "menu")
    builder.adjust(*widths, 1)
    return builder.as_markup()


def time_keyboard(chat: Chat, locale: str) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    current = format_time(chat.delivery_time)
    for choice in TIME_CHOICES:
        _button(builder, _marked(choice, choice == current), chat.id, "set_time", choice.replace(":", ""))
    return _with_back(builder, chat, locale, 4, 4, 4)


def _utc_offset(zone_name: str) -> str:
    offset = datetime.now(ZoneInfo(zone_name)).utcoffset()
    minutes = int(offset.total_seconds() // 60) if offset is not None else 0
    sign = "+" if minutes >= 0 else "-"
    hours, rest = divmod(abs(minutes), 60)
    return f"UTC{sign}{hours}" + (f":{rest:02d}" if rest else "")


def timezone_keyboard(chat: Chat, locale: str) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for zone in TIMEZONE_CHOICES:
        label = zone if zone == "UTC" else f"{zone.rsplit('/', 1)[1]} ({_utc_offset(zone)})"
        _button(builder, _marked(label, zone == chat.timezone), chat.id, "set_tz", zone)
    return _with_back(builder, chat, locale, 2, 2, 2, 2, 2, 2, 1)


def frequency_keyboard(chat: Chat, locale: str) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for kind, key in (("daily", "button_daily"), ("weekdays", "button_weekdays")):
        _button(
            builder, _marked(t(f"settings.{key}", locale), chat.frequency == kind), chat.id, "set_freq", kind
        )
    weekly = t("settings.button_weekly", locale)
    _button(builder, _marked(weekly, chat.frequency == "weekly"), chat.id, "weekly")
    return _with_back(builder, chat, locale, 3)


def weekday_keyboard(chat: Chat, locale: str) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for day in range(7):
        chosen = chat.frequency == "weekly" and chat.weekday == day
        _button(builder, _marked(t(f"weekday_short.{day}", locale), chosen), chat.id, "set_day", str(day))
    return _with_back(builder, chat, locale, 4, 3)


def limit_keyboard(chat: Chat, locale: str) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for choice in LIMIT_CHOICES:
        _button(builder, _marked(str(choice), chat.max_items == choice), chat.id, "set_limit", str(choice))
    all_label = _marked(t("settings.button_all", locale), chat.max_items is None)
    _button(builder, all_label, chat.id, "set_limit", "all")
    return _with_back(builder, chat, locale, len(LIMIT_CHOICES) + 1)


# --- shared plumbing --------------------------------------------------------------------------------------


def alert_text(html_text: str) -> str:
    """A text for a callback alert (plain text, at most CALLBACK_ANSWER_LIMIT characters) from an HTML one."""
    plain = html.unescape(_TAG_RE.sub("", html_text))
    return shorten(plain, CALLBACK_ANSWER_LIMIT)


def sender_locale(user: User | None) -> str:
    return locale_of(user.language_code if user else None)


async def ensure_chat(chats: ChatRepository, chat: TgChat, *, locale: str | None = None) -> Chat:
    """The stored chat, created on first contact (settings may be changed before subscribing)."""
    stored = await chats.get(chat.id)
    if stored is not None:
        return stored
    return await chats.upsert(
        chat.id, type=chat_type(chat), title=chat.title, username=chat.username, locale=locale
    )


def chat_type(chat: TgChat) -> ChatKind:
    found = str(chat.type)
    if found not in CHAT_TYPES:
        raise ValueError(f"unexpected chat type {found!r}")
    return found  # type: ignore[return-value]  # checked against CHAT_TYPES just above


async def managed_from_message(
    message: Message, bot: Bot, dispatcher: Dispatcher, chats: ChatRepository, ref: int | str | None = None
) -> ManagedChat | None:
    """The chat this message manages (answering the refusal itself and returning None when it may not)."""
    locale = sender_locale(message.from_user)
    try:
        managed = await resolve_managed(
            bot,
            chat_admins_of(dispatcher),
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
        await ensure_chat(
            chats, message.chat, locale=locale if message.chat.type == ChatType.PRIVATE else None
        )
    return managed


async def managed_from_button(
    callback: CallbackQuery, chat_id: int, bot: Bot, dispatcher: Dispatcher, chats: ChatRepository
) -> tuple[Message, ManagedChat, Chat] | None:
    """The message, the managed chat and its row for a button press managing `chat_id`; answers the refusal
    itself and returns None when the presser may not."""
    locale = sender_locale(callback.from_user)
    message = callback.message
    if not isinstance(message, Message):
        await callback.answer()
        return None
    cache = chat_admins_of(dispatcher)
    managed = await may_manage_id(
        bot, cache, chats, chat_id=chat_id, here=message.chat, user=callback.from_user
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
    return message, managed, chat


async def safe_edit(message: Message, html_text: str, markup: InlineKeyboardMarkup | None) -> None:
    """Edit a menu message; "message is not modified" (a double press) is not an error."""
    try:
        await message.edit_text(html_text, reply_markup=markup, disable_web_page_preview=True)
    except TelegramBadRequest as error:
        if "not modified" not in str(error).lower():
            raise


# --- /settings and its buttons ------------------------------------------------------------------------------


async def settings_command(
    message: Message,
    *,
    command: CommandObject,
    bot: Bot,
    dispatcher: Dispatcher,
    chats: ChatRepository,
    subscriptions: SubscriptionRepository,
) -> None:
    locale = sender_locale(message.from_user)
    ref = parse_chat_ref(command.args) if command.args else None
    managed = await managed_from_message(message, bot, dispatcher, chats, ref)
    if managed is None:
        return
    chat = await chats.get(managed.chat_id)
    assert chat is not None
    subscription = await subscriptions.get(chat.id)
    await message.answer(
        menu_text(chat, subscription, managed, locale),
        reply_markup=menu_keyboard(chat, locale),
        disable_web_page_preview=True,
    )


async def _apply(action: str, value: str, chat_id: int, chats: ChatRepository) -> bool:
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
    chats: ChatRepository,
    subscriptions: SubscriptionRepository,
) -> None:
    locale = sender_locale(callback.from_user)
    found = await managed_from_button(callback, callback_data.chat_id, bot, dispatcher, chats)
    if found is None:
        return
    message, managed, chat = found
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
    chats: ChatRepository,
    subscriptions: SubscriptionRepository,
) -> None:
    """/time, /tz, /frequency, /limit, /notices, /pause, /resume for the chat they are sent in."""
    locale = sender_locale(message.from_user)
    name = command.command.lower()
    name = _COMMAND_ALIASES.get(name, name)
    managed = await managed_from_message(message, bot, dispatcher, chats)
    if managed is None:
        return
    chat_id = managed.chat_id
    args = (command.args or "").strip()
    before = await chats.get(chat_id)
    assert before is not None
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
    chat = await chats.get(chat_id)
    assert chat is not None
    subscription = await subscriptions.get(chat_id)
    answer = t(
        f"settings.{reply}",
        locale,
        time=format_time(chat.delivery_time),
        timezone=chat.timezone,
        frequency=frequency_text(chat, locale),
        limit=limit_text(chat, locale),
        notify=switch_text(chat.notify_empty, locale),
        schedule=schedule_text(chat, locale),
    )
    if reply in {"time_set", "tz_set", "frequency_set", "resumed"}:
        answer += next_digest_line(chat, subscription, locale)
    if not subscription.active and reply not in _CURRENT.values():
        answer += "\n" + t("settings.not_subscribed_note", locale)
    await message.answer(answer)


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
