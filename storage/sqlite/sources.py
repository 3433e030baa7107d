"""Sources, their health, the items they listed, which article came from which source, and clusters.

Why this file is long: it is the one repository behind the SourceStore Protocol for the sources' table group
(sources, sources_state, source_items, article_sources, article_clusters); its SQL reads best in one place,
each section a few short queries.
"""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import datetime, timedelta

import aiosqlite

from bot.archive.models import Article
from bot.archive.urls import normalize_url
from bot.sources.clustering import Sketch
from bot.sources.records import (
    EMPTY_POLLS_ALERT,
    FAILURES_ALERT,
    MIN_INTERVAL_SECONDS,
    AlertKind,
    Cluster,
    NewSource,
    PollSuccess,
    Source,
    SourceAlert,
    SourceExistsError,
    SourceKind,
    backoff_seconds,
)
from storage.sqlite.database import Database, Params
from storage.sqlite.times import from_db_time, to_db_time

_ERROR_LIMIT = 500
_UPDATE_SUCCESS = (
    "UPDATE sources SET last_polled_at = ?, last_success_at = ?, consecutive_failures = 0,"
    " alerted_failing = 0, consecutive_empty = ?,"
    " alerted_empty = CASE WHEN ? = 0 THEN 0 ELSE alerted_empty END,"
    " items_last_poll = coalesce(?, items_last_poll), new_last_poll = ?, total_new = total_new + ?,"
    " etag = coalesce(?, etag), last_modified = coalesce(?, last_modified), redirect_url = ?,"
    " next_poll_at = ? WHERE id = ?"
)
_INSERT_ITEM = "INSERT OR IGNORE INTO source_items (source_id, item_key, first_seen_at) VALUES (?, ?, ?)"
_INSERT_LINK = "INSERT OR IGNORE INTO article_sources (article_id, source_id, first_seen_at) VALUES (?, ?, ?)"
# SQLite's bound-variable limit is 32766 (999 before 3.32); IN lists are chunked well below it.
_IN_CHUNK = 500
_INSERT_SOURCE = (
    "INSERT INTO sources (name, url, kind, poll_interval_seconds, enabled, created_at, next_poll_at)"
    " VALUES (?, ?, ?, ?, ?, ?, ?)"
)


Fetch = Callable[[str, Params], Awaitable[Sequence[sqlite3.Row]]]


async def _select_in(fetch: Fetch, sql: str, values: Sequence[object], *head: object) -> list[sqlite3.Row]:
    """Run `sql` (a `{marks}` slot for an IN list, after the `head` parameters) over `values`, in chunks
    under SQLite's variable limit."""
    rows: list[sqlite3.Row] = []
    for start in range(0, len(values), _IN_CHUNK):
        chunk = tuple(values[start : start + _IN_CHUNK])
        marks = ", ".join("?" for _ in chunk)
        rows += await fetch(sql.format(marks=marks), (*head, *chunk))
    return rows


def _success_params(source: Source, now: datetime, success: PollSuccess) -> tuple[object, ...]:
    next_poll = to_db_time(now + timedelta(seconds=source.poll_interval_seconds))
    if success.items is None:
        empty = source.consecutive_empty
    elif success.items == 0:
        empty = source.consecutive_empty + 1
    else:
        empty = 0
    return (
        to_db_time(now),
        to_db_time(now),
        empty,
        empty,
        success.items,
        success.new,
        success.new,
        success.etag,
        success.last_modified,
        success.redirect_url,
        next_poll,
        source.id,
    )


def _source(row: sqlite3.Row) -> Source:
    return Source(
        id=row["id"],
        name=row["name"],
        url=row["url"],
        kind=SourceKind(row["kind"]),
        poll_interval_seconds=row["poll_interval_seconds"],
        enabled=bool(row["enabled"]),
        etag=row["etag"],
        last_modified=row["last_modified"],
        created_at=datetime.fromisoformat(row["created_at"]),
        last_polled_at=from_db_time(row["last_polled_at"]),
        last_success_at=from_db_time(row["last_success_at"]),
        last_error=row["last_error"],
        last_error_at=from_db_time(row["last_error_at"]),
        consecutive_failures=row["consecutive_failures"],
        consecutive_empty=row["consecutive_empty"],
        items_last_poll=row["items_last_poll"],
        new_last_poll=row["new_last_poll"],
        total_new=row["total_new"],
        next_poll_at=datetime.fromisoformat(row["next_poll_at"]),
        alerted_failing=bool(row["alerted_failing"]),
        alerted_empty=bool(row["alerted_empty"]),
        redirect_url=row["redirect_url"],
    )


class SourceRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    # --- managing sources -------------------------------------------------------------------------------

    async def add(self, new: NewSource, *, now: datetime | None = None) -> Source:
        """Insert a source, due at once. Raises SourceExistsError for a URL already there."""
        if new.poll_interval_seconds < MIN_INTERVAL_SECONDS:
            raise ValueError(f"poll interval must be at least {MIN_INTERVAL_SECONDS} s")
        moment = to_db_time(now or self.db.clock())
        try:
            source_id = await self.db.execute(
                _INSERT_SOURCE,
                (
                    new.name,
                    new.url,
                    str(new.kind),
                    new.poll_interval_seconds,
                    int(new.enabled),
                    moment,
                    moment,
                ),
            )
        except sqlite3.IntegrityError:
            raise SourceExistsError(new.url) from None
        found = await self.get(source_id)
        assert found is not None
        return found

    async def add_defaults(self, defaults: Sequence[NewSource], *, now: datetime | None = None) -> int:
        """Load the default sources on the first start: once ever, and only into an empty table (sources
        added by hand before the first start win). Returns how many were added."""
        moment = to_db_time(now or self.db.clock())
        async with self.db.transaction() as conn:
            async with conn.execute(
                "SELECT EXISTS (SELECT 1 FROM sources) OR EXISTS"
                " (SELECT 1 FROM sources_state WHERE key = 'defaults_loaded')"
            ) as cursor:
                row = await cursor.fetchone()
            await conn.execute(
                "INSERT OR IGNORE INTO sources_state (key, value) VALUES ('defaults_loaded', ?)", (moment,)
            )
            if row is not None and row[0]:
                return 0
            await conn.executemany(
                _INSERT_SOURCE.replace("INSERT", "INSERT OR IGNORE", 1),
                [
                    (s.name, s.url, str(s.kind), s.poll_interval_seconds, int(s.enabled), moment, moment)
                    for s in defaults
                ],
            )
        return len(defaults)

    async def get(self, source_id: int) -> Source | None:
        row = await self.db.fetchone("SELECT * FROM sources WHERE id = ?", (source_id,))
        return None if row is None else _source(row)

    async def get_by_url(self, url: str) -> Source | None:
        row = await self.db.fetchone("SELECT * FROM sources WHERE url = ?", (url,))
        return None if row is None else _source(row)

    async def list_all(self) -> list[Source]:
        return [_source(row) for row in await self.db.fetchall("SELECT * FROM sources ORDER BY id")]

    async def count(self) -> int:
        count: int = await self.db.fetchval("SELECT count(*) FROM sources")
        return count

    async def remove(self, source_id: int) -> bool:
        return await self.db.execute_rowcount("DELETE FROM sources WHERE id = ?", (source_id,)) > 0

    async def set_enabled(self, source_id: int, enabled: bool, *, now: datetime | None = None) -> bool:
        """Enable (due at once, health counters reset) or disable a source. False if there is no such id."""
        if not enabled:
            return (
                await self.db.execute_rowcount("UPDATE sources SET enabled = 0 WHERE id = ?", (source_id,))
                > 0
            )
        moment = to_db_time(now or self.db.clock())
        changed = await self.db.execute_rowcount(
            "UPDATE sources SET enabled = 1, next_poll_at = ?, consecutive_failures = 0,"
            " consecutive_empty = 0, alerted_failing = 0, alerted_empty = 0 WHERE id = ?",
            (moment, source_id),
        )
        return changed > 0

    async def due(self, now: datetime, *, source_ids: Sequence[int] | None = None) -> list[Source]:
        """Enabled sources whose next poll time has come (or the given ones, due or not)."""
        if source_ids is not None:
            marks = ", ".join("?" for _ in source_ids)
            rows = await self.db.fetchall(
                f"SELECT * FROM sources WHERE id IN ({marks}) ORDER BY id",  # noqa: S608 - only placeholders
                tuple(source_ids),
            )
        else:
            rows = await self.db.fetchall(
                "SELECT * FROM sources WHERE enabled = 1 AND next_poll_at <= ? ORDER BY next_poll_at, id",
                (to_db_time(now),),
            )
        return [_source(row) for row in rows]

    async def next_due_at(self) -> datetime | None:
        value = await self.db.fetchval("SELECT min(next_poll_at) FROM sources WHERE enabled = 1")
        return from_db_time(value)

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
        await self.db.execute(_UPDATE_SUCCESS, _success_params(source, now, success))

    async def record_failure(
        self, source: Source, *, now: datetime, error: str, redirect_url: str | None = None
    ) -> int:
        """A poll that failed; the next one is backed off exponentially. Returns the failures in a row."""
        failures = source.consecutive_failures + 1
        next_poll = to_db_time(
            now + timedelta(seconds=backoff_seconds(source.poll_interval_seconds, failures))
        )
        await self.db.execute(
            "UPDATE sources SET last_polled_at = ?, last_error = ?, last_error_at = ?,"
            " consecutive_failures = consecutive_failures + 1, redirect_url = coalesce(?, redirect_url),"
            " next_poll_at = ? WHERE id = ?",
            (to_db_time(now), error[:_ERROR_LIMIT], to_db_time(now), redirect_url, next_poll, source.id),
        )
        return failures

    async def pending_alerts(self) -> list[SourceAlert]:
        """Enabled sources past an alert threshold that were not reported yet in this episode."""
        rows = await self.db.fetchall(
            "SELECT * FROM sources WHERE enabled = 1 AND ((consecutive_failures >= ? AND alerted_failing = 0)"
            " OR (consecutive_empty >= ? AND alerted_empty = 0)) ORDER BY id",
            (FAILURES_ALERT, EMPTY_POLLS_ALERT),
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
        column = "alerted_failing" if kind is AlertKind.FAILING else "alerted_empty"
        await self.db.execute(f"UPDATE sources SET {column} = 1 WHERE id = ?", (source_id,))  # noqa: S608

    # --- items and articles -----------------------------------------------------------------------------

    async def known_items(self, source_id: int, keys: Iterable[str]) -> set[str]:
        """The keys among `keys` this source has listed before."""
        rows = await _select_in(
            self.db.fetchall,
            "SELECT item_key FROM source_items WHERE source_id = ? AND item_key IN ({marks})",
            list(dict.fromkeys(keys)),
            source_id,
        )
        return {row[0] for row in rows}

    async def remember_items(
        self, source_id: int, keys: Iterable[str], article_ids: Iterable[int], *, now: datetime
    ) -> None:
        """Record listed item keys and link the articles the source brought in, in one transaction."""
        async with self.db.transaction() as conn:
            await _remember(conn, source_id, keys, article_ids, to_db_time(now))

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
            fetch = _fetcher(conn)
            by_hash = await _ids_by_hash(fetch, new_ids)
            carried = await _stored_ids(fetch, [a for a in others if a.content_hash not in by_hash])
            await _remember(conn, source.id, keys, [*new_ids, *carried], to_db_time(now))
            await conn.execute(_UPDATE_SUCCESS, _success_params(source, now, success))
        return by_hash

    async def articles_of(self, source_id: int) -> list[int]:
        rows = await self.db.fetchall(
            "SELECT article_id FROM article_sources WHERE source_id = ? ORDER BY article_id", (source_id,)
        )
        return [row[0] for row in rows]

    # --- clusters ---------------------------------------------------------------------------------------

    async def sketches_between(self, since: datetime, until: datetime) -> list[tuple[int, int, Sketch]]:
        """(article id, cluster id, sketch) of clustered articles published in [since, until]."""
        rows = await self.db.fetchall(
            "SELECT article_id, cluster_id, signature FROM article_clusters"
            " WHERE published_at BETWEEN ? AND ? ORDER BY article_id",
            (to_db_time(since), to_db_time(until)),
        )
        return [(row[0], row[1], Sketch.from_bytes(row[2])) for row in rows]

    async def save_clusters(self, rows: Sequence[tuple[int, int, str, datetime, Sketch]]) -> None:
        """Store (article id, cluster id, source name, published at, sketch) rows."""
        async with self.db.transaction() as conn:
            await conn.executemany(
                "INSERT OR REPLACE INTO article_clusters"
                " (article_id, cluster_id, source, published_at, signature) VALUES (?, ?, ?, ?, ?)",
                [
                    (article_id, cluster_id, source, to_db_time(published_at), sketch.to_bytes())
                    for article_id, cluster_id, source, published_at, sketch in rows
                ],
            )

    async def _rows_in(self, sql: str, ids: Sequence[object]) -> list[sqlite3.Row]:
        return await _select_in(self.db.fetchall, sql, ids)

    async def ids_by_hash(self, article_ids: Sequence[int]) -> dict[str, int]:
        """content hash -> id of the given stored articles (to tell which of a batch were the new ones)."""
        return await _ids_by_hash(self.db.fetchall, article_ids)

    async def stored_article_ids(self, articles: Sequence[Article]) -> list[int]:
        """Ids of the stored articles these are duplicates of, by the archive's rules: the same normalized
        URL or the same content hash."""
        return await _stored_ids(self.db.fetchall, articles)

    async def stored_urls(self, urls: Sequence[str]) -> set[str]:
        """The URLs among `urls` whose article is stored (the archive's rule: the same normalized URL)."""
        normalized = {url: normalize_url(url) for url in urls}
        rows = await self._rows_in(
            "SELECT url_normalized FROM articles WHERE url_normalized IN ({marks})",
            sorted(set(normalized.values())),
        )
        found = {row[0] for row in rows}
        return {url for url, key in normalized.items() if key in found}

    async def clusters_for(self, article_ids: Iterable[int]) -> dict[int, Cluster]:
        """For each given article that has near-duplicates or was carried by several sources: its cluster
        (all members) and the names of the other sources that carried the story."""
        wanted = list(dict.fromkeys(article_ids))
        if not wanted:
            return {}
        own_cluster = {
            row[0]: row[1]
            for row in await self._rows_in(
                "SELECT article_id, cluster_id FROM article_clusters WHERE article_id IN ({marks})", wanted
            )
        }
        members: defaultdict[int, dict[int, str]] = defaultdict(dict)
        for row in await self._rows_in(
            "SELECT cluster_id, article_id, source FROM article_clusters WHERE cluster_id IN ({marks})",
            sorted(set(own_cluster.values())),
        ):
            members[row[0]][row[1]] = row[2]
        # Articles stored by `ingest` have no cluster row: each is its own one-member cluster.
        unclustered = [article_id for article_id in wanted if article_id not in own_cluster]
        for row in await self._rows_in("SELECT id, source FROM articles WHERE id IN ({marks})", unclustered):
            own_cluster[row[0]] = row[0]
            members[row[0]] = {row[0]: row[1]}
        every_member = sorted({member for group in members.values() for member in group})
        carried_by: defaultdict[int, list[str]] = defaultdict(list)
        for row in await self._rows_in(
            "SELECT l.article_id, s.name FROM article_sources AS l JOIN sources AS s ON s.id = l.source_id"
            " WHERE l.article_id IN ({marks}) ORDER BY s.id",
            every_member,
        ):
            carried_by[row[0]].append(row[1])
        result: dict[int, Cluster] = {}
        for article_id in wanted:
            cluster_id = own_cluster.get(article_id)
            if cluster_id is None:
                continue
            group = members[cluster_id]
            own_source = group[article_id]
            names = [name for member in sorted(group) for name in (group[member], *carried_by[member])]
            others = tuple(dict.fromkeys(name for name in names if name != own_source))
            if len(group) >= 2 or others:
                result[article_id] = Cluster(cluster_id, tuple(sorted(group)), others)
        return result


# --- statements shared by the single-call methods and the poll's one transaction ---------------------------


def _fetcher(conn: aiosqlite.Connection) -> Fetch:
    async def fetch(sql: str, params: Params) -> Sequence[sqlite3.Row]:
        async with conn.execute(sql, params) as cursor:
            return list(await cursor.fetchall())

    return fetch


async def _ids_by_hash(fetch: Fetch, article_ids: Sequence[int]) -> dict[str, int]:
    rows = await _select_in(fetch, "SELECT id, content_hash FROM articles WHERE id IN ({marks})", article_ids)
    return {row[1]: row[0] for row in rows}


async def _stored_ids(fetch: Fetch, articles: Sequence[Article]) -> list[int]:
    hashes = [article.content_hash for article in articles]
    urls = [normalize_url(article.url) for article in articles if article.url]
    found = await _select_in(fetch, "SELECT id FROM articles WHERE content_hash IN ({marks})", hashes)
    found += await _select_in(fetch, "SELECT id FROM articles WHERE url_normalized IN ({marks})", urls)
    return sorted({row[0] for row in found})


async def _remember(
    conn: aiosqlite.Connection, source_id: int, keys: Iterable[str], article_ids: Iterable[int], moment: str
) -> None:
    await conn.executemany(_INSERT_ITEM, [(source_id, key, moment) for key in keys])
    await conn.executemany(_INSERT_LINK, [(article_id, source_id, moment) for article_id in article_ids])
