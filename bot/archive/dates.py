"""Dates as Russian news pages write them, turned into aware UTC datetimes.

Every style seen in the real corpus is matched by a precompiled regular expression first (fast, and it tells
exactly which parts were present); month words and two-digit years are resolved through `RussianParserInfo`, a
`dateutil.parser.parserinfo`. Only text that none of the patterns recognises goes to dateutil's generic parser
(RFC 822 dates of feeds and other English forms), and even then a date whose year, month or day is missing is
refused instead of being filled in from "today": a date without a year is never guessed.

Page times are Moscow time unless the text carries its own offset or zone name.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta, timezone, tzinfo
from typing import cast
from zoneinfo import ZoneInfo

from dateutil import parser as dateutil_parser

MOSCOW = ZoneInfo("Europe/Moscow")

# A news date outside these years is a parsing accident (a phone number, a price), not a publication time.
MIN_YEAR = 1900
MAX_YEAR = 2100


class DateError(ValueError):
    """The text holds no usable date."""


class NoDateError(DateError):
    """Nothing in the text looks like a date."""


class ImpossibleDateError(DateError):
    """The text looks like a date but names a day or time that does not exist (31.02, 25:61)."""


class YearMissingError(DateError):
    """A day and month without a year: refused rather than guessed."""


_JUMP_WORDS: tuple[str, ...] = (
    *dateutil_parser.parserinfo.JUMP,
    "в",
    "г",
    "гг",
    "года",
    "год",
    "мск",
    "—",
    "–",
    "·",
)
_MONTH_NAMES: tuple[tuple[str, ...], ...] = (
    ("Jan", "January", "январь", "января", "январе", "янв"),
    ("Feb", "February", "февраль", "февраля", "феврале", "фев", "февр"),
    ("Mar", "March", "март", "марта", "марте", "мар"),
    ("Apr", "April", "апрель", "апреля", "апреле", "апр"),
    ("May", "May", "май", "мая", "мае"),
    ("Jun", "June", "июнь", "июня", "июне", "июн"),
    ("Jul", "July", "июль", "июля", "июле", "июл"),
    ("Aug", "August", "август", "августа", "августе", "авг"),
    ("Sep", "Sept", "September", "сентябрь", "сентября", "сентябре", "сен", "сент"),
    ("Oct", "October", "октябрь", "октября", "октябре", "окт"),
    ("Nov", "November", "ноябрь", "ноября", "ноябре", "ноя", "нояб"),
    ("Dec", "December", "декабрь", "декабря", "декабре", "дек"),
)
_WEEKDAY_NAMES: tuple[tuple[str, ...], ...] = (
    ("Mon", "Monday", "пн", "понедельник"),
    ("Tue", "Tuesday", "вт", "вторник"),
    ("Wed", "Wednesday", "ср", "среда"),
    ("Thu", "Thursday", "чт", "четверг"),
    ("Fri", "Friday", "пт", "пятница"),
    ("Sat", "Saturday", "сб", "суббота"),
    ("Sun", "Sunday", "вс", "воскресенье"),
)


class RussianParserInfo(dateutil_parser.parserinfo):
    """dateutil vocabulary for Russian dates: month names in all cases and abbreviations, weekdays, fillers.

    English names stay too, because feeds write RFC 822 dates (`Wed, 27 Jul 2022 11:01:01 +0300`).
    dateutil compares lower-cased tokens, so `Сен.` and `сен` are the same month (the dot is a jump token).
    """

    JUMP = cast("list[str]", list(_JUMP_WORDS))
    # The stubs allow two or three names per month or weekday; dateutil itself takes any number.
    MONTHS = cast("list[tuple[str, str] | tuple[str, str, str]]", list(_MONTH_NAMES))
    WEEKDAYS = cast("list[tuple[str, str]]", list(_WEEKDAY_NAMES))

    def __init__(self) -> None:
        # Russian pages write the day first: 01.02.2021 is the 1st of February.
        super().__init__(dayfirst=True, yearfirst=False)

    def month_number(self, word: str) -> int | None:
        """1..12 for a month word (any case, trailing dot allowed), None for anything else."""
        found: int | None = self.month(word.rstrip("."))
        return found


RU_PARSERINFO = RussianParserInfo()
_GENERIC_PARSER = dateutil_parser.parser(RU_PARSERINFO)

_MONTH_WORDS = sorted({name.lower() for names in _MONTH_NAMES for name in names}, key=len, reverse=True)
# Longest first, so "сентября" wins over "сент" and "сен"; a dot may follow an abbreviation.
_MONTH = r"(?P<mon>" + "|".join(_MONTH_WORDS) + r")\.?(?![а-яёa-z])"
_TIME = r"(?P<h>\d{1,2}):(?P<mi>\d{2})(?::(?P<s>\d{2}))?"
_TIME2 = r"(?P<h2>\d{1,2}):(?P<mi2>\d{2})(?::(?P<s2>\d{2}))?"
# Offsets stick to the time (ISO) or are four digits after a space (RFC 822): "22:29 -12 градусов" is no zone.
_ZONE = r"(?:(?P<tz>Z|[+-]\d{2}(?::?\d{2})?|\s[+-]\d{4}|\s*(?:UTC|GMT|MSK|МСК))(?!\w))?"
_YEAR_WORD = r"(?:\s*(?:г\.|года|г(?![а-яё])))?"
_AT = r"(?:,?\s*(?:в\s+)?|\s*[-–—·|/]\s*)"

_FLAGS = re.IGNORECASE

_ISO = re.compile(
    r"(?<!\d)(?P<y>\d{4})-(?P<m>\d{1,2})-(?P<d>\d{1,2})(?:(?:T|\s+)" + _TIME + r"(?:[.,]\d+)?" + _ZONE + r")?"
    r"(?!\d)",
    _FLAGS,
)
_NUMERIC = re.compile(
    r"(?<![\d.])(?:" + _TIME2 + r",?\s+)?(?P<d>\d{1,2})\.(?P<m>\d{1,2})\.(?P<y>\d{4}|\d{2})(?![\d])(?!\.\d)"
    r"(?:" + _YEAR_WORD + _AT + _TIME + _ZONE + r")?",
    _FLAGS,
)
_TEXTUAL = re.compile(
    r"(?<![\d])(?:"
    + _TIME2
    + r",?\s+)?(?P<d>\d{1,2})\s*"
    + _MONTH
    + r"(?:,?\s*(?P<y>\d{4})(?!\d)"
    + _YEAR_WORD
    + r")?"
    r"(?:" + _AT + _TIME + _ZONE + r")?",
    _FLAGS,
)
# "вчера в 23:10" is a date; a sentence that starts "Сегодня, 8 апреля" is not "today" (and has no year).
_RELATIVE = re.compile(
    r"(?<![а-яё])(?P<rel>сегодня|вчера|позавчера)(?![а-яё]),?\s*(?:в\s+)?" + _TIME,
    _FLAGS,
)
_PATTERNS = (_ISO, _NUMERIC, _TEXTUAL, _RELATIVE)
_ABSOLUTE_PATTERNS = (_ISO, _NUMERIC, _TEXTUAL)

_RELATIVE_DAYS = {"сегодня": 0, "вчера": 1, "позавчера": 2}
_MOSCOW_NAMES = {"msk", "мск"}
_UTC_NAMES = {"z", "utc", "gmt"}

_ZONE_NAMES: dict[str, tzinfo] = {"MSK": MOSCOW, "МСК": MOSCOW, "UTC": UTC, "GMT": UTC}
# Two different defaults: a field dateutil fills from the default comes out different in the two results.
_PROBE_DEFAULTS = (datetime(2000, 1, 1), datetime(2001, 2, 2))  # naive on purpose: they only probe


@dataclass(frozen=True, slots=True)
class DateMatch:
    """A date found inside a longer text: its UTC value and where it stood."""

    value: datetime
    start: int
    end: int


def format_local(
    moment: datetime, tz: tzinfo, date_format: str = "%d.%m.%Y", time_format: str = " %H:%M"
) -> str:
    """`moment` in `tz` for people. A date-only source time is stored as Moscow midnight; it shows as the date
    alone instead of a made-up "00:00"."""
    local = moment.astimezone(tz)
    if moment.astimezone(MOSCOW).time() == time(0, 0):
        return local.strftime(date_format)
    return local.strftime(date_format + time_format)


def parse_date(text: str, *, now: datetime, default_tz: tzinfo = MOSCOW) -> datetime:
    """The date in `text` as an aware UTC datetime.

    `default_tz` applies when the text names no offset; `now` (the caller's clock: ingest time) anchors
    `сегодня`/`вчера`, which are read in `default_tz`. Raises DateError (NoDateError, ImpossibleDateError,
    YearMissingError) when there is no usable date.
    """
    if not isinstance(text, str):
        raise NoDateError("not a text")
    word = text.strip().lower()
    if word in _RELATIVE_DAYS:  # the whole text is "вчера": that day's midnight
        return _relative({"rel": word}, default_tz, now)
    found = search_date(text, default_tz=default_tz, now=now)
    if found is not None:
        return found.value
    return _parse_generic(text, default_tz)


def search_date(
    text: str,
    *,
    now: datetime,
    default_tz: tzinfo = MOSCOW,
    end: int | None = None,
    relative: bool = True,
) -> DateMatch | None:
    """The leftmost date expression in `text[:end]`, or None when nothing looks like a date.

    Raises ImpossibleDateError / YearMissingError when the leftmost expression is a broken date:
    a page must not silently fall back to a later, different date. `relative=False` ignores
    `сегодня/вчера HH:MM` (in running text they are relative to the story, not to `now`).
    """
    limit = len(text) if end is None else min(end, len(text))
    best: re.Match[str] | None = None
    for pattern in _PATTERNS if relative else _ABSOLUTE_PATTERNS:
        match = pattern.search(text, 0, limit)
        if match is not None and (
            best is None
            or match.start() < best.start()
            or (match.start() == best.start() and match.end() > best.end())
        ):
            best = match
    if best is None:
        return None
    return DateMatch(_from_match(best, default_tz, now), best.start(), best.end())


def date_prefix_length(text: str) -> int:
    """Length of the date expression that starts `text` (0 when it does not start with one); no validation."""
    best = _prefix_match(text)
    return 0 if best is None else best.end()


def match_date_prefix(text: str, *, now: datetime, default_tz: tzinfo = MOSCOW) -> DateMatch | None:
    """The date expression that starts `text` (to recognise date lines), else None; DateError if broken."""
    best = _prefix_match(text)
    if best is None:
        return None
    return DateMatch(_from_match(best, default_tz, now), best.start(), best.end())


def _prefix_match(text: str) -> re.Match[str] | None:
    best: re.Match[str] | None = None
    for pattern in _PATTERNS:
        match = pattern.match(text)
        if match is not None and (best is None or match.end() > best.end()):
            best = match
    return best


def _from_match(match: re.Match[str], default_tz: tzinfo, now: datetime) -> datetime:
    groups = match.groupdict()
    if groups.get("rel"):
        return _relative(groups, default_tz, now)
    if groups.get("mon"):
        month = RU_PARSERINFO.month_number(groups["mon"])
        if month is None:  # the regex only admits known words; kept for safety
            raise NoDateError(f"unknown month {groups['mon']!r}")
    else:
        month = int(groups["m"])
    if groups.get("y") is None:
        raise YearMissingError(f"date without a year: {match.group(0).strip()!r}")
    year_text = groups["y"]
    year = int(year_text)
    if len(year_text) == 2:
        year = RU_PARSERINFO.convertyear(year)
    hour_text = groups.get("h") or groups.get("h2")
    minute_text = groups.get("mi") or groups.get("mi2")
    second_text = groups.get("s") or groups.get("s2")
    hour = int(hour_text) if hour_text else 0
    minute = int(minute_text) if minute_text else 0
    second = int(second_text) if second_text else 0
    zone = _zone(groups.get("tz"), default_tz)
    return _build(
        year,
        month,
        int(groups["d"]),
        hour=hour,
        minute=minute,
        second=second,
        zone=zone,
        source=match.group(0),
    )


def _relative(groups: dict[str, str | None], default_tz: tzinfo, now: datetime) -> datetime:
    anchor = now
    if anchor.tzinfo is None:
        anchor = anchor.replace(tzinfo=default_tz)
    local = anchor.astimezone(default_tz)
    day = local.date() - timedelta(days=_RELATIVE_DAYS[(groups["rel"] or "").lower()])
    return _build(
        day.year,
        day.month,
        day.day,
        hour=int(groups.get("h") or 0),
        minute=int(groups.get("mi") or 0),
        second=int(groups.get("s") or 0),
        zone=default_tz,
        source=groups["rel"] or "",
    )


def _zone(name: str | None, default_tz: tzinfo) -> tzinfo:
    if not name:
        return default_tz
    name = name.strip()
    lowered = name.lower()
    if lowered in _MOSCOW_NAMES:
        return MOSCOW
    if lowered in _UTC_NAMES:
        return UTC
    digits = name[1:].replace(":", "")
    hours = int(digits[:2])
    minutes = int(digits[2:4]) if len(digits) >= 4 else 0
    if hours > 14 or minutes > 59:
        raise ImpossibleDateError(f"impossible offset {name!r}")
    offset = timedelta(hours=hours, minutes=minutes)
    return timezone(-offset if name.startswith("-") else offset)


def _build(
    year: int, month: int, day: int, *, hour: int, minute: int, second: int, zone: tzinfo, source: str
) -> datetime:
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise ImpossibleDateError(f"year {year} out of range: {source.strip()!r}")
    try:
        local = datetime(year, month, day, hour, minute, second, tzinfo=zone)
    except ValueError as exc:
        raise ImpossibleDateError(f"impossible date {source.strip()!r}: {exc}") from None
    return local.astimezone(UTC)


def _parse_generic(text: str, default_tz: tzinfo) -> datetime:
    """dateutil's generic parser with the Russian vocabulary, refusing dates with a missing year/month/day."""
    stripped = text.strip()
    if not stripped or len(stripped) > 100 or not any(char.isdigit() for char in stripped):
        raise NoDateError(f"no date in {stripped[:60]!r}")
    results: list[datetime] = []
    for default in _PROBE_DEFAULTS:
        try:
            with warnings.catch_warnings():
                # An unknown zone name gives a naive result (then default_tz applies), not a warning per page.
                warnings.simplefilter("ignore", dateutil_parser.UnknownTimezoneWarning)
                results.append(_GENERIC_PARSER.parse(stripped, default=default, tzinfos=_ZONE_NAMES))
        except Exception as exc:  # dateutil raises assorted types on odd input; all mean "no date"
            raise NoDateError(f"no date in {stripped[:60]!r}") from exc
    first, second = results
    if first.date() != second.date():
        if first.year != second.year:
            raise YearMissingError(f"date without a year: {stripped[:60]!r}")
        raise NoDateError(f"incomplete date: {stripped[:60]!r}")
    value = first if first.tzinfo is not None else first.replace(tzinfo=default_tz)
    if not MIN_YEAR <= value.year <= MAX_YEAR:
        raise ImpossibleDateError(f"year {value.year} out of range: {stripped[:60]!r}")
    try:
        return value.astimezone(UTC)
    except (ValueError, OverflowError) as exc:
        raise ImpossibleDateError(f"impossible date {stripped[:60]!r}") from exc
