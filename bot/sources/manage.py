"""Adding sources by hand (CLI and bot): URL checks, a kind and a name guessed from the URL, health states."""

from __future__ import annotations

import re
from enum import StrEnum
from urllib.parse import urlsplit

from storage.sources import EMPTY_POLLS_ALERT, Source, SourceKind

MAX_URL_LENGTH = 2000
_FEED_HINT = re.compile(r"(?:rss|atom|feed|\.xml)(?:[/?.=&]|$)", re.IGNORECASE)


class SourceUrlError(ValueError):
    """Not an address a source can have."""


class Health(StrEnum):
    NEW = "new"  # never polled
    OK = "ok"
    FAILING = "failing"
    EMPTY = "empty"
    DISABLED = "disabled"


def check_url(url: str) -> str:
    """The URL stripped, or SourceUrlError: http(s), a host, no spaces, not absurdly long."""
    url = url.strip()
    parts = urlsplit(url)
    if (
        parts.scheme.lower() not in ("http", "https")
        or not parts.hostname
        or any(char.isspace() for char in url)
        or len(url) > MAX_URL_LENGTH
    ):
        raise SourceUrlError(url)
    return url


def guess_kind(url: str) -> SourceKind:
    """A feed when the URL says so (rss, atom, feed, .xml), else a news-list page."""
    parts = urlsplit(url)
    return SourceKind.RSS if _FEED_HINT.search(f"{parts.path}?{parts.query}") else SourceKind.HTML


def guess_name(url: str) -> str:
    host = (urlsplit(url).hostname or url).lower()
    return host.removeprefix("www.")


def health_of(source: Source) -> Health:
    if not source.enabled:
        return Health.DISABLED
    if source.consecutive_failures:
        return Health.FAILING
    if source.consecutive_empty >= EMPTY_POLLS_ALERT:
        return Health.EMPTY
    if source.last_success_at is None:
        return Health.NEW
    return Health.OK
