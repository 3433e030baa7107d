"""The one table of chat settings: each name parses its text and calls its ChatStore setter."""

from __future__ import annotations

from datetime import time
from typing import Any, cast

import pytest

from bot.chats.preferences import Frequency, SettingError
from bot.chats.setters import CHAT_SETTINGS, parse_weekly_day
from storage.interfaces import ChatStore


class RecordingChats:
    """Records every setter call as (method, args)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...]]] = []

    def __getattr__(self, name: str) -> Any:
        async def record(*args: Any) -> bool:
            self.calls.append((name, args))
            return True

        return record


@pytest.mark.parametrize(
    ("name", "text", "value", "call"),
    [
        ("time", "8:30", time(8, 30), ("set_delivery_time", (7, time(8, 30)))),
        ("tz", "europe/moscow", "Europe/Moscow", ("set_timezone", (7, "Europe/Moscow"))),
        ("frequency", "daily", Frequency("daily"), ("set_frequency", (7, "daily", None))),
        ("frequency", "weekly fri", Frequency("weekly", 4), ("set_frequency", (7, "weekly", 4))),
        ("weekday", "2", 2, ("set_frequency", (7, "weekly", 2))),
        ("weekday", "fri", 4, ("set_frequency", (7, "weekly", 4))),
        ("limit", "10", 10, ("set_max_items", (7, 10))),
        ("limit", "all", None, ("set_max_items", (7, None))),
        ("notices", "off", False, ("set_notify_empty", (7, False))),
        ("pause", "on", True, ("set_paused", (7, True))),
    ],
)
async def test_apply_parses_and_stores(
    name: str, text: str, value: object, call: tuple[str, tuple[Any, ...]]
) -> None:
    chats = RecordingChats()
    assert await CHAT_SETTINGS[name].apply(cast(ChatStore, chats), 7, text) == value
    assert chats.calls == [call]


@pytest.mark.parametrize(
    ("name", "text", "key"),
    [
        ("time", "25:00", "time_invalid"),
        ("tz", "Mars/Olympus", "tz_invalid"),
        ("frequency", "weekly", "frequency_day_missing"),
        ("weekday", "9", "weekday_invalid"),
        ("limit", "", "limit_missing"),
    ],
)
async def test_bad_text_stores_nothing(name: str, text: str, key: str) -> None:
    chats = RecordingChats()
    with pytest.raises(SettingError) as raised:
        await CHAT_SETTINGS[name].apply(cast(ChatStore, chats), 7, text)
    assert raised.value.key == key
    assert chats.calls == []


@pytest.mark.parametrize(("text", "day"), [("0", 0), ("6", 6), ("mon", 0), ("по пятницам", 4)])
def test_parse_weekly_day(text: str, day: int) -> None:
    assert parse_weekly_day(text) == day
