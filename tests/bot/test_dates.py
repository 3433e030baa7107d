"""Russian news dates: every style of the real corpus, failures, relative days, the dateutil vocabulary."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.archive.dates import (
    MOSCOW,
    RU_PARSERINFO,
    DateError,
    ImpossibleDateError,
    NoDateError,
    YearMissingError,
    date_prefix_length,
    format_local,
    match_date_prefix,
    parse_date,
    search_date,
)

NOW = datetime(2021, 10, 28, 1, 30, tzinfo=MOSCOW)  # 27 Oct 22:30 UTC; in Moscow already the 28th


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # the seed page and the corpus README's styles (Moscow: UTC+3 since 2014, +4 in summer 2010)
        ("22:29, 27 октября 2021", utc(2021, 10, 27, 19, 29)),
        ("22:29, 27 октября 2021 154", utc(2021, 10, 27, 19, 29)),
        ("27.10.2021 22:29", utc(2021, 10, 27, 19, 29)),
        ("27 октября 2021, 22:29", utc(2021, 10, 27, 19, 29)),
        ("27 октября 2021 г. в 22:29", utc(2021, 10, 27, 19, 29)),
        ("1 января 2010 02:43", utc(2009, 12, 31, 23, 43)),
        ("12 июля 2010 12:00", utc(2010, 7, 12, 8, 0)),
        ("04 июля 2025 07:21:47", utc(2025, 7, 4, 4, 21, 47)),
        ("27 мая 2016 10:06", utc(2016, 5, 27, 7, 6)),
        ("15 Сен. 2016 15:10", utc(2016, 9, 15, 12, 10)),
        ("15 сент. 2016 15:10", utc(2016, 9, 15, 12, 10)),
        ("3 янв. 2020", utc(2020, 1, 2, 21, 0)),
        ("3 Янв 2020", utc(2020, 1, 2, 21, 0)),
        ("1 ноябрь 2020", utc(2020, 10, 31, 21, 0)),
        ("01.01.2007 12:04", utc(2007, 1, 1, 9, 4)),
        ("16.04.2018", utc(2018, 4, 15, 21, 0)),
        ("30.08.06", utc(2006, 8, 29, 20, 0)),
        ("28.09.2016, 22:10", utc(2016, 9, 28, 19, 10)),
        ("2019-08-10 06:35:00", utc(2019, 8, 10, 3, 35)),
        ("2024-01-10 20:51:10 · Экономика", utc(2024, 1, 10, 17, 51, 10)),
        ("2016-12-13 10:50:00+03:00", utc(2016, 12, 13, 7, 50)),
        ("2025-09-25T20:05:00+03:00", utc(2025, 9, 25, 17, 5)),
        ("2021-10-27T19:29:00.123Z", utc(2021, 10, 27, 19, 29)),
        ("2021-10-27T22:29:00+0500", utc(2021, 10, 27, 17, 29)),
        ("2021-10-27", utc(2021, 10, 26, 21, 0)),
        ("Wed, 27 Jul 2022 11:01:01 +0300", utc(2022, 7, 27, 8, 1, 1)),
        ("Mon, 30 Dec 2019 10:15:00 GMT", utc(2019, 12, 30, 10, 15)),
        ("Sun, 22 Aug 2021 09:00:00 -0400", utc(2021, 8, 22, 13, 0)),
        ("27.10.2021 22:29 МСК", utc(2021, 10, 27, 19, 29)),
        ("27.10.2021 22:29 UTC", utc(2021, 10, 27, 22, 29)),
        # no zone-like number after a space: "-12 градусов" is weather, not an offset
        ("27.10.2021 22:29 -12 градусов", utc(2021, 10, 27, 19, 29)),
        ("Опубликовано: 27.10.2021 в 22:29", utc(2021, 10, 27, 19, 29)),
        # dateutil's generic parser (with the Russian vocabulary) for what no pattern covers
        ("July 27, 2022 10:00", utc(2022, 7, 27, 7, 0)),
        ("2022/07/27", utc(2022, 7, 26, 21, 0)),
        # relative days are read in Moscow time, anchored at `now`
        ("сегодня 12:30", utc(2021, 10, 28, 9, 30)),
        ("Сегодня, в 00:10", utc(2021, 10, 27, 21, 10)),
        ("вчера в 23:10", utc(2021, 10, 27, 20, 10)),
        ("позавчера 08:00", utc(2021, 10, 26, 5, 0)),
        ("вчера", utc(2021, 10, 26, 21, 0)),
    ],
)
def test_parse_date_styles(text: str, expected: datetime) -> None:
    parsed = parse_date(text, now=NOW)
    assert parsed == expected
    assert parsed.tzinfo is UTC


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("31.02.2021", ImpossibleDateError),
        ("31.02.2021 10:00", ImpossibleDateError),
        ("27.10.2021 25:61", ImpossibleDateError),
        ("27.10.2021 23:61", ImpossibleDateError),
        ("32 октября 2021", ImpossibleDateError),
        ("30 февраля 2020", ImpossibleDateError),
        ("27.13.2021", ImpossibleDateError),
        ("2021-02-30T10:00:00+03:00", ImpossibleDateError),
        ("2021-10-27T10:00:00+25:00", ImpossibleDateError),
        ("01.01.1812", ImpossibleDateError),
        # a date without a year is never guessed
        ("27 октября", YearMissingError),
        ("МОСКВА, 19 августа. /ТАСС/.", YearMissingError),
        ("РИАМО — 12 июл.", YearMissingError),
        ("ВЛАДИВОСТОК, 10 авг – РИА Новости.", YearMissingError),
        ("Тула. 25 сентября. ИНТЕРФАКС -", YearMissingError),
        ("July 27", YearMissingError),
        # "Сегодня, 8 апреля" is a sentence about a day without a year, not "today"
        ("Сегодня, 8 апреля", YearMissingError),
        ("В понедельник, 30 марта", YearMissingError),
        ("", NoDateError),
        ("   ", NoDateError),
        ("Алексей Дюмин провел заседание", NoDateError),
        ("154", DateError),
        ("Просмотров: 711", DateError),
    ],
)
def test_parse_date_failures(text: str, error: type[DateError]) -> None:
    with pytest.raises(error):
        parse_date(text, now=NOW)


def test_date_errors_are_value_errors() -> None:
    assert issubclass(DateError, ValueError)
    for error in (NoDateError, ImpossibleDateError, YearMissingError):
        assert issubclass(error, DateError)


def test_default_tz_applies_only_without_an_offset() -> None:
    plus_five = timezone(timedelta(hours=5))
    assert parse_date("27.10.2021 22:29", default_tz=plus_five, now=NOW) == utc(2021, 10, 27, 17, 29)
    assert parse_date("2021-10-27T22:29:00+03:00", default_tz=plus_five, now=NOW) == utc(2021, 10, 27, 19, 29)
    assert parse_date("27.10.2021 22:29", default_tz=UTC, now=NOW) == utc(2021, 10, 27, 22, 29)


def test_naive_now_is_read_in_default_tz() -> None:
    naive_now = datetime(2021, 10, 28, 1, 30)  # naive on purpose
    assert parse_date("вчера 10:00", now=naive_now) == utc(2021, 10, 27, 7, 0)


@pytest.mark.parametrize(
    ("word", "month"),
    [
        ("января", 1),
        ("январь", 1),
        ("янв", 1),
        ("Янв.", 1),
        ("февраля", 2),
        ("февр.", 2),
        ("марта", 3),
        ("апреля", 4),
        ("мая", 5),
        ("май", 5),
        ("июня", 6),
        ("июля", 7),
        ("июл.", 7),
        ("августа", 8),
        ("авг", 8),
        ("сентября", 9),
        ("Сен.", 9),
        ("сент.", 9),
        ("октября", 10),
        ("ноября", 11),
        ("нояб.", 11),
        ("декабря", 12),
        ("дек.", 12),
        ("Jul", 7),
        ("September", 9),
        ("понедельник", None),
        ("маяк", None),
    ],
)
def test_parserinfo_months(word: str, month: int | None) -> None:
    assert RU_PARSERINFO.month_number(word) == month


def test_parserinfo_is_dayfirst_and_knows_russian_weekdays() -> None:
    assert RU_PARSERINFO.dayfirst is True  # type: ignore[attr-defined]  # set in __init__, not in the stubs
    assert RU_PARSERINFO.weekday("среда") == 2
    assert RU_PARSERINFO.jump("года")


def test_search_date_finds_a_date_inside_text() -> None:
    text = "КРАСНОЯРСК, 10 августа 2019 года. /ТАСС/. Взрывы на военном складе"
    found = search_date(text, now=NOW)
    assert found is not None
    assert found.value == utc(2019, 8, 9, 21, 0)
    assert text[found.start : found.end].startswith("10 августа 2019")
    assert search_date("Без даты вообще", now=NOW) is None
    assert search_date("в 2019 году", now=NOW) is None


def test_search_date_can_ignore_relative_days() -> None:
    text = "Вчера в 10:00 губернатор провел совещание"
    found = search_date(text, now=NOW)
    assert found is not None
    assert found.value == utc(2021, 10, 27, 7, 0)
    assert search_date(text, now=NOW, relative=False) is None


def test_search_date_honours_end() -> None:
    text = "Начало текста без даты, а потом 27.10.2021"
    assert search_date(text, end=20, now=NOW) is None
    assert search_date(text, now=NOW) is not None


def test_date_prefix_recognises_date_lines_only_at_the_start() -> None:
    assert date_prefix_length("22:29, 27 октября 2021 154") == len("22:29, 27 октября 2021")
    assert date_prefix_length("Помощник Президента 27 октября 2021") == 0
    match = match_date_prefix("13:43, 30 июня 2025 24", now=NOW)
    assert match is not None
    assert match.value == utc(2025, 6, 30, 10, 43)
    assert match_date_prefix("Текст", now=NOW) is None


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=80))
def test_parse_date_never_raises_anything_else(text: str) -> None:
    try:
        parsed = parse_date(text, now=NOW)
    except DateError:
        return
    assert parsed.tzinfo is UTC


@settings(max_examples=150, deadline=None)
@given(
    st.from_regex(
        r"\A(\d{1,2}[.:/ -]){0,3}\d{1,4}( (янв|сен|октября|мая|July|сегодня|вчера)\.?)?( \d{1,4})?"
        r"([ T]\d{1,2}:\d{1,2}(:\d{1,2})?)?( ?[+-]\d{2,4}| MSK| UTC)?\Z",
        fullmatch=True,
    )
)
def test_parse_date_on_date_shaped_text(text: str) -> None:
    try:
        parsed = parse_date(text, now=NOW)
    except DateError:
        return
    assert parsed.tzinfo is UTC
    assert 1899 <= parsed.year <= 2101


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (datetime(2021, 10, 27, 19, 29, tzinfo=UTC), "27.10.2021 22:29"),
        (datetime(2021, 10, 26, 21, 0, tzinfo=UTC), "27.10.2021"),  # Moscow midnight: a date-only source time
        (datetime(2021, 10, 26, 21, 1, tzinfo=UTC), "27.10.2021 00:01"),
    ],
)
def test_format_local_hides_the_made_up_midnight(moment: datetime, expected: str) -> None:
    assert format_local(moment, MOSCOW) == expected
