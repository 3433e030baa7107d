"""Adding sources by hand (CLI and bot): URL checks (the host must have a public address), a kind and a name
guessed from the URL, health states. `prepare_source` is the one way `govdigest sources add` and /addsource
turn what was typed into a checked NewSource."""

from __future__ import annotations

import re
from enum import StrEnum
from urllib.parse import urlsplit

from aiohttp.abc import AbstractResolver

from bot.sources.addresses import NotPublicAddressError, non_public_addresses
from bot.sources.records import DEFAULT_INTERVAL_SECONDS, EMPTY_POLLS_ALERT, NewSource, Source, SourceKind

MAX_URL_LENGTH = 2000
_FEED_HINT = re.compile(r"(?:rss|atom|feed|\.xml)(?:[/?.=&]|$)", re.IGNORECASE)


class SourceUrlError(ValueError):
    """Not an address a source can have."""


class NotPublicUrlError(SourceUrlError):
    """The URL's host has only non-public addresses (loopback, private network, cloud metadata...)."""

    def __init__(self, url: str, addresses: list[str]) -> None:
        host = urlsplit(url).hostname or url
        self.url = url
        self.addresses = addresses
        self.reason = str(NotPublicAddressError(addresses, host))
        super().__init__(self.reason)


class Health(StrEnum):
    NEW = "new"  # never polled
    OK = "ok"
    FAILING = "failing"
    EMPTY = "empty"
    DISABLED = "disabled"


def check_url(url: str) -> str:
    """The URL stripped, or SourceUrlError: http(s), a host, a valid port if any, no spaces, not absurdly long."""
    url = url.strip()
    parts = urlsplit(url)
    if (
        parts.scheme.lower() not in ("http", "https")
        or not parts.hostname
        or any(char.isspace() for char in url)
        or len(url) > MAX_URL_LENGTH
    ):
        raise SourceUrlError(url)
    try:
        parts.port  # noqa: B018 - raises on a port out of range or not a number
    except ValueError:
        raise SourceUrlError(url) from None
    return url


async def check_public_host(
    url: str, *, allow_private: bool = False, resolver: AbstractResolver | None = None
) -> None:
    """NotPublicUrlError when the host of `url` (checked by check_url) resolves only to addresses the poller
    would refuse to connect to; nothing is looked up when `allow_private` (SOURCES_ALLOW_PRIVATE_ADDRESSES)."""
    if allow_private:
        return
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
    addresses = await non_public_addresses(parts.hostname or "", port, resolver)
    if addresses:
        raise NotPublicUrlError(url, addresses)


async def prepare_source(
    url: str,
    *,
    allow_private: bool,
    resolver: AbstractResolver | None = None,
    name: str | None = None,
    kind: SourceKind | None = None,
    poll_interval_seconds: int = DEFAULT_INTERVAL_SECONDS,
    enabled: bool = True,
) -> NewSource:
    """The source to add for `url`: checked (SourceUrlError when it is no http(s) URL, NotPublicUrlError when
    its host leads only into a private network, unless `allow_private`), its name and kind guessed unless given."""
    checked = check_url(url)
    await check_public_host(checked, allow_private=allow_private, resolver=resolver)
    return NewSource(
        url=checked,
        name=(name or "").strip() or guess_name(checked),
        kind=kind or guess_kind(checked),
        poll_interval_seconds=poll_interval_seconds,
        enabled=enabled,
    )


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
