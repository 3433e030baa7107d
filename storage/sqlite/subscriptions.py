"""A chat's digest subscription: government commission news on/off, plus up to MAX_SAVED_QUERIES saved
queries.

Unsubscribing switches things off and keeps them (a comeback restores them); only `delete_query` forgets one.
`since` is when the chat last went from "no digest" to "digest": the schedule's anchor for its first digest.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

import aiosqlite

from bot.chats.records import MAX_SAVED_QUERIES, SavedQuery, Subscription, TooManyQueries
from storage.sqlite.database import Database
from storage.sqlite.times import from_db_time, to_db_time


def _query(row: sqlite3.Row) -> SavedQuery:
    created = from_db_time(row["created_at"])
    assert created is not None
    return SavedQuery(
        id=int(row["id"]),
        chat_id=int(row["chat_id"]),
        text=row["query_text"],
        enabled=bool(row["enabled"]),
        created_at=created,
    )


async def _is_active(conn: aiosqlite.Connection, chat_id: int) -> bool:
    async with conn.execute(
        "SELECT EXISTS (SELECT 1 FROM subscriptions WHERE chat_id = ? AND gov_news = 1) "
        "OR EXISTS (SELECT 1 FROM saved_queries WHERE chat_id = ? AND enabled = 1)",
        (chat_id, chat_id),
    ) as cursor:
        row = await cursor.fetchone()
    return bool(row and row[0])


async def _touch_since(conn: aiosqlite.Connection, chat_id: int, was_active: bool, now: str) -> None:
    """Record the (re)subscription moment when the chat just went from no digest to a digest."""
    if was_active or not await _is_active(conn, chat_id):
        return
    await conn.execute(
        "INSERT INTO subscriptions (chat_id, gov_news, since, updated_at) VALUES (?, 0, ?, ?) "
        "ON CONFLICT (chat_id) DO UPDATE SET since = excluded.since, updated_at = excluded.updated_at",
        (chat_id, now, now),
    )


class SubscriptionRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def get(self, chat_id: int) -> Subscription:
        row = await self.db.fetchone(
            "SELECT gov_news, since FROM subscriptions WHERE chat_id = ?", (chat_id,)
        )
        queries = await self.list_queries(chat_id)
        return Subscription(
            chat_id=chat_id,
            gov_news=bool(row and row["gov_news"]),
            since=from_db_time(row["since"]) if row else None,
            queries=tuple(queries),
        )

    async def set_gov_news(self, chat_id: int, enabled: bool) -> bool:
        """/subscribe (True) or /unsubscribe from the government news digest. True if it changed.
        The chat row must exist (ChatRepository.upsert)."""
        now = to_db_time(self.db.clock())
        async with self.db.transaction() as conn:
            was_active = await _is_active(conn, chat_id)
            async with conn.execute(
                "SELECT gov_news FROM subscriptions WHERE chat_id = ?", (chat_id,)
            ) as cur:
                row = await cur.fetchone()
            if row is not None and bool(row[0]) == enabled:
                return False
            if row is None and not enabled:
                return False
            await conn.execute(
                "INSERT INTO subscriptions (chat_id, gov_news, since, updated_at) VALUES (?, ?, NULL, ?) "
                "ON CONFLICT (chat_id) DO UPDATE SET gov_news = excluded.gov_news, "
                "updated_at = excluded.updated_at",
                (chat_id, int(enabled), now),
            )
            await _touch_since(conn, chat_id, was_active, now)
        return True

    async def add_query(self, chat_id: int, query_text: str) -> tuple[SavedQuery, bool]:
        """Save (or re-enable) a query. Returns (query, created). Raises TooManyQueries past the limit."""
        now = to_db_time(self.db.clock())
        async with self.db.transaction() as conn:
            was_active = await _is_active(conn, chat_id)
            async with conn.execute(
                "SELECT id FROM saved_queries WHERE chat_id = ? AND query_text = ?", (chat_id, query_text)
            ) as cursor:
                existing = await cursor.fetchone()
            if existing is not None:
                await conn.execute("UPDATE saved_queries SET enabled = 1 WHERE id = ?", (existing[0],))
                query_id, created = int(existing[0]), False
            else:
                async with conn.execute(
                    "SELECT count(*) FROM saved_queries WHERE chat_id = ?", (chat_id,)
                ) as cursor:
                    count_row = await cursor.fetchone()
                if count_row is not None and int(count_row[0]) >= MAX_SAVED_QUERIES:
                    raise TooManyQueries(f"at most {MAX_SAVED_QUERIES} saved queries per chat")
                cursor = await conn.execute(
                    "INSERT INTO saved_queries (chat_id, query_text, enabled, created_at) "
                    "VALUES (?, ?, 1, ?)",
                    (chat_id, query_text, now),
                )
                query_id, created = int(cursor.lastrowid or 0), True
                await cursor.close()
            await _touch_since(conn, chat_id, was_active, now)
            async with conn.execute("SELECT * FROM saved_queries WHERE id = ?", (query_id,)) as cursor:
                row = await cursor.fetchone()
        assert row is not None
        return _query(row), created

    async def set_query_enabled(self, chat_id: int, query_id: int, enabled: bool) -> bool:
        """Unsubscribe from one saved query (kept) or re-enable it. True if it changed."""
        now = to_db_time(self.db.clock())
        async with self.db.transaction() as conn:
            was_active = await _is_active(conn, chat_id)
            cursor = await conn.execute(
                "UPDATE saved_queries SET enabled = ? WHERE chat_id = ? AND id = ? AND enabled != ?",
                (int(enabled), chat_id, query_id, int(enabled)),
            )
            changed = cursor.rowcount > 0
            await cursor.close()
            await _touch_since(conn, chat_id, was_active, now)
        return changed

    async def delete_query(self, chat_id: int, query_id: int) -> bool:
        """Forget a saved query (the delete button of /subscriptions)."""
        return (
            await self.db.execute_rowcount(
                "DELETE FROM saved_queries WHERE chat_id = ? AND id = ?", (chat_id, query_id)
            )
            > 0
        )

    async def unsubscribe_all(self, chat_id: int) -> bool:
        """Stop the digest entirely; every saved query is kept, disabled. True if anything changed."""
        now = to_db_time(self.db.clock())
        async with self.db.transaction() as conn:
            first = await conn.execute(
                "UPDATE subscriptions SET gov_news = 0, updated_at = ? WHERE chat_id = ? AND gov_news = 1",
                (now, chat_id),
            )
            second = await conn.execute(
                "UPDATE saved_queries SET enabled = 0 WHERE chat_id = ? AND enabled = 1", (chat_id,)
            )
            changed = first.rowcount + second.rowcount > 0
            await first.close()
            await second.close()
        return changed

    async def get_query(self, chat_id: int, query_id: int) -> SavedQuery | None:
        row = await self.db.fetchone(
            "SELECT * FROM saved_queries WHERE chat_id = ? AND id = ?", (chat_id, query_id)
        )
        return None if row is None else _query(row)

    async def list_queries(
        self, chat_id: int, *, enabled_only: bool = False, limit: int = -1, offset: int = 0
    ) -> list[SavedQuery]:
        """Oldest first; `limit=-1` for all (pagination of /subscriptions)."""
        rows = await self.db.fetchall(
            "SELECT * FROM saved_queries WHERE chat_id = ? AND (? = 0 OR enabled = 1) "
            "ORDER BY id LIMIT ? OFFSET ?",
            (chat_id, int(enabled_only), limit, offset),
        )
        return [_query(row) for row in rows]

    async def count_queries(self, chat_id: int, *, enabled_only: bool = False) -> int:
        value = await self.db.fetchval(
            "SELECT count(*) FROM saved_queries WHERE chat_id = ? AND (? = 0 OR enabled = 1)",
            (chat_id, int(enabled_only)),
        )
        return int(value or 0)

    async def is_subscribed(self, chat_id: int) -> bool:
        value = await self.db.fetchval(
            "SELECT EXISTS (SELECT 1 FROM subscriptions WHERE chat_id = ? AND gov_news = 1) "
            "OR EXISTS (SELECT 1 FROM saved_queries WHERE chat_id = ? AND enabled = 1)",
            (chat_id, chat_id),
        )
        return bool(value)

    async def many(self, chat_ids: Sequence[int]) -> dict[int, Subscription]:
        """Subscriptions of many chats in two queries (the fan-out composes thousands)."""
        result: dict[int, Subscription] = {}
        ids = list(chat_ids)
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            subs = {
                int(r["chat_id"]): r
                for r in await self.db.fetchall(
                    f"SELECT chat_id, gov_news, since FROM subscriptions WHERE chat_id IN ({marks})",  # noqa: S608
                    chunk,
                )
            }
            queries: dict[int, list[SavedQuery]] = {}
            for r in await self.db.fetchall(
                f"SELECT * FROM saved_queries WHERE chat_id IN ({marks}) ORDER BY id",  # noqa: S608
                chunk,
            ):
                queries.setdefault(int(r["chat_id"]), []).append(_query(r))
            for chat_id in chunk:
                sub = subs.get(chat_id)
                result[chat_id] = Subscription(
                    chat_id=chat_id,
                    gov_news=bool(sub and sub["gov_news"]),
                    since=from_db_time(sub["since"]) if sub else None,
                    queries=tuple(queries.get(chat_id, ())),
                )
        return result

    async def count_subscribed(self, *, active_chats_only: bool = True) -> int:
        """Chats that get a digest (for /stats: active subscribers)."""
        value = await self.db.fetchval(
            """
            SELECT count(*) FROM chats AS c
            WHERE (? = 0 OR c.active = 1)
              AND (EXISTS (SELECT 1 FROM subscriptions s WHERE s.chat_id = c.id AND s.gov_news = 1)
                   OR EXISTS (SELECT 1 FROM saved_queries q WHERE q.chat_id = c.id AND q.enabled = 1))
            """,
            (int(active_chats_only),),
        )
        return int(value or 0)
