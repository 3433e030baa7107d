"""Search queries kept under short keys, so callback data stays within 64 bytes whatever the query.

The keys live in the database (storage.interfaces.SearchKeyStore): a page button works on any instance and
after a restart. Each use moves the key's expiry KEY_LIFETIME ahead; a button on a message unused for longer
answers "search expired" and the user sends the query again — nothing else is lost. Expired keys are dropped
every PURGE_EVERY new keys.
"""

from __future__ import annotations

import base64
import hashlib
from datetime import timedelta

from bot.clock import Clock
from storage.interfaces import SearchKeyStore

KEY_LIFETIME = timedelta(days=14)
PURGE_EVERY = 1000
# 48-bit keys: a collision is practically impossible, but a wrong query must never be shown, so it is handled.
_MAX_SALT = 16


def search_key(query_text: str, salt: int = 0) -> str:
    """The 8-character key of `query_text` (the same text, the same key, on every instance)."""
    digest = hashlib.blake2b(f"{salt}:{query_text}".encode(), digest_size=6).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii")


class SearchKeys:
    """Keys for queries, kept in the database; one per Dispatcher (build_dependencies)."""

    def __init__(self, store: SearchKeyStore, clock: Clock, *, lifetime: timedelta = KEY_LIFETIME) -> None:
        self._store = store
        self._clock = clock
        self._lifetime = lifetime
        self._since_purge = 0

    async def put(self, query_text: str) -> str:
        """The key for `query_text`, kept (or refreshed) for KEY_LIFETIME."""
        now = self._clock()
        self._since_purge += 1
        if self._since_purge >= PURGE_EVERY:
            self._since_purge = 0
            await self._store.forget_expired(now)
        for salt in range(_MAX_SALT):
            key = search_key(query_text, salt)
            if await self._store.remember(key, query_text, expires_at=now + self._lifetime):
                return key
        raise RuntimeError("no free search key")  # pragma: no cover - 16 collisions of 48-bit hashes

    async def get(self, key: str) -> str | None:
        """The query kept under `key`, or None when it is unknown or expired. Refreshes its lifetime."""
        now = self._clock()
        return await self._store.recall(key, now=now, expires_at=now + self._lifetime)
