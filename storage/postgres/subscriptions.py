"""The PostgreSQL SubscriptionStore (storage/interfaces.py): a chat's government news on/off and its saved
queries, with the behaviour of storage/sqlite/subscriptions.py.

Every change that reads before it writes (the limit of saved queries, "was the chat subscribed before?" for
`since`) first locks the chat's row, so two processes changing one chat's subscription take turns.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import asyncpg

from bot.chats.records import MAX_SAVED_QUERIES, SavedQuery, Subscription, TooManyQueries
from storage.postgres.chats import db_time
from storage.postgres.database import Connection, PgDatabase, affected

_IS_ACTIVE = (
    "SELECT EXISTS (SELECT 1 FROM subscriptions WHERE chat_id = $1 AND gov_news) "
    "OR EXISTS (SELECT 1 FROM saved_queries WHERE chat_id = $1 AND enabled)"
)


def _query(row: asyncpg.Record) -> SavedQuery:
    return SavedQuery(
        id=int(row["id"]),
        chat_id=int(row["chat_id"]),
        text=row["query_text"],
        enabled=bool(row["enabled"]),
        created_at=row["created_at"],
    )


async def _lock_chat(conn: Connection, chat_id: int) -> None:
    """Serialize subscription changes of one chat. NO KEY UPDATE: it does not block the foreign-key checks of
    rows being inserted for the chat, and it is the lock the chat's own updates take anyway."""
    await conn.execute("SELECT 1 FROM chats WHERE id = $1 FOR NO KEY UPDATE", chat_id)


async def _is_active(conn: Connection, chat_id: int) -> bool:
    return bool(await conn.fetchval(_IS_ACTIVE, chat_id))


async def _touch_since(conn: Connection, chat_id: int, was_active: bool, now: datetime) -> None:
    """Record the (re)subscription moment when the chat just went from no digest to a digest."""
    if was_active or not await _is_active(conn, chat_id):
        return
    await conn.execute(
        "INSERT INTO subscriptions (chat_id, gov_news, since, updated_at) VALUES ($1, false, $2, $2) "
        "ON CONFLICT (chat_id) DO UPDATE SET since = excluded.since, updated_at = excluded.updated_at",
        chat_id,
        now,
    )


