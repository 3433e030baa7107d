"""A chat as the bot keeps it (type, locale, schedule, preferences, state) and its subscription (government
commission news on/off plus saved queries): the records the storage backends return, and their policy limits."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

ChatType = Literal["private", "group", "supergroup", "channel"]


Frequency = Literal["daily", "weekdays", "weekly"]


CHAT_TYPES: tuple[str, ...] = ("private", "group", "supergroup", "channel")


FREQUENCIES: tuple[str, ...] = ("daily", "weekdays", "weekly")


DEFAULT_TIMEZONE = "Europe/Moscow"


@dataclass(frozen=True, slots=True)
class Chat:
    id: int
    type: ChatType
    title: str | None
    username: str | None
    locale: str
    active: bool
    inactive_reason: str | None
    timezone: str
    delivery_time: time
    frequency: Frequency
    weekday: int  # 0 = Monday, used when frequency == "weekly"
    max_items: int | None  # None = all
    notify_empty: bool
    paused: bool
    last_period_end: datetime | None
    created_at: datetime
    updated_at: datetime

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def is_group(self) -> bool:
        return self.type in ("group", "supergroup")


@dataclass(frozen=True, slots=True)
class ChatCounts:
    total: int
    active: int
    inactive: int
    paused: int
    by_type: dict[str, int]


def validate_timezone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown IANA timezone {name!r}") from None
    return name


MAX_SAVED_QUERIES = 20


class TooManyQueries(ValueError):
    """The chat already has MAX_SAVED_QUERIES saved queries."""


@dataclass(frozen=True, slots=True)
class SavedQuery:
    id: int
    chat_id: int
    text: str  # canonical SearchQuery.text
    enabled: bool
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Subscription:
    chat_id: int
    gov_news: bool
    since: datetime | None
    queries: tuple[SavedQuery, ...]  # all saved queries, enabled or not, oldest first

    @property
    def enabled_queries(self) -> tuple[SavedQuery, ...]:
        return tuple(q for q in self.queries if q.enabled)

    @property
    def active(self) -> bool:
        """The chat gets a digest: government news on or at least one enabled saved query."""
        return self.gov_news or any(q.enabled for q in self.queries)
