from __future__ import annotations

import contextlib
from datetime import time
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.chats.preferences import (
    MAX_ITEM_LIMIT,
    Frequency,
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


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("08:30", time(8, 30)),
        ("8:30", time(8, 30)),
        (" 8.05 ", time(8, 5)),
        ("0830", time(8, 30)),
        ("830", time(8, 30)),
        ("8", time(8, 0)),
        ("0", time(0, 0)),
        ("23:59", time(23, 59)),
        ("00:00", time(0, 0)),
        ("8h30", time(8, 30)),
        ("8ч30", time(8, 30)),
        ("8 pm", time(20, 0)),
        ("12am", time(0, 0)),
        ("12:15 PM", time(12, 15)),
    ],
)
def test_parse_time_accepts(text: str, expected: time) -> None:
    assert parse_time(text) == expected


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("", "time_missing"),
        ("   ", "time_missing"),
        ("24:00", "time_invalid"),
        ("23:60", "time_invalid"),
        ("8:3", "time_invalid"),
        ("13 pm", "time_invalid"),
        ("0 am", "time_invalid"),
        ("morning", "time_invalid"),
        ("08:30:00", "time_invalid"),
        ("-1", "time_invalid"),
        ("99999", "time_invalid"),
    ],
)
def test_parse_time_rejects_with_a_key(text: str, key: str) -> None:
    with pytest.raises(SettingError) as caught:
        parse_time(text)
    assert caught.value.key == key
    if key == "time_invalid":
        assert caught.value.values == {"value": text.strip()}


@settings(max_examples=200)
@given(st.integers(0, 23), st.integers(0, 59))
def test_format_then_parse_round_trips(hour: int, minute: int) -> None:
    value = time(hour, minute)
    assert parse_time(format_time(value)) == value


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Europe/Moscow", "Europe/Moscow"),
        ("europe/moscow", "Europe/Moscow"),
        ("  Asia/Yekaterinburg ", "Asia/Yekaterinburg"),
        ("America/New_York", "America/New_York"),
        ("america/new york", "America/New_York"),
        ("Moscow", "Europe/Moscow"),
        ("vladivostok", "Asia/Vladivostok"),
        ("UTC", "UTC"),
    ],
)
def test_parse_timezone_accepts_iana_names(text: str, expected: str) -> None:
    assert parse_timezone(text) == expected
    ZoneInfo(expected)  # loadable


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("", "tz_missing"),
        ("MSK+1", "tz_invalid"),
        ("+3", "tz_invalid"),
        ("Europe/Atlantis", "tz_invalid"),
        ("../../etc/passwd", "tz_invalid"),
        ("/etc/passwd", "tz_invalid"),
        ("posix/Europe/Moscow", "tz_invalid"),
    ],
)
def test_parse_timezone_rejects(text: str, key: str) -> None:
    with pytest.raises(SettingError) as caught:
        parse_timezone(text)
    assert caught.value.key == key


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("daily", Frequency("daily")),
        ("Ежедневно", Frequency("daily")),
        ("каждый день", Frequency("daily")),
        ("weekdays", Frequency("weekdays")),
        ("по   будням", Frequency("weekdays")),
        ("weekly mon", Frequency("weekly", 0)),
        ("weekly Friday", Frequency("weekly", 4)),
        ("еженедельно пт", Frequency("weekly", 4)),
        ("раз в неделю в среду", Frequency("weekly", 2)),
        ("по пятницам", Frequency("weekly", 4)),
        ("sunday", Frequency("weekly", 6)),
        ("Sundays", Frequency("weekly", 6)),
        ("вс", Frequency("weekly", 6)),
    ],
)
def test_parse_frequency(text: str, expected: Frequency) -> None:
    assert parse_frequency(text) == expected


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("", "frequency_missing"),
        ("weekly", "frequency_day_missing"),
        ("еженедельно", "frequency_day_missing"),
        ("weekly someday", "weekday_invalid"),
        ("hourly", "frequency_invalid"),
        ("twice a day", "frequency_invalid"),
    ],
)
def test_parse_frequency_rejects(text: str, key: str) -> None:
    with pytest.raises(SettingError) as caught:
        parse_frequency(text)
    assert caught.value.key == key


def test_frequency_invariants() -> None:
    with pytest.raises(ValueError):
        Frequency("weekly")
    with pytest.raises(ValueError):
        Frequency("daily", 2)
    with pytest.raises(ValueError):
        Frequency("weekly", 7)


@pytest.mark.parametrize(("name", "day"), [("понедельник", 0), ("Tue", 1), ("четверг.", 3), ("субботу", 5)])
def test_parse_weekday(name: str, day: int) -> None:
    assert parse_weekday(name) == day


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1", 1),
        ("10", 10),
        (str(MAX_ITEM_LIMIT), MAX_ITEM_LIMIT),
        ("all", None),
        ("Все", None),
        ("всё", None),
    ],
)
def test_parse_limit(text: str, expected: int | None) -> None:
    assert parse_limit(text) == expected


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("", "limit_missing"),
        ("0", "limit_invalid"),
        (str(MAX_ITEM_LIMIT + 1), "limit_invalid"),
        ("-5", "limit_invalid"),
        ("ten", "limit_invalid"),
        ("9" * 40, "limit_invalid"),
    ],
)
def test_parse_limit_rejects(text: str, key: str) -> None:
    with pytest.raises(SettingError) as caught:
        parse_limit(text)
    assert caught.value.key == key
    assert caught.value.values["maximum"] == MAX_ITEM_LIMIT


@pytest.mark.parametrize(("text", "expected"), [("on", True), ("ВКЛ", True), ("off", False), ("нет", False)])
def test_parse_switch(text: str, expected: bool) -> None:
    assert parse_switch(text) is expected


def test_parse_switch_rejects() -> None:
    with pytest.raises(SettingError) as caught:
        parse_switch("maybe")
    assert caught.value.key == "switch_invalid"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("@govnews", "@govnews"),
        ("@Gov_News_2021", "@Gov_News_2021"),
        ("https://t.me/govnews", "@govnews"),
        ("t.me/govnews/", "@govnews"),
        ("-1001234567890", -1001234567890),
        ("-100123", -100123),
        ("@abc", None),  # too short for a username
        ("@1abc", None),
        ("governors", None),
        ("-налоги", None),
        ("-12", None),
        ("12345", None),
    ],
)
def test_parse_chat_ref(text: str, expected: int | str | None) -> None:
    assert parse_chat_ref(text) == expected


@settings(max_examples=200)
@given(st.text(max_size=40))
def test_parsers_raise_only_setting_error(text: str) -> None:
    for parser in (parse_time, parse_timezone, parse_frequency, parse_limit, parse_switch):
        with contextlib.suppress(SettingError):
            parser(text)
    parse_chat_ref(text)


@pytest.mark.parametrize("text", ["²", "٣", "1²", "８:３０"])
def test_non_ascii_digits_are_rejected_cleanly(text: str) -> None:
    for parser in (parse_time, parse_limit):
        with pytest.raises(SettingError):
            parser(text)