class SubscriptionRepository:
    def __init__(self, db: PgDatabase) -> None:
        self.db = db

    async def get(self, chat_id: int) -> Subscription:
        row = await self.db.fetchrow("SELECT gov_news, since FROM subscriptions WHERE chat_id = $1", chat_id)
        queries = await self.list_queries(chat_id)
        return Subscription(
            chat_id=chat_id,
            gov_news=bool(row and row["gov_news"]),
            since=row["since"] if row else None,
            queries=tuple(queries),
        )

    async def set_gov_news(self, chat_id: int, enabled: bool) -> bool:
        """/subscribe (True) or /unsubscribe from the government news digest. True if it changed.
        The chat row must exist (ChatRepository.upsert)."""
        now = db_time(self.db.clock())
        async with self.db.transaction() as conn:
            await _lock_chat(conn, chat_id)
            was_active = await _is_active(conn, chat_id)
            current = await conn.fetchval("SELECT gov_news FROM subscriptions WHERE chat_id = $1", chat_id)
            if current is not None and bool(current) == enabled:
                return False
            if current is None and not enabled:
                return False
            await conn.execute(
                "INSERT INTO subscriptions (chat_id, gov_news, since, updated_at) VALUES ($1, $2, NULL, $3) "
                "ON CONFLICT (chat_id) DO UPDATE SET gov_news = excluded.gov_news, "
                "updated_at = excluded.updated_at",
                chat_id,
                enabled,
                now,
            )
            await _touch_since(conn, chat_id, was_active, now)
        return True

    async def add_query(self, chat_id: int, query_text: str) -> tuple[SavedQuery, bool]:
        """Save (or re-enable) a query. Returns (query, created). Raises TooManyQueries past the limit."""
        now = db_time(self.db.clock())
        async with self.db.transaction() as conn:
            await _lock_chat(conn, chat_id)
            was_active = await _is_active(conn, chat_id)
            existing = await conn.fetchval(
                "SELECT id FROM saved_queries WHERE chat_id = $1 AND query_text = $2", chat_id, query_text
            )
            if existing is not None:
                await conn.execute("UPDATE saved_queries SET enabled = true WHERE id = $1", existing)
                query_id, created = int(existing), False
            else:
                count = await conn.fetchval("SELECT count(*) FROM saved_queries WHERE chat_id = $1", chat_id)
                if int(count) >= MAX_SAVED_QUERIES:
                    raise TooManyQueries(f"at most {MAX_SAVED_QUERIES} saved queries per chat")
                query_id = int(
                    await conn.fetchval(
                        "INSERT INTO saved_queries (chat_id, query_text, enabled, created_at) "
                        "VALUES ($1, $2, true, $3) RETURNING id",
                        chat_id,
                        query_text,
                        now,
                    )
                )
                created = True
            await _touch_since(conn, chat_id, was_active, now)
            row = await conn.fetchrow("SELECT * FROM saved_queries WHERE id = $1", query_id)
        assert row is not None
        return _query(row), created

    async def set_query_enabled(self, chat_id: int, query_id: int, enabled: bool) -> bool:
        """Unsubscribe from one saved query (kept) or re-enable it. True if it changed."""
        now = db_time(self.db.clock())
        async with self.db.transaction() as conn:
            await _lock_chat(conn, chat_id)
            was_active = await _is_active(conn, chat_id)
            status = await conn.execute(
                "UPDATE saved_queries SET enabled = $1 WHERE chat_id = $2 AND id = $3 AND enabled != $1",
                enabled,
                chat_id,
                query_id,
            )
            await _touch_since(conn, chat_id, was_active, now)
        return affected(status) > 0

    async def delete_query(self, chat_id: int, query_id: int) -> bool:
        """Forget a saved query (the delete button of /subscriptions)."""
        status = await self.db.execute(
            "DELETE FROM saved_queries WHERE chat_id = $1 AND id = $2", chat_id, query_id
        )
        return affected(status) > 0

    async def unsubscribe_all(self, chat_id: int) -> bool:
        """Stop the digest entirely; every saved query is kept, disabled. True if anything changed."""
        now = db_time(self.db.clock())
        async with self.db.transaction() as conn:
            first = await conn.execute(
                "UPDATE subscriptions SET gov_news = false, updated_at = $1 WHERE chat_id = $2 AND gov_news",
                now,
                chat_id,
            )
            second = await conn.execute(
                "UPDATE saved_queries SET enabled = false WHERE chat_id = $1 AND enabled", chat_id
            )
        return affected(first) + affected(second) > 0

    async def get_query(self, chat_id: int, query_id: int) -> SavedQuery | None:
        row = await self.db.fetchrow(
            "SELECT * FROM saved_queries WHERE chat_id = $1 AND id = $2", chat_id, query_id
        )
        return None if row is None else _query(row)

    async def list_queries(
        self, chat_id: int, *, enabled_only: bool = False, limit: int = -1, offset: int = 0
    ) -> list[SavedQuery]:
        """Oldest first; `limit=-1` for all (pagination of /subscriptions)."""
        # LIMIT NULL is no limit, as a negative one is on SQLite.
        rows = await self.db.fetch(
            "SELECT * FROM saved_queries WHERE chat_id = $1 AND (NOT $2 OR enabled) "
            "ORDER BY id LIMIT $3 OFFSET $4",
            chat_id,
            enabled_only,
            None if limit < 0 else limit,
            max(offset, 0),
        )
        return [_query(row) for row in rows]

    async def count_queries(self, chat_id: int, *, enabled_only: bool = False) -> int:
        value = await self.db.fetchval(
            "SELECT count(*) FROM saved_queries WHERE chat_id = $1 AND (NOT $2 OR enabled)",
            chat_id,
            enabled_only,
        )
        return int(value or 0)

    async def is_subscribed(self, chat_id: int) -> bool:
        return bool(await self.db.fetchval(_IS_ACTIVE, chat_id))

    async def many(self, chat_ids: Sequence[int]) -> dict[int, Subscription]:
        """Subscriptions of many chats in two queries (the fan-out composes thousands)."""
        ids = list(chat_ids)
        if not ids:
            return {}
        # One array parameter however many chats: no statement grows with the list.
        subs = {
            int(r["chat_id"]): r
            for r in await self.db.fetch(
                "SELECT chat_id, gov_news, since FROM subscriptions WHERE chat_id = ANY($1::bigint[])", ids
            )
        }
        queries: dict[int, list[SavedQuery]] = {}
        for r in await self.db.fetch(
            "SELECT * FROM saved_queries WHERE chat_id = ANY($1::bigint[]) ORDER BY id", ids
        ):
            queries.setdefault(int(r["chat_id"]), []).append(_query(r))
        result: dict[int, Subscription] = {}
        for chat_id in ids:
            sub = subs.get(chat_id)
            result[chat_id] = Subscription(
                chat_id=chat_id,
                gov_news=bool(sub and sub["gov_news"]),
                since=sub["since"] if sub else None,
                queries=tuple(queries.get(chat_id, ())),
            )
        return result

    async def count_subscribed(self, *, active_chats_only: bool = True) -> int:
        """Chats that get a digest (for /stats: active subscribers)."""
        value = await self.db.fetchval(
            """
            SELECT count(*) FROM chats AS c
            WHERE (NOT $1 OR c.active)
              AND (EXISTS (SELECT 1 FROM subscriptions s WHERE s.chat_id = c.id AND s.gov_news)
                   OR EXISTS (SELECT 1 FROM saved_queries q WHERE q.chat_id = c.id AND q.enabled))
            """,
            active_chats_only,
        )
        return int(value or 0)
