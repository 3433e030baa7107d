"""Chats the bot talks to and their digest settings."""

from __future__ import annotations

import sqlite3
from datetime import datetime, time

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
from storage.sqlite.database import Database
from storage.sqlite.times import from_db_time, to_db_time


def _chat(row: sqlite3.Row) -> Chat:
    minute = int(row["delivery_minute"])
    created = from_db_time(row["created_at"])
    updated = from_db_time(row["updated_at"])
    assert created is not None and updated is not None
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
        last_period_end=from_db_time(row["last_period_end"]),
        created_at=created,
        updated_at=updated,
    )


class ChatRepository:
    def __init__(self, db: Database) -> None:
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
        now = to_db_time(self.db.clock())
        zone = validate_timezone(timezone or DEFAULT_TIMEZONE)
        await self.db.execute(
            """
            INSERT INTO chats (id, type, title, username, locale, timezone, created_at, updated_at)
            VALUES (?, ?, ?, ?, coalesce(?, 'ru'), ?, ?, ?)
            ON CONFLICT (id) DO UPDATE SET
                type = excluded.type, title = excluded.title, username = excluded.username,
                locale = coalesce(?, chats.locale), updated_at = excluded.updated_at
            """,
            (chat_id, type, title, username, locale, zone, now, now, locale),
        )
        chat = await self.get(chat_id)
        assert chat is not None
        return chat

    async def get(self, chat_id: int) -> Chat | None:
        row = await self.db.fetchone("SELECT * FROM chats WHERE id = ?", (chat_id,))
        return None if row is None else _chat(row)

    async def get_by_username(self, username: str) -> Chat | None:
        row = await self.db.fetchone(
            "SELECT * FROM chats WHERE lower(username) = lower(?)", (username.removeprefix("@"),)
        )
        return None if row is None else _chat(row)

    async def get_many(self, chat_ids: list[int]) -> list[Chat]:
        if not chat_ids:
            return []
        placeholders = ",".join("?" * len(chat_ids))
        rows = await self.db.fetchall(
            f"SELECT * FROM chats WHERE id IN ({placeholders}) ORDER BY id",  # noqa: S608 - placeholders only
            chat_ids,
        )
        return [_chat(row) for row in rows]

    async def _set(self, chat_id: int, column: str, value: object) -> bool:
        # `column` comes from the fixed names below, never from input; checked anyway (an assert would vanish
        # under `python -O`).
        if column not in _SETTABLE:
            raise ValueError(f"not a settable chat column: {column!r}")
        changed = await self.db.execute_rowcount(
            f"UPDATE chats SET {column} = ?, updated_at = ? WHERE id = ?",  # noqa: S608 - fixed column
            (value, to_db_time(self.db.clock()), chat_id),
        )
        return changed > 0

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
        changed = await self._set(chat_id, "frequency", frequency)
        if weekday is not None:
            await self._set(chat_id, "weekday", weekday)
        return changed

    async def set_max_items(self, chat_id: int, max_items: int | None) -> bool:
        """None = all items."""
        if max_items is not None and max_items < 1:
            raise ValueError("max_items must be positive or None")
        return await self._set(chat_id, "max_items", max_items)

    async def set_notify_empty(self, chat_id: int, enabled: bool) -> bool:
        return await self._set(chat_id, "notify_empty", int(enabled))

    async def set_paused(self, chat_id: int, paused: bool) -> bool:
        return await self._set(chat_id, "paused", int(paused))

    async def set_last_period_end(self, chat_id: int, moment: datetime | None) -> bool:
        return await self._set(chat_id, "last_period_end", None if moment is None else to_db_time(moment))

    async def deactivate(self, chat_id: int, reason: str) -> bool:
        """The bot cannot write there (blocked, kicked, deleted): no more jobs; its pending jobs become
        `inactive`; subscriptions stay."""
        now = to_db_time(self.db.clock())
        async with self.db.transaction() as conn:
            cursor = await conn.execute(
                "UPDATE chats SET active = 0, inactive_reason = ?, updated_at = ? WHERE id = ?",
                (reason, now, chat_id),
            )
            changed = cursor.rowcount
            await cursor.close()
            await conn.execute(
                "UPDATE outbox_jobs SET state = 'inactive', updated_at = ?, last_error = ? "
                "WHERE chat_id = ? AND state IN ('pending', 'sending', 'failed')",
                (now, reason, chat_id),
            )
        return changed > 0

    async def reactivate(self, chat_id: int) -> bool:
        """/start or the bot added back: the chat gets digests again (its schedule resumes from now on)."""
        now = to_db_time(self.db.clock())
        return (
            await self.db.execute_rowcount(
                "UPDATE chats SET active = 1, inactive_reason = NULL, updated_at = ? "
                "WHERE id = ? AND active = 0",
                (now, chat_id),
            )
            > 0
        )

    async def migrate_chat_id(self, old_id: int, new_id: int) -> bool:
        """A group became a supergroup: move the chat, its subscription, saved queries and outbox jobs to
        `new_id` (ON UPDATE CASCADE). When `new_id` already has a row (an update from the supergroup arrived
        first), the old chat's data is merged into it and the old row removed. Returns False if `old_id` is
        unknown."""
        if old_id == new_id:
            return False
        now = to_db_time(self.db.clock())
        async with self.db.transaction() as conn:
            async with conn.execute("SELECT 1 FROM chats WHERE id = ?", (old_id,)) as cursor:
                if await cursor.fetchone() is None:
                    return False
            async with conn.execute("SELECT 1 FROM chats WHERE id = ?", (new_id,)) as cursor:
                target_exists = await cursor.fetchone() is not None
            if not target_exists:
                await conn.execute(
                    "UPDATE chats SET id = ?, type = 'supergroup', updated_at = ? WHERE id = ?",
                    (new_id, now, old_id),
                )
                return True
            # Merge: the old chat's settings win (they are what the admins chose); children move unless the
            # new chat already has the same key.
            await conn.execute(
                """
                UPDATE chats SET
                    (title, username, locale, active, inactive_reason, timezone, delivery_minute, frequency,
                     weekday, max_items, notify_empty, paused, last_period_end) =
                    (SELECT coalesce(n.title, o.title), coalesce(n.username, o.username), o.locale, 1, NULL,
                            o.timezone, o.delivery_minute, o.frequency, o.weekday, o.max_items,
                            o.notify_empty, o.paused,
                            max(coalesce(o.last_period_end, ''), coalesce(n.last_period_end, ''))
                     FROM chats AS o, chats AS n WHERE o.id = ? AND n.id = ?),
                    type = 'supergroup', updated_at = ?
                WHERE id = ?
                """,
                (old_id, new_id, now, new_id),
            )
            await conn.execute(
                "UPDATE chats SET last_period_end = NULL WHERE id = ? AND last_period_end = ''", (new_id,)
            )
            await conn.execute(
                """
                INSERT INTO subscriptions (chat_id, gov_news, since, updated_at)
                SELECT ?, gov_news, since, updated_at FROM subscriptions WHERE chat_id = ? AND true
                ON CONFLICT (chat_id) DO UPDATE SET
                    gov_news = max(subscriptions.gov_news, excluded.gov_news),
                    since = coalesce(min(subscriptions.since, excluded.since),
                                     subscriptions.since, excluded.since)
                """,
                (new_id, old_id),
            )
            await conn.execute("DELETE FROM subscriptions WHERE chat_id = ?", (old_id,))
            await conn.execute(
                "UPDATE OR IGNORE saved_queries SET chat_id = ? WHERE chat_id = ?", (new_id, old_id)
            )
            await conn.execute(
                "UPDATE OR IGNORE outbox_jobs SET chat_id = ? WHERE chat_id = ?", (new_id, old_id)
            )
            await conn.execute("DELETE FROM chats WHERE id = ?", (old_id,))
        return True

    async def subscribed(self, *, active_only: bool = True, include_paused: bool = False) -> list[Chat]:
        """Chats with the digest on (government news or at least one enabled saved query)."""
        rows = await self.db.fetchall(
            """
            SELECT c.* FROM chats AS c
            WHERE (? = 0 OR c.active = 1) AND (? = 1 OR c.paused = 0)
              AND (EXISTS (SELECT 1 FROM subscriptions s WHERE s.chat_id = c.id AND s.gov_news = 1)
                   OR EXISTS (SELECT 1 FROM saved_queries q WHERE q.chat_id = c.id AND q.enabled = 1))
            ORDER BY c.id
            """,
            (int(active_only), int(include_paused)),
        )
        return [_chat(row) for row in rows]

    async def counts(self) -> ChatCounts:
        row = await self.db.fetchone(
            "SELECT count(*), coalesce(sum(active), 0), coalesce(sum(paused), 0) FROM chats"
        )
        assert row is not None
        by_type = {
            str(r[0]): int(r[1])
            for r in await self.db.fetchall("SELECT type, count(*) FROM chats GROUP BY type ORDER BY type")
        }
        total, active = int(row[0]), int(row[1])
        return ChatCounts(
            total=total, active=active, inactive=total - active, paused=int(row[2]), by_type=by_type
        )


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
