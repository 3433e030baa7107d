"""The PostgreSQL SourceStore (storage/interfaces.py): sources, their schedule and health, and `save_poll`'s
one transaction. Items, provenance and clusters are the mixin in storage/postgres/source_items.py.

Behaviour is SQLite's (storage/sqlite/sources.py). Where several instances share the database, the
read-then-write steps are made safe here: `add_defaults` takes the `defaults_loaded` row with ON CONFLICT and
locks `sources` while it checks that the table is empty; the health counters are counted from the row itself
(locked), not from the caller's possibly stale copy. Which instance polls at all is the `poller` lease
(bot/leases.py)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

import asyncpg

from bot.archive.models import Article
from bot.sources.records import (
    EMPTY_POLLS_ALERT,
    FAILURES_ALERT,
    MIN_INTERVAL_SECONDS,
    AlertKind,
    NewSource,
    PollSuccess,
    Source,
    SourceAlert,
    SourceExistsError,
    SourceKind,
    backoff_seconds,
)
from storage.postgres.database import PgDatabase, affected
from storage.postgres.source_items import SourceItems, db_time, ids_by_hash, remember, stored_ids

_ERROR_LIMIT = 500
_INSERT_SOURCE = (
    "INSERT INTO sources (name, url, kind, poll_interval_seconds, enabled, created_at, next_poll_at)"
    " VALUES ($1, $2, $3, $4, $5, $6, $6) ON CONFLICT (url) DO NOTHING"
)
# The empty-poll counter is counted on the row ($2 = items: NULL for 304 Not Modified, which neither counts
# as empty nor resets); the empty alert is re-armed when the new count is 0, as SQLite does.
_UPDATE_SUCCESS = (
    "UPDATE sources SET last_polled_at = $1, last_success_at = $1, consecutive_failures = 0,"
    " alerted_failing = false,"
    " consecutive_empty = CASE WHEN $2::integer IS NULL THEN consecutive_empty"
    " WHEN $2 = 0 THEN consecutive_empty + 1 ELSE 0 END,"
    " alerted_empty = CASE WHEN ($2 IS NULL AND consecutive_empty = 0) OR $2 <> 0 THEN false"
    " ELSE alerted_empty END,"
    " items_last_poll = coalesce($2, items_last_poll), new_last_poll = $3, total_new = total_new + $3,"
    " etag = coalesce($4, etag), last_modified = coalesce($5, last_modified), redirect_url = $6,"
    " next_poll_at = $7 WHERE id = $8"
)
_UPDATE_FAILURE = (
    "UPDATE sources SET last_polled_at = $1, last_error = $2, last_error_at = $1,"
    " consecutive_failures = $3, redirect_url = coalesce($4, redirect_url), next_poll_at = $5 WHERE id = $6"
)
_MARK_ALERTED = {
    AlertKind.FAILING: "UPDATE sources SET alerted_failing = true WHERE id = $1",
    AlertKind.EMPTY: "UPDATE sources SET alerted_empty = true WHERE id = $1",
}


def _source(row: asyncpg.Record) -> Source:
    return Source(
        id=row["id"],
        name=row["name"],
        url=row["url"],
        kind=SourceKind(row["kind"]),
        poll_interval_seconds=row["poll_interval_seconds"],
        enabled=row["enabled"],
        etag=row["etag"],
        last_modified=row["last_modified"],
        created_at=row["created_at"],
        last_polled_at=row["last_polled_at"],
        last_success_at=row["last_success_at"],
        last_error=row["last_error"],
        last_error_at=row["last_error_at"],
        consecutive_failures=row["consecutive_failures"],
        consecutive_empty=row["consecutive_empty"],
        items_last_poll=row["items_last_poll"],
        new_last_poll=row["new_last_poll"],
        total_new=row["total_new"],
        next_poll_at=row["next_poll_at"],
        alerted_failing=row["alerted_failing"],
        alerted_empty=row["alerted_empty"],
        redirect_url=row["redirect_url"],
    )


def _success_args(source: Source, now: datetime, success: PollSuccess) -> tuple[object, ...]:
    moment = db_time(now)
    next_poll = moment + timedelta(seconds=source.poll_interval_seconds)
    return (
        moment,
        success.items,
        success.new,
        success.etag,
        success.last_modified,
        success.redirect_url,
        next_poll,
        source.id,
    )


class SourceRepository(SourceItems):
    def __init__(self, db: PgDatabase) -> None:
        self.db = db

    # --- managing sources -------------------------------------------------------------------------------

    async def add(self, new: NewSource, *, now: datetime | None = None) -> Source:
        """Insert a source, due at once. Raises SourceExistsError for a URL already there."""
        if new.poll_interval_seconds < MIN_INTERVAL_SECONDS:
            raise ValueError(f"poll interval must be at least {MIN_INTERVAL_SECONDS} s")
        moment = db_time(now or self.db.clock())
        row = await self.db.fetchrow(
            f"{_INSERT_SOURCE} RETURNING *",
            new.name,
            new.url,
            str(new.kind),
            new.poll_interval_seconds,
            new.enabled,
            moment,
        )
        if row is None:
            raise SourceExistsError(new.url)
        return _source(row)

    async def add_defaults(self, defaults: Sequence[NewSource], *, now: datetime | None = None) -> int:
        """Load the default sources on the first start: once ever, and only into an empty table (sources
        added by hand before the first start win). Returns how many were added."""
        moment = db_time(now or self.db.clock())
        async with self.db.transaction() as conn:
            # Whoever inserts the marker decides; an instance starting at the same time waits on it here and
            # then finds it taken.
            first = await conn.fetchval(
                "INSERT INTO sources_state (key, value) VALUES ('defaults_loaded', $1)"
                " ON CONFLICT (key) DO NOTHING RETURNING true",
                moment.isoformat(),
            )
            if not first:
                return 0
            # No source may be added by hand between "the table is empty" and the defaults going in.
            await conn.execute("LOCK TABLE sources IN SHARE ROW EXCLUSIVE MODE")
            if await conn.fetchval("SELECT EXISTS (SELECT 1 FROM sources)"):
                return 0
            await conn.executemany(
                _INSERT_SOURCE,
                [(s.name, s.url, str(s.kind), s.poll_interval_seconds, s.enabled, moment) for s in defaults],
            )
        return len(defaults)

    async def get(self, source_id: int) -> Source | None:
        row = await self.db.fetchrow("SELECT * FROM sources WHERE id = $1", source_id)
        return None if row is None else _source(row)

    async def get_by_url(self, url: str) -> Source | None:
        row = await self.db.fetchrow("SELECT * FROM sources WHERE url = $1", url)
        return None if row is None else _source(row)

    async def list_all(self) -> list[Source]:
        return [_source(row) for row in await self.db.fetch("SELECT * FROM sources ORDER BY id")]

    async def count(self) -> int:
        count: int = await self.db.fetchval("SELECT count(*) FROM sources")
        return count

    async def remove(self, source_id: int) -> bool:
        return affected(await self.db.execute("DELETE FROM sources WHERE id = $1", source_id)) > 0

    async def set_enabled(self, source_id: int, enabled: bool, *, now: datetime | None = None) -> bool:
        """Enable (due at once, health counters reset) or disable a source. False if there is no such id."""
        if not enabled:
            status = await self.db.execute("UPDATE sources SET enabled = false WHERE id = $1", source_id)
            return affected(status) > 0
        status = await self.db.execute(
            "UPDATE sources SET enabled = true, next_poll_at = $1, consecutive_failures = 0,"
            " consecutive_empty = 0, alerted_failing = false, alerted_empty = false WHERE id = $2",
            db_time(now or self.db.clock()),
            source_id,
        )
        return affected(status) > 0

    async def due(self, now: datetime, *, source_ids: Sequence[int] | None = None) -> list[Source]:
        """Enabled sources whose next poll time has come (or the given ones, due or not)."""
        if source_ids is not None:
            rows = await self.db.fetch(
                "SELECT * FROM sources WHERE id = ANY($1::bigint[]) ORDER BY id", list(source_ids)
            )
        else:
            rows = await self.db.fetch(
                "SELECT * FROM sources WHERE enabled AND next_poll_at <= $1 ORDER BY next_poll_at, id",
                db_time(now),
            )
        return [_source(row) for row in rows]

    async def next_due_at(self) -> datetime | None:
        value: datetime | None = await self.db.fetchval("SELECT min(next_poll_at) FROM sources WHERE enabled")
        return value

    # --- health -----------------------------------------------------------------------------------------

    async def record_success(
        self,
        source: Source,
        *,
        now: datetime,
        items: int | None,
        new: int,
        etag: str | None,
        last_modified: str | None,
        redirect_url: str | None,
    ) -> None:
        """A poll that got an answer. `items=None` means 304 Not Modified (nothing to count as empty)."""
        success = PollSuccess(items, new, etag, last_modified, redirect_url)
        await self.db.execute(_UPDATE_SUCCESS, *_success_args(source, now, success))

    async def record_failure(
        self, source: Source, *, now: datetime, error: str, redirect_url: str | None = None
    ) -> int:
        """A poll that failed; the next one is backed off exponentially. Returns the failures in a row."""
        moment = db_time(now)
        async with self.db.transaction() as conn:
            # The row's own count (locked): another instance may have recorded a failure since `source` was read.
            stored = await conn.fetchval(
                "SELECT consecutive_failures FROM sources WHERE id = $1 FOR NO KEY UPDATE", source.id
            )
            failures = (source.consecutive_failures if stored is None else stored) + 1
            next_poll = moment + timedelta(seconds=backoff_seconds(source.poll_interval_seconds, failures))
            await conn.execute(
                _UPDATE_FAILURE, moment, error[:_ERROR_LIMIT], failures, redirect_url, next_poll, source.id
            )
        return failures

    async def pending_alerts(self) -> list[SourceAlert]:
        """Enabled sources past an alert threshold that were not reported yet in this episode."""
        rows = await self.db.fetch(
            "SELECT * FROM sources WHERE enabled AND ((consecutive_failures >= $1 AND NOT alerted_failing)"
            " OR (consecutive_empty >= $2 AND NOT alerted_empty)) ORDER BY id",
            FAILURES_ALERT,
            EMPTY_POLLS_ALERT,
        )
        alerts: list[SourceAlert] = []
        for row in rows:
            source = _source(row)
            if source.consecutive_failures >= FAILURES_ALERT and not source.alerted_failing:
                alerts.append(SourceAlert(source, AlertKind.FAILING))
            if source.consecutive_empty >= EMPTY_POLLS_ALERT and not source.alerted_empty:
                alerts.append(SourceAlert(source, AlertKind.EMPTY))
        return alerts

    async def mark_alerted(self, source_id: int, kind: AlertKind) -> None:
        await self.db.execute(_MARK_ALERTED[kind], source_id)

    # --- a poll's bookkeeping ---------------------------------------------------------------------------

    async def save_poll(
        self,
        source: Source,
        *,
        now: datetime,
        keys: Iterable[str],
        new_ids: Sequence[int],
        others: Sequence[Article],
        success: PollSuccess,
    ) -> dict[str, int]:
        """The bookkeeping of a polled source, in one transaction: remember its listed item `keys`, link it to
        the articles it brought in (`new_ids`, just stored, and the stored articles that `others` are
        duplicates of: that source carried them too) and record the success. Returns content hash -> id of
        the new articles."""
        async with self.db.transaction() as conn:
            by_hash = await ids_by_hash(conn.fetch, new_ids)
            carried = await stored_ids(conn.fetch, [a for a in others if a.content_hash not in by_hash])
            await remember(conn, source.id, keys, [*new_ids, *carried], db_time(now))
            await conn.execute(_UPDATE_SUCCESS, *_success_args(source, now, success))
        return by_hash
