"""The PostgreSQL SearchKeyStore: search queries under short keys, with an expiry (storage/interfaces.py)."""

from __future__ import annotations

from datetime import datetime

from storage.postgres.database import PgDatabase, affected


class SearchKeyRepository:
    def __init__(self, db: PgDatabase) -> None:
        self._db = db

    async def remember(self, key: str, query_text: str, *, expires_at: datetime) -> bool:
        # Taken over when the old query expired; refreshed when it is the same query; else a collision.
        status = await self._db.execute(
            "INSERT INTO search_keys (key, query_text, expires_at) VALUES ($1, $2, $3) "
            "ON CONFLICT (key) DO UPDATE SET query_text = excluded.query_text, expires_at = excluded.expires_at "
            "WHERE search_keys.query_text = excluded.query_text OR search_keys.expires_at <= $4",
            key,
            query_text,
            expires_at,
            self._db.clock(),
        )
        return affected(status) > 0

    async def recall(self, key: str, *, now: datetime, expires_at: datetime) -> str | None:
        value = await self._db.fetchval(
            "UPDATE search_keys SET expires_at = $1 WHERE key = $2 AND expires_at > $3 RETURNING query_text",
            expires_at,
            key,
            now,
        )
        return None if value is None else str(value)

    async def forget_expired(self, now: datetime) -> int:
        return affected(await self._db.execute("DELETE FROM search_keys WHERE expires_at <= $1", now))
