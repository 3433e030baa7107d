"""What the subscription, settings, /digest and admin handlers show: the texts of a chat's schedule, status and
settings (`subscriptions.*` in bot/locales), the /settings menu and its pickers, the /subscriptions list and the
/unsubscribe choices, and when the next digest is due. Pure: no Telegram calls, tested without a Dispatcher.
"""

from __future__ import annotations

import html
import math
import re
from datetime import datetime
from zoneinfo import ZoneInfo

from aiogram.types import InlineKeyboardMarkup
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.chats.admins import ManagedChat
from bot.chats.preferences import LIMIT_CHOICES, format_time
from bot.chats.records import MAX_SAVED_QUERIES, Chat, Subscription
from bot.digest.schedule import next_due, schedule_anchor
from bot.telegram.callbacks import SavedQueryDelete, SettingsAction, SubscriptionsPage, UnsubscribeChoice
from bot.telegram.html_text import shorten
from bot.telegram.texts import Raw, template, text

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
QUERIES_PER_PAGE = 5
BUTTON_QUERY_CHARS = 40
# A page of the list stays far below 4096 characters however long the saved queries are.
LIST_QUERY_CHARS = 300
_TAG_RE = re.compile(r"<[^>]*>")


# --- values and the schedule ------------------------------------------------------------------------------


def t(key: str, locale: str, /, **values: object) -> str:
    """A text of this feature (`subscriptions.<key>`)."""
    return text(f"subscriptions.{key}", locale, **values)


def button_label(key: str, locale: str, /, **values: object) -> str:
    """A button text of this feature: plain text, not HTML (Telegram shows a button's `&amp;` as written), so
    values go in as they are — a saved query `AT&T` shows as `AT&T`, not `AT&amp;T`."""
    return template(f"subscriptions.{key}", locale).format_map({k: str(v) for k, v in values.items()})


def frequency_text(chat: Chat, locale: str) -> str:
    if chat.frequency == "weekly":
        return t(f"weekday_on.{chat.weekday}", locale)
    return t(f"freq_{chat.frequency}", locale)


def limit_text(chat: Chat, locale: str) -> str:
    return t("limit_all", locale) if chat.max_items is None else str(chat.max_items)


def switch_text(enabled: bool, locale: str) -> str:
    return t("switch_on" if enabled else "switch_off", locale)


def setting_values(chat: Chat, locale: str) -> dict[str, object]:
    """The chat's settings as shown: the `{time}`, `{timezone}`, `{frequency}`, `{limit}` and `{notify}` of the
    settings texts (a text uses the ones it names)."""
    return {
        "time": format_time(chat.delivery_time),
        "timezone": chat.timezone,
        "frequency": frequency_text(chat, locale),
        "limit": limit_text(chat, locale),
        "notify": switch_text(chat.notify_empty, locale),
    }


def schedule_text(chat: Chat, locale: str) -> str:
    """ "ежедневно в 09:00 (Europe/Moscow)"."""
    return t("schedule", locale, **setting_values(chat, locale))


def status_text(chat: Chat, subscription: Subscription, locale: str) -> str:
    if not chat.active:
        return t("status_inactive", locale)
    if not subscription.active:
        return t("status_off", locale)
    if chat.paused:
        return t("status_paused", locale)
    return t("status_on", locale) + ", " + schedule_text(chat, locale)


def next_digest_at(chat: Chat, subscription: Subscription, *, now: datetime) -> datetime | None:
    """When the next digest is due (UTC), or None when none is coming (not subscribed, paused, inactive)."""
    if not chat.active or chat.paused or not subscription.active:
        return None
    anchor, after_digest = schedule_anchor(
        last_period_end=chat.last_period_end, subscribed_since=subscription.since, created_at=chat.created_at
    )
    return max(next_due(chat, after=anchor, after_digest=after_digest), now)


def local_moment_text(moment: datetime, timezone: str) -> str:
    return moment.astimezone(ZoneInfo(timezone)).strftime("%d.%m.%Y %H:%M")


