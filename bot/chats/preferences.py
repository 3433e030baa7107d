"""Pure parsing of the digest settings a user types: delivery time, timezone, frequency, item limit, on/off
switches and a channel reference. Nothing here touches Telegram or the database.

Every parser raises `SettingError` with `.key` (the text key under `subscriptions.settings.` that explains
the problem with an example) and `.values` (its placeholders), so a handler can answer in the user's language
and keep everything else.
"""

from __future__ import annotations

import re
import zoneinfo
from dataclasses import dataclass, field
from datetime import time
from functools import cache
from typing import Literal

FrequencyKind = Literal["daily", "weekdays", "weekly"]

# The most items a digest may be limited to; "all" is the other choice.
MAX_ITEM_LIMIT = 50
# Choices the settings keyboard offers; any number from 1 to MAX_ITEM_LIMIT can be typed with /limit.
LIMIT_CHOICES: tuple[int, ...] = (5, 10, 20, 30)

# Monday first, as datetime.weekday() counts.
_WEEKDAY_NAMES: tuple[tuple[str, ...], ...] = (
    ("mon", "monday", "пн", "пон", "понедельник", "понедельникам"),
    ("tue", "tues", "tuesday", "вт", "вторник", "вторникам"),
    ("wed", "wednesday", "ср", "среда", "среду", "средам"),
    ("thu", "thur", "thurs", "thursday", "чт", "четверг", "четвергам"),
    ("fri", "friday", "пт", "пятница", "пятницу", "пятницам"),
    ("sat", "saturday", "сб", "суббота", "субботу", "субботам"),
    ("sun", "sunday", "вс", "воскресенье", "воскресеньям"),
)
_WEEKDAY_BY_NAME = {name: day for day, names in enumerate(_WEEKDAY_NAMES) for name in names}

_DAILY_WORDS = frozenset({"daily", "everyday", "every day", "ежедневно", "каждый день", "день"})
_WEEKDAYS_WORDS = frozenset(
    {"weekdays", "workdays", "on weekdays", "будни", "по будням", "в будни", "рабочие дни", "по рабочим дням"}
)
_WEEKLY_WORDS = frozenset({"weekly", "every week", "еженедельно", "раз в неделю", "каждую неделю", "неделя"})
_ALL_WORDS = frozenset(
    {"all", "everything", "none", "no limit", "unlimited", "все", "всё", "без ограничений"}
)
_ON_WORDS = frozenset({"on", "yes", "1", "true", "enable", "вкл", "включить", "да"})
_OFF_WORDS = frozenset({"off", "no", "0", "false", "disable", "выкл", "выключить", "нет"})

_TIME_RE = re.compile(
    r"^(?P<hour>\d{1,2})(?:\s*[:.hч]\s*(?P<minute>\d{2}))?\s*(?P<ampm>am|pm|a\.m\.|p\.m\.)?$",
    re.IGNORECASE | re.ASCII,
)
_COMPACT_TIME_RE = re.compile(r"^(?P<hour>\d{1,2})(?P<minute>\d{2})$", re.ASCII)
_CHANNEL_USERNAME_RE = re.compile(
    r"^(?:@|(?:https?://)?(?:t\.me|telegram\.me)/)(?P<name>[A-Za-z]\w{3,31})/?$", re.ASCII
)
_CHAT_ID_RE = re.compile(r"^-\d{5,20}$", re.ASCII)
_LIMIT_RE = re.compile(r"^\d{1,6}$", re.ASCII)


class KeyedError(ValueError):
    """An error a user should read: `key` names the explaining text, `values` fill its placeholders."""

    def __init__(self, key: str, **values: object) -> None:
        super().__init__(key)
        self.key = key
        self.values = values


class SettingError(KeyedError):
    """Bad input for a setting; the text is `subscriptions.settings.<key>`."""


@dataclass(frozen=True, slots=True)
class Frequency:
    """How often a digest comes: every day, Monday to Friday, or once a week on `weekday` (0 = Monday)."""

    kind: FrequencyKind
    weekday: int | None = field(default=None)

    def __post_init__(self) -> None:
        if (self.kind == "weekly") != (self.weekday is not None):
            raise ValueError("a weekly frequency needs a weekday, the others none")
        if self.weekday is not None and not 0 <= self.weekday <= 6:
            raise ValueError(f"weekday out of range: {self.weekday}")


def _normalize(text: str) -> str:
    return " ".join(text.strip().lower().replace("ё", "е").split())


