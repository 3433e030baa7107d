"""Queries kept server-side under short keys, so callback data stays within 64 bytes whatever the query.

In memory, least recently used first out, with a time to live: a page button on a message older than that (or
from before a restart) answers "search expired" and the user sends the query again — nothing else is lost.
"""

from __future__ import annotations

import base64
import hashlib
import time
from collections import OrderedDict
from collections.abc import Callable

DEFAULT_CAPACITY = 50_000
# Characters of all kept queries together: a flood of 4,000-character queries stays near 10 MB as well.
DEFAULT_MAX_CHARS = 5_000_000
DEFAULT_TTL_SECONDS = 24 * 3600.0


class QueryStore:
    def __init__(
        self,
        *,
        capacity: int = DEFAULT_CAPACITY,
        max_chars: int = DEFAULT_MAX_CHARS,
        ttl_seconds: float = DEFAULT_TTL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if capacity < 1:
            raise ValueError("capacity must be positive")
        self._capacity = capacity
        self._max_chars = max_chars
        self._chars = 0
        self._ttl = ttl_seconds
        self._clock = clock
        self._entries: OrderedDict[str, tuple[str, float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def put(self, query_text: str) -> str:
        """The key for `query_text` (the same text gets the same key while it is kept)."""
        salt = 0
        while True:
            key = _digest(query_text, salt)
            found = self._entries.get(key)
            if found is None or found[0] == query_text:
                break
            salt += 1  # a 48-bit collision: practically never, but a wrong query must never be shown
        if found is None:
            self._chars += len(query_text)
        self._entries[key] = (query_text, self._clock() + self._ttl)
        self._entries.move_to_end(key)
        while len(self._entries) > 1 and (
            len(self._entries) > self._capacity or self._chars > self._max_chars
        ):
            _, (dropped, _) = self._entries.popitem(last=False)
            self._chars -= len(dropped)
        return key

    def get(self, key: str) -> str | None:
        """The query stored under `key`, or None when it is unknown or expired. Refreshes its lifetime."""
        found = self._entries.get(key)
        if found is None:
            return None
        query_text, expires = found
        now = self._clock()
        if expires <= now:
            del self._entries[key]
            self._chars -= len(query_text)
            return None
        self._entries[key] = (query_text, now + self._ttl)
        self._entries.move_to_end(key)
        return query_text


def _digest(query_text: str, salt: int) -> str:
    digest = hashlib.blake2b(f"{salt}:{query_text}".encode(), digest_size=6).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii")
