"""Changing one chat setting: the single table of settings, each a parser (the typed text or a button's value
→ a value, or SettingError) and the ChatStore setter that keeps it. The /settings buttons and the text commands
(/time, /tz, /frequency, /limit, /notices, /pause) both go through `CHAT_SETTINGS`; what the user is told is
rendered by the handlers."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import time
from typing import Any, Generic, TypeVar

from bot.chats.preferences import (
    Frequency,
    parse_frequency,
    parse_limit,
    parse_switch,
    parse_time,
    parse_timezone,
    parse_weekday,
)
from storage.interfaces import ChatStore

T = TypeVar("T")

# The settings keyboard sends weekdays as 0..6 (Monday first); the parser reads day names.
WEEKDAY_CODES = {str(day): name for day, name in enumerate(("mon", "tue", "wed", "thu", "fri", "sat", "sun"))}


@dataclass(frozen=True, slots=True)
class ChatSetting(Generic[T]):
    """One setting: `parse` reads the text (raising SettingError), `store` keeps the value for a chat."""

    parse: Callable[[str], T]
    store: Callable[[ChatStore, int, T], Awaitable[object]]

    async def apply(self, chats: ChatStore, chat_id: int, text: str) -> T:
        """Parse `text` and store it for `chat_id`; the parsed value. SettingError leaves the chat as it was."""
        value = self.parse(text)
        await self.store(chats, chat_id, value)
        return value


def parse_weekly_day(text: str) -> int:
    """A weekday as the keyboard sends it (0..6) or as typed (`fri`, `пятница`)."""
    return parse_weekday(WEEKDAY_CODES.get(text.strip(), text))


def _set_time(chats: ChatStore, chat_id: int, value: time) -> Awaitable[bool]:
    return chats.set_delivery_time(chat_id, value)


def _set_timezone(chats: ChatStore, chat_id: int, value: str) -> Awaitable[bool]:
    return chats.set_timezone(chat_id, value)


def _set_frequency(chats: ChatStore, chat_id: int, value: Frequency) -> Awaitable[bool]:
    return chats.set_frequency(chat_id, value.kind, value.weekday)


def _set_weekly_day(chats: ChatStore, chat_id: int, value: int) -> Awaitable[bool]:
    return chats.set_frequency(chat_id, "weekly", value)


def _set_limit(chats: ChatStore, chat_id: int, value: int | None) -> Awaitable[bool]:
    return chats.set_max_items(chat_id, value)


def _set_notices(chats: ChatStore, chat_id: int, value: bool) -> Awaitable[bool]:
    return chats.set_notify_empty(chat_id, value)


def _set_paused(chats: ChatStore, chat_id: int, value: bool) -> Awaitable[bool]:
    return chats.set_paused(chat_id, value)


CHAT_SETTINGS: dict[str, ChatSetting[Any]] = {
    "time": ChatSetting(parse_time, _set_time),
    "tz": ChatSetting(parse_timezone, _set_timezone),
    "frequency": ChatSetting(parse_frequency, _set_frequency),
    "weekday": ChatSetting(parse_weekly_day, _set_weekly_day),
    "limit": ChatSetting(parse_limit, _set_limit),
    "notices": ChatSetting(parse_switch, _set_notices),
    "pause": ChatSetting(parse_switch, _set_paused),
}