def parse_time(text: str) -> time:
    """`08:30`, `8:30`, `8.30`, `0830`, `8`, `8 pm` → a wall-clock time (minutes precision)."""
    value = _normalize(text)
    if not value:
        raise SettingError("time_missing")
    match = _COMPACT_TIME_RE.match(value) if len(value) in (3, 4) else None
    match = match or _TIME_RE.match(value)
    if match is None:
        raise SettingError("time_invalid", value=text.strip())
    hour = int(match["hour"])
    minute = int(match["minute"] or 0)
    ampm = (match.groupdict().get("ampm") or "").replace(".", "")
    if ampm:
        if not 1 <= hour <= 12:
            raise SettingError("time_invalid", value=text.strip())
        hour = hour % 12 + (12 if ampm == "pm" else 0)
    if hour > 23 or minute > 59:
        raise SettingError("time_invalid", value=text.strip())
    return time(hour, minute)


def format_time(value: time) -> str:
    return f"{value.hour:02d}:{value.minute:02d}"


@cache
def _zones() -> tuple[dict[str, str], dict[str, str | None]]:
    """(lower-case full name → IANA name, lower-case city → IANA name or None when the city is ambiguous)."""
    by_name: dict[str, str] = {}
    by_city: dict[str, str | None] = {}
    for name in zoneinfo.available_timezones():
        if name.startswith(("posix/", "right/")) or name in {"localtime", "Factory"}:
            continue
        by_name[name.lower()] = name
        if "/" in name:
            city = name.rsplit("/", 1)[1].lower()
            by_city[city] = None if city in by_city and by_city[city] != name else name
    return by_name, by_city


def parse_timezone(text: str) -> str:
    """An IANA timezone name, matched case-insensitively (`europe/moscow` → `Europe/Moscow`); a bare city
    naming exactly one zone also works (`Moscow`, `new york`). Only listed zone names are ever loaded."""
    value = text.strip()
    if not value:
        raise SettingError("tz_missing")
    key = value.lower().replace(" ", "_")
    by_name, by_city = _zones()
    found = by_name.get(key) or by_city.get(key)
    if found is None:
        raise SettingError("tz_invalid", value=value)
    return found


def parse_weekday(text: str) -> int:
    value = _normalize(text).removeprefix("по ").removeprefix("в ").removeprefix("во ").removeprefix("on ")
    value = value.rstrip(".")
    day = _WEEKDAY_BY_NAME.get(value) or _WEEKDAY_BY_NAME.get(value.removesuffix("s"))
    if day is None:
        raise SettingError("weekday_invalid", value=text.strip())
    return day


def parse_frequency(text: str) -> Frequency:
    """`daily`, `weekdays`, `weekly mon` / `weekly friday`, or a bare day name (weekly on it); Russian words
    too (`ежедневно`, `по будням`, `еженедельно пн`, `по пятницам`)."""
    value = _normalize(text)
    if not value:
        raise SettingError("frequency_missing")
    if value in _DAILY_WORDS:
        return Frequency("daily")
    if value in _WEEKDAYS_WORDS:
        return Frequency("weekdays")
    if value in _WEEKLY_WORDS:
        raise SettingError("frequency_day_missing")
    for word in sorted(_WEEKLY_WORDS, key=len, reverse=True):
        if value.startswith(word + " "):
            return Frequency("weekly", parse_weekday(value[len(word) + 1 :]))
    try:
        return Frequency("weekly", parse_weekday(value))
    except SettingError:
        raise SettingError("frequency_invalid", value=text.strip()) from None


def parse_limit(text: str) -> int | None:
    """At most N items per digest (1..MAX_ITEM_LIMIT), or None for `all`."""
    value = _normalize(text)
    if not value:
        raise SettingError("limit_missing", maximum=MAX_ITEM_LIMIT)
    if value in _ALL_WORDS:
        return None
    if not _LIMIT_RE.match(value):
        raise SettingError("limit_invalid", value=text.strip(), maximum=MAX_ITEM_LIMIT)
    number = int(value)
    if not 1 <= number <= MAX_ITEM_LIMIT:
        raise SettingError("limit_invalid", value=text.strip(), maximum=MAX_ITEM_LIMIT)
    return number


def parse_switch(text: str) -> bool:
    """`on`/`off` (also `вкл`/`выкл`, `yes`/`no`, `1`/`0`)."""
    value = _normalize(text)
    if value in _ON_WORDS:
        return True
    if value in _OFF_WORDS:
        return False
    raise SettingError("switch_invalid", value=text.strip())


def parse_chat_ref(text: str) -> int | str | None:
    """A channel named in `/subscribe @channel`: `@name`, `t.me/name` → `"@name"`; a chat id (`-100…`) → int.
    None when the text is not a channel reference (then it is a saved query)."""
    value = text.strip()
    if _CHAT_ID_RE.match(value):
        return int(value)
    match = _CHANNEL_USERNAME_RE.match(value)
    if match is not None:
        return "@" + match["name"]
    return None


def split_channel_ref(args: str) -> tuple[int | str | None, str]:
    """`@channel rest` → ("@channel", "rest"); anything else → (None, args)."""
    first, _, rest = args.strip().partition(" ")
    ref = parse_chat_ref(first) if first else None
    return (ref, rest.strip()) if ref is not None else (None, args.strip())
