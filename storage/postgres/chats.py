"""The PostgreSQL ChatStore (storage/interfaces.py): chats the bot talks to and their digest settings, with the
behaviour of storage/sqlite/chats.py. Also `db_time`, how the chat/subscription/outbox modules stamp moments."""

from __future__ import annotations

from datetime import UTC, datetime, time

import asyncpg

from bot.chats.records import (
    CHAT_TYPES,
    DEFAULT_TIMEZONE,
    FREQUENCIES,
    Chat,
    ChatCounts,
    ChatType,
    Frequency,
    validate_timezone,
)
from storage.postgres.database import Connection, PgDatabase, affected


def db_time(moment: datetime) -> datetime:
    """A moment as stored: UTC, whole seconds — what SQLite's text times keep, so both backends compare
    "due" times alike. A naive datetime is refused (as on SQLite)."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime")
    return moment.astimezone(UTC).replace(microsecond=0)


def _chat(row: asyncpg.Record) -> Chat:
    minute = int(row["delivery_minute"])
    return Chat(
        id=int(row["id"]),
        type=row["type"],
        title=row["title"],
        username=row["username"],
        locale=row["locale"],
        active=bool(row["active"]),
        inactive_reason=row["inactive_reason"],
        timezone=row["timezone"],
        delivery_time=time(minute // 60, minute % 60),
        frequency=row["frequency"],
        weekday=int(row["weekday"]),
        max_items=None if row["max_items"] is None else int(row["max_items"]),
        notify_empty=bool(row["notify_empty"]),
        paused=bool(row["paused"]),
        last_period_end=row["last_period_end"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


class ChatRepository:
    def __init__(self, db: PgDatabase) -> None:
        self.db = db

    async def upsert(
        self,
        chat_id: int,
        *,
        type: ChatType,
        title: str | None = None,
        username: str | None = None,
        locale: str | None = None,
        timezone: str | None = None,
    ) -> Chat:
        """Create the chat or refresh its identity (type, title, username; locale when given).
        Settings of an existing chat stay as they are; `timezone` only applies to a new chat."""
        if type not in CHAT_TYPES:
            raise ValueError(f"unknown chat type {type!r}")
        now = db_time(self.db.clock())
        zone = validate_timezone(timezone or DEFAULT_TIMEZONE)
        # One statement: two instances upserting the same chat never collide.
        row = await self.db.fetchrow(
            """
            INSERT INTO chats (id, type, title, username, locale, timezone, created_at, updated_at)
            VALUES ($1, $2, $3, $4, coalesce($5, 'ru'), $6, $7, $7)
            ON CONFLICT (id) DO UPDATE SET
                type = excluded.type, title = excluded.title, username = excluded.username,
                locale = coalesce($5, chats.locale), updated_at = excluded.updated_at
            RETURNING *
            """,
            chat_id,
            type,
            title,
            username,
            locale,
            zone,
            now,
        )
        assert row is not None
        return _chat(row)

    async def get(self, chat_id: int) -> Chat | None:
        row = await self.db.fetchrow("SELECT * FROM chats WHERE id = $1", chat_id)
        return None if row is None else _chat(row)

    async def get_by_username(self, username: str) -> Chat | None:
        row = await self.db.fetchrow(
            "SELECT * FROM chats WHERE lower(username) = lower($1) LIMIT 1", username.removeprefix("@")
        )
        return None if row is None else _chat(row)

    async def get_many(self, chat_ids: list[int]) -> list[Chat]:
        if not chat_ids:
            return []
        rows = await self.db.fetch("SELECT * FROM chats WHERE id = ANY($1::bigint[]) ORDER BY id", chat_ids)
        return [_chat(row) for row in rows]

    async def _set(self, chat_id: int, column: str, value: object) -> bool:
        # `column` comes from the fixed names below, never from input; checked anyway (an assert would vanish
        # under `python -O`).
        if column not in _SETTABLE:
            raise ValueError(f"not a settable chat column: {column!r}")
        status = await self.db.execute(
            f"UPDATE chats SET {column} = $1, updated_at = $2 WHERE id = $3",  # noqa: S608 - fixed column
            value,
            db_time(self.db.clock()),
            chat_id,
        )
        return affected(status) > 0

    async def set_locale(self, chat_id: int, locale: str) -> bool:
        return await self._set(chat_id, "locale", locale)

    async def set_timezone(self, chat_id: int, timezone: str) -> bool:
        """Raises ValueError for an unknown IANA name. The next due time follows the new zone from now on."""
        return await self._set(chat_id, "timezone", validate_timezone(timezone))

    async def set_delivery_time(self, chat_id: int, at: time) -> bool:
        return await self._set(chat_id, "delivery_minute", at.hour * 60 + at.minute)

    async def set_frequency(self, chat_id: int, frequency: Frequency, weekday: int | None = None) -> bool:
        """`weekday` (0 = Monday) is kept for "weekly"; omitted, the stored one stays."""
        if frequency not in FREQUENCIES:
            raise ValueError(f"unknown frequency {frequency!r}")
        if weekday is not None and not 0 <= weekday <= 6:
            raise ValueError(f"weekday out of range: {weekday}")
        status = await self.db.execute(
            "UPDATE chats SET frequency = $1, weekday = coalesce($2, weekday), updated_at = $3 WHERE id = $4",
            frequency,
            weekday,
            db_time(self.db.clock()),
            chat_id,
        )
        return affected(status) > 0

    async def set_max_items(self, chat_id: int, max_items: int | None) -> bool:
        """None = all items."""
        if max_items is not None and max_items < 1:
            raise ValueError("max_items must be positive or None")
        return await self._set(chat_id, "max_items", max_items)

    async def set_notify_empty(self, chat_id: int, enabled: bool) -> bool:
        return await self._set(chat_id, "notify_empty", bool(enabled))

    async def set_paused(self, chat_id: int, paused: bool) -> bool:
        return await self._set(chat_id, "paused", bool(paused))

    async def set_last_period_end(self, chat_id: int, moment: datetime | None) -> bool:
        return await self._set(chat_id, "last_period_end", None if moment is None else db_time(moment))

    async def deactivate(self, chat_id: int, reason: str) -> bool:
        """The bot cannot write there (blocked, kicked, deleted): no more jobs; its pending jobs become
        `inactive`; subscriptions stay."""
        now = db_time(self.db.clock())
        # The chat row first, then its jobs: the order every chat-and-outbox transaction here locks in.
        async with self.db.transaction() as conn:
            status = await conn.execute(
                "UPDATE chats SET active = false, inactive_reason = $1, updated_at = $2 WHERE id = $3",
                reason,
                now,
                chat_id,
            )
            await conn.execute(
                "UPDATE outbox_jobs SET state = 'inactive', updated_at = $1, last_error = $2 "
                "WHERE chat_id = $3 AND state IN ('pending', 'sending', 'failed')",
                now,
                reason,
                chat_id,
            )
        return affected(status) > 0

    async def reactivate(self, chat_id: int) -> bool:
        """/start or the bot added back: the chat gets digests again (its schedule resumes from now on)."""
        status = await self.db.execute(
            "UPDATE chats SET active = true, inactive_reason = NULL, updated_at = $1 "
            "WHERE id = $2 AND NOT active",
            db_time(self.db.clock()),
            chat_id,
        )
        return affected(status) > 0

    async def migrate_chat_id(self, old_id: int, new_id: int) -> bool:
        """A group became a supergroup: move the chat, its subscription, saved queries and outbox jobs to
        `new_id` (ON UPDATE CASCADE). When `new_id` already has a row (an update from the supergroup arrived
        first), the old chat's data is merged into it and the old row removed. Returns False if `old_id` is
        unknown."""
        if old_id == new_id:
            return False
        now = db_time(self.db.clock())
        async with self.db.transaction() as conn:
            # Both rows locked, in id order (as a broadcast locks its chats): a second migration of the same
            # group waits here and then finds `old_id` gone.
            locked = {
                int(r["id"])
                for r in await conn.fetch(
                    "SELECT id FROM chats WHERE id = ANY($1::bigint[]) ORDER BY id FOR UPDATE",
                    [old_id, new_id],
                )
            }
            if old_id not in locked:
                return False
            if new_id not in locked:
                try:
                    # A savepoint: the supergroup's row may be inserted by another process right now.
                    async with conn.transaction():
                        await conn.execute(
                            "UPDATE chats SET id = $1, type = 'supergroup', updated_at = $2 WHERE id = $3",
                            new_id,
                            now,
                            old_id,
                        )
                    return True
                except asyncpg.UniqueViolationError:
                    await conn.execute("SELECT 1 FROM chats WHERE id = $1 FOR UPDATE", new_id)
            await _merge(conn, old_id, new_id, now)
        return True

    async def subscribed(self, *, active_only: bool = True, include_paused: bool = False) -> list[Chat]:
        """Chats with the digest on (government news or at least one enabled saved query)."""
        rows = await self.db.fetch(
            """
            SELECT c.* FROM chats AS c
            WHERE (NOT $1 OR c.active) AND ($2 OR NOT c.paused)
              AND (EXISTS (SELECT 1 FROM subscriptions s WHERE s.chat_id = c.id AND s.gov_news)
                   OR EXISTS (SELECT 1 FROM saved_queries q WHERE q.chat_id = c.id AND q.enabled))
            ORDER BY c.id
            """,
            active_only,
            include_paused,
        )
        return [_chat(row) for row in rows]

    async def counts(self) -> ChatCounts:
        row = await self.db.fetchrow(
            "SELECT count(*), count(*) FILTER (WHERE active), count(*) FILTER (WHERE paused) FROM chats"
        )
        assert row is not None
        by_type = {
            str(r[0]): int(r[1])
            for r in await self.db.fetch("SELECT type, count(*) FROM chats GROUP BY type ORDER BY type")
        }
        total, active = int(row[0]), int(row[1])
        return ChatCounts(
            total=total, active=active, inactive=total - active, paused=int(row[2]), by_type=by_type
        )


async def _merge(conn: Connection, old_id: int, new_id: int, now: datetime) -> None:
    """Merge chat `old_id` into the existing `new_id` and remove it (both rows locked by the caller).
    The old chat's settings win (they are what the admins chose); children move unless the new chat already
    has the same key (SQLite's UPDATE OR IGNORE: those stay behind and go with the old row)."""
    await conn.execute(
        """
        UPDATE chats AS n SET
            title = coalesce(n.title, o.title), username = coalesce(n.username, o.username),
            locale = o.locale, active = true, inactive_reason = NULL, timezone = o.timezone,
            delivery_minute = o.delivery_minute, frequency = o.frequency, weekday = o.weekday,
            max_items = o.max_items, notify_empty = o.notify_empty, paused = o.paused,
            last_period_end = greatest(o.last_period_end, n.last_period_end),
            type = 'supergroup', updated_at = $3
        FROM chats AS o
        WHERE o.id = $1 AND n.id = $2
        """,
        old_id,
        new_id,
        now,
    )
    await conn.execute(
        """
        INSERT INTO subscriptions (chat_id, gov_news, since, updated_at)
        SELECT $2, gov_news, since, updated_at FROM subscriptions WHERE chat_id = $1
        ON CONFLICT (chat_id) DO UPDATE SET
            gov_news = subscriptions.gov_news OR excluded.gov_news,
            since = least(subscriptions.since, excluded.since)
        """,
        old_id,
        new_id,
    )
    await conn.execute("DELETE FROM subscriptions WHERE chat_id = $1", old_id)
    await conn.execute(
        """
        UPDATE saved_queries AS q SET chat_id = $2
        WHERE q.chat_id = $1
          AND NOT EXISTS (SELECT 1 FROM saved_queries AS t WHERE t.chat_id = $2 AND t.query_text = q.query_text)
        """,
        old_id,
        new_id,
    )
    await conn.execute(
        """
        UPDATE outbox_jobs AS j SET chat_id = $2
        WHERE j.chat_id = $1
          AND NOT EXISTS (SELECT 1 FROM outbox_jobs AS t
                          WHERE t.chat_id = $2 AND t.kind = j.kind AND t.period_key = j.period_key)
        """,
        old_id,
        new_id,
    )
    await conn.execute("DELETE FROM chats WHERE id = $1", old_id)


_SETTABLE = frozenset(
    {
        "locale",
        "timezone",
        "delivery_minute",
        "frequency",
        "weekday",
        "max_items",
        "notify_empty",
        "paused",
        "last_period_end",
    }
)