def next_digest_line(chat: Chat, subscription: Subscription, locale: str, *, now: datetime) -> str:
    """ "\nСледующий дайджест: 27.11.2026 09:00." or "" when none is coming."""
    due = next_digest_at(chat, subscription, now=now)
    if due is None:
        return ""
    return "\n" + t("settings.next_digest", locale, when=local_moment_text(due, chat.timezone))


def chat_label_suffix(managed: ManagedChat, locale: str) -> Raw:
    """ " — @channel" after a heading when a channel is managed from a private chat (escaped)."""
    return Raw("" if managed.label is None else t("channel_label", locale, channel=managed.label))


# --- the /settings menu and its pickers -------------------------------------------------------------------


def menu_text(chat: Chat, subscription: Subscription, managed: ManagedChat, locale: str) -> str:
    return t(
        "settings.menu",
        locale,
        chat=chat_label_suffix(managed, locale),
        status=status_text(chat, subscription, locale),
        **setting_values(chat, locale),
    )


def _button(builder: InlineKeyboardBuilder, label: str, chat_id: int, action: str, value: str = "") -> None:
    builder.button(text=label, callback_data=SettingsAction(chat_id=chat_id, action=action, value=value))


def _marked(label: str, chosen: bool) -> str:
    return CHECK + label if chosen else label


def menu_keyboard(chat: Chat, locale: str) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    _button(builder, button_label("settings.button_time", locale), chat.id, "time")
    _button(builder, button_label("settings.button_tz", locale), chat.id, "tz")
    _button(builder, button_label("settings.button_frequency", locale), chat.id, "freq")
    _button(builder, button_label("settings.button_limit", locale), chat.id, "limit")
    if chat.notify_empty:
        _button(builder, button_label("settings.button_notify_off", locale), chat.id, "notify", "off")
    else:
        _button(builder, button_label("settings.button_notify_on", locale), chat.id, "notify", "on")
    if chat.paused:
        _button(builder, button_label("settings.button_resume", locale), chat.id, "pause", "off")
    else:
        _button(builder, button_label("settings.button_pause", locale), chat.id, "pause", "on")
    _button(builder, button_label("settings.button_close", locale), chat.id, "close")
    builder.adjust(2, 2, 1, 1, 1)
    return builder.as_markup()


def _with_back(builder: InlineKeyboardBuilder, chat: Chat, locale: str, *widths: int) -> InlineKeyboardMarkup:
    _button(builder, button_label("settings.button_back", locale), chat.id, "menu")
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
            builder,
            _marked(button_label(f"settings.{key}", locale), chat.frequency == kind),
            chat.id,
            "set_freq",
            kind,
        )
    weekly = button_label("settings.button_weekly", locale)
    _button(builder, _marked(weekly, chat.frequency == "weekly"), chat.id, "weekly")
    return _with_back(builder, chat, locale, 3)


def weekday_keyboard(chat: Chat, locale: str) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for day in range(7):
        chosen = chat.frequency == "weekly" and chat.weekday == day
        _button(
            builder,
            _marked(button_label(f"weekday_short.{day}", locale), chosen),
            chat.id,
            "set_day",
            str(day),
        )
    return _with_back(builder, chat, locale, 4, 3)


def limit_keyboard(chat: Chat, locale: str) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for choice in LIMIT_CHOICES:
        _button(builder, _marked(str(choice), chat.max_items == choice), chat.id, "set_limit", str(choice))
    all_label = _marked(button_label("settings.button_all", locale), chat.max_items is None)
    _button(builder, all_label, chat.id, "set_limit", "all")
    return _with_back(builder, chat, locale, len(LIMIT_CHOICES) + 1)


_SHOWS_NEXT_DIGEST = frozenset({"time_set", "tz_set", "frequency_set", "resumed"})


