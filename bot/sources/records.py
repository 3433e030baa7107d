"""A news source as the bot keeps it, its health, alerts and polling policy (intervals, backoff, alert
thresholds): the records the storage backends return and take."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

DEFAULT_INTERVAL_SECONDS = 15 * 60


MIN_INTERVAL_SECONDS = 60


MAX_BACKOFF_SECONDS = 24 * 60 * 60


# Alert thresholds: a source that answers with nothing three times in a row probably changed its layout;
# ten failures in a row is a source that is gone or blocking us, not a hiccup.
EMPTY_POLLS_ALERT = 3


FAILURES_ALERT = 10


class SourceKind(StrEnum):
    RSS = "rss"
    HTML = "html"


class AlertKind(StrEnum):
    FAILING = "failing"
    EMPTY = "empty"


class SourceExistsError(ValueError):
    """A source with this URL is already there."""


@dataclass(frozen=True, slots=True)
class Source:
    id: int
    name: str
    url: str
    kind: SourceKind
    poll_interval_seconds: int
    enabled: bool
    etag: str | None
    last_modified: str | None
    created_at: datetime
    last_polled_at: datetime | None
    last_success_at: datetime | None
    last_error: str | None
    last_error_at: datetime | None
    consecutive_failures: int
    consecutive_empty: int
    items_last_poll: int | None
    new_last_poll: int | None
    total_new: int
    next_poll_at: datetime
    alerted_failing: bool
    alerted_empty: bool
    redirect_url: str | None

    @property
    def healthy(self) -> bool:
        return self.consecutive_failures == 0 and self.consecutive_empty < EMPTY_POLLS_ALERT


@dataclass(frozen=True, slots=True)
class SourceAlert:
    """A source that crossed an alert threshold and has not been reported for this episode yet."""

    source: Source
    kind: AlertKind


@dataclass(frozen=True, slots=True)
class Cluster:
    """Near-duplicates of one article: every member, and the other sources that carried the story."""

    cluster_id: int
    article_ids: tuple[int, ...]
    other_sources: tuple[str, ...]

    @property
    def other_source_count(self) -> int:
        return len(self.other_sources)


@dataclass(frozen=True, slots=True)
class NewSource:
    """A source to add (from the command line, the bot or the defaults file)."""

    url: str
    name: str
    kind: SourceKind = SourceKind.RSS
    poll_interval_seconds: int = DEFAULT_INTERVAL_SECONDS
    enabled: bool = True


@dataclass(frozen=True, slots=True)
class PollSuccess:
    """A poll that got an answer: `items=None` means 304 Not Modified (nothing to count as empty)."""

    items: int | None
    new: int
    etag: str | None
    last_modified: str | None
    redirect_url: str | None


def backoff_seconds(interval: int, failures: int) -> int:
    """Delay before the next poll after `failures` failures in a row: the interval doubled per failure,
    at most a day."""
    if failures <= 0:
        return interval
    delay: int = interval * 2 ** min(failures, 20)
    return min(MAX_BACKOFF_SECONDS, delay)
