"""The SQLite SearchKeyStore: search queries under short keys, with an expiry (storage/interfaces.py)."""

from __future__ import annotations

from datetime import datetime

from storage.sqlite.database import Database
from storage.sqlite.times import to_db_time


class SearchKeyRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def remember(self, key: str, query_text: str, *, expires_at: datetime) -> bool:
        now = to_db_time(self._db.clock())
        # Taken over when the old query expired; refreshed when it is the same query; else a collision.
        changed = await self._db.execute_rowcount(
            "INSERT INTO search_keys (key, query_text, expires_at) VALUES (?, ?, ?) "
            "ON CONFLICT (key) DO UPDATE SET query_text = excluded.query_text, expires_at = excluded.expires_at "
            "WHERE search_keys.query_text = excluded.query_text OR search_keys.expires_at <= ?",
            (key, query_text, to_db_time(expires_at), now),
        )
        return changed > 0

    async def recall(self, key: str, *, now: datetime, expires_at: datetime) -> str | None:
        row = await self._db.fetchone(
            "UPDATE search_keys SET expires_at = ? WHERE key = ? AND expires_at > ? RETURNING query_text",
            (to_db_time(expires_at), key, to_db_time(now)),
        )
        return None if row is None else str(row[0])

    async def forget_expired(self, now: datetime) -> int:
        return await self._db.execute_rowcount(
            "DELETE FROM search_keys WHERE expires_at <= ?", (to_db_time(now),)
        )