def setting_reply_text(
    reply: str, chat: Chat, subscription: Subscription, locale: str, *, now: datetime
) -> str:
    """The answer to /time, /tz, /frequency, /limit, /notices, /pause, /resume: `settings.<reply>` with the chat's
    current values, the next digest after a schedule change, and (after a change, not a `*_current` answer) a
    note when the chat is not subscribed."""
    answer = t(
        f"settings.{reply}", locale, schedule=schedule_text(chat, locale), **setting_values(chat, locale)
    )
    if reply in _SHOWS_NEXT_DIGEST:
        answer += next_digest_line(chat, subscription, locale, now=now)
    if not subscription.active and not reply.endswith("_current"):
        answer += "\n" + t("settings.not_subscribed_note", locale)
    return answer


def alert_text(html_text: str) -> str:
    """A text for a callback alert (plain text, at most CALLBACK_ANSWER_LIMIT characters) from an HTML one."""
    plain = html.unescape(_TAG_RE.sub("", html_text))
    return shorten(plain, CALLBACK_ANSWER_LIMIT)


# --- /subscriptions and /unsubscribe ----------------------------------------------------------------------


def subscriptions_view(
    chat: Chat, subscription: Subscription, managed: ManagedChat, page: int, locale: str
) -> tuple[str, InlineKeyboardMarkup | None]:
    """The /subscriptions text and keyboard for one page (clamped to the pages there are)."""
    queries = subscription.queries
    pages = max(1, math.ceil(len(queries) / QUERIES_PER_PAGE))
    page = min(max(page, 0), pages - 1)
    lines = [
        t(
            "list_header",
            locale,
            chat=chat_label_suffix(managed, locale),
            status=status_text(chat, subscription, locale),
            gov=t("yes" if subscription.gov_news else "no", locale),
        ),
        "",
    ]
    builder = InlineKeyboardBuilder()
    shown = queries[page * QUERIES_PER_PAGE : (page + 1) * QUERIES_PER_PAGE]
    if not queries:
        lines.append(t("list_no_queries", locale))
    else:
        lines.append(
            t(
                "list_queries",
                locale,
                count=len(queries),
                maximum=MAX_SAVED_QUERIES,
                page=page + 1,
                pages=pages,
            )
        )
        for offset, saved in enumerate(shown):
            number = page * QUERIES_PER_PAGE + offset + 1
            state = Raw("" if saved.enabled else t("list_item_off", locale))
            shown_text = shorten(saved.text, LIST_QUERY_CHARS)
            lines.append(t("list_item", locale, number=number, query=shown_text, state=state))
            builder.button(
                text=button_label("button_delete", locale, number=number),
                callback_data=SavedQueryDelete(chat_id=chat.id, query_id=saved.id, page=page),
            )
    widths = [len(shown)] if shown else []
    navigation = []
    if page > 0:
        navigation.append((button_label("button_prev", locale), page - 1))
    if page < pages - 1:
        navigation.append((button_label("button_next", locale), page + 1))
    for label, target in navigation:
        builder.button(text=label, callback_data=SubscriptionsPage(chat_id=chat.id, page=target))
    if navigation:
        widths.append(len(navigation))
    if not widths:
        return "\n".join(lines), None
    builder.adjust(*widths)
    return "\n".join(lines), builder.as_markup()


def unsubscribe_keyboard(chat_id: int, subscription: Subscription, locale: str) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(
        text=button_label("button_unsub_all", locale),
        callback_data=UnsubscribeChoice(chat_id=chat_id, what="all"),
    )
    if subscription.gov_news:
        builder.button(
            text=button_label("button_unsub_gov", locale),
            callback_data=UnsubscribeChoice(chat_id=chat_id, what="gov"),
        )
    for saved in subscription.enabled_queries:
        builder.button(
            text=button_label("button_unsub_query", locale, query=shorten(saved.text, BUTTON_QUERY_CHARS)),
            callback_data=UnsubscribeChoice(chat_id=chat_id, what="q", query_id=saved.id),
        )
    builder.button(
        text=button_label("button_cancel", locale),
        callback_data=UnsubscribeChoice(chat_id=chat_id, what="no"),
    )
    builder.adjust(1)
    return builder.as_markup()
