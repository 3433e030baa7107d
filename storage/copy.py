"""Copying a whole database from one backend to another (`govdigest db copy SRC DST`), ids kept.

Backend-neutral: TABLES says what is copied (names, key columns, column kinds), in foreign-key order; each
backend's `Dump` (storage/sqlite/dump.py, storage/postgres/dump.py) reads and writes batches of neutral rows
(int, str, bool, aware UTC datetime, bytes, or None, in the spec's column order) and converts them to and
from its own column format. Each backend rebuilds its search index from the copied article text at write
time, the way it indexes at ingest.

Resumable: a table is copied in its key order (the source's own order), in batches, each batch one
destination transaction that skips rows already there. An interrupted copy therefore left the first N rows
of one table (and every table before it complete, every table after it empty); run again, it goes on after
the source's N-th key. A non-empty destination that does not look like that is refused (`CopyRefused`).
Process coordination (leases, send slots, usage limits, source claims) is not data and is not copied; the
PostgreSQL archive's token counts (article_vocab, article_count) are rebuilt with its index.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, Protocol, cast

from bot.archive.models import Article
from bot.clock import system_clock
from storage import database_url_problem, sqlite_path
from storage.errors import StorageError

Kind = Literal["int", "text", "bool", "time", "blob"]
Row = tuple[Any, ...]
Key = tuple[Any, ...]
Progress = Callable[[str, int, int], None]
"""Called after each batch (and once for a table with nothing left to copy): table, rows in the
destination so far, rows in the source."""

BATCH_ROWS = 2000
SAMPLES = 8  # source keys checked in a non-empty destination before resuming into it


class CopyRefused(Exception):
    """The copy must not start (same database, or a destination holding other data): one line, for people."""


@dataclass(frozen=True, slots=True)
class TableSpec:
    name: str
    columns: tuple[tuple[str, Kind], ...]
    key: tuple[str, ...]
    identity: bool = False  # the key is an `id` PostgreSQL generates (its sequence moves past the copy)
    batch_rows: int | None = None  # a lower cap for tables of large rows

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.columns)

    def key_of(self, row: Row) -> Key:
        names = self.names
        return tuple(row[names.index(column)] for column in self.key)


def _spec(name: str, key: str, columns: str, **options: Any) -> TableSpec:
    """A table from "name:kind name:kind ..." (kinds int, text, bool, time, blob) and its key columns."""
    parsed = tuple((c.split(":")[0], cast("Kind", c.split(":")[1])) for c in columns.split())
    return TableSpec(name, parsed, tuple(key.split()), **options)


# Foreign-key order: a row's parents are copied before it.
TABLES: tuple[TableSpec, ...] = (
    _spec(
        "articles",
        "id",
        "id:int title:text lead:text body:text published_at:time views:int source:text url:text"
        " url_normalized:text content_hash:text topics:text is_gov_commission:bool ingested_at:time",
        identity=True,
        batch_rows=500,
    ),
    _spec("article_topics", "topic article_id", "topic:text article_id:int"),
    _spec(
        "chats",
        "id",
        "id:int type:text title:text username:text locale:text active:bool inactive_reason:text"
        " timezone:text delivery_minute:int frequency:text weekday:int max_items:int notify_empty:bool"
        " paused:bool last_period_end:time created_at:time updated_at:time",
    ),
    _spec("subscriptions", "chat_id", "chat_id:int gov_news:bool since:time updated_at:time"),
    _spec(
        "saved_queries",
        "id",
        "id:int chat_id:int query_text:text enabled:bool created_at:time",
        identity=True,
    ),
    _spec("broadcasts", "id", "id:int text:text created_by:int created_at:time", identity=True),
    _spec(
        "outbox_jobs",
        "id",
        "id:int chat_id:int kind:text period_key:text period_start:time period_end:time broadcast_id:int"
        " state:text attempts:int next_attempt_at:time last_error:text items:text page_size:int"
        " created_at:time updated_at:time finished_at:time",
        identity=True,
    ),
    _spec(
        "outbox_parts",
        "job_id seq",
        "job_id:int seq:int text:text reply_markup:text state:text message_id:int sent_at:time",
    ),
    _spec(
        "fanouts",
        "id",
        "id:int kind:text started_at:time finished_at:time jobs:int sent:int retried:int failed:int"
        " messages:int",
        identity=True,
    ),
    _spec(
        "sources",
        "id",
        "id:int name:text url:text kind:text poll_interval_seconds:int enabled:bool etag:text"
        " last_modified:text created_at:time last_polled_at:time last_success_at:time last_error:text"
        " last_error_at:time consecutive_failures:int consecutive_empty:int items_last_poll:int"
        " new_last_poll:int total_new:int next_poll_at:time alerted_failing:bool alerted_empty:bool"
        " redirect_url:text",
        identity=True,
    ),
    _spec("sources_state", "key", "key:text value:text"),
    _spec("source_items", "source_id item_key", "source_id:int item_key:text first_seen_at:time"),
    _spec("article_sources", "article_id source_id", "article_id:int source_id:int first_seen_at:time"),
    _spec(
        "article_clusters",
        "article_id",
        "article_id:int cluster_id:int source:text published_at:time signature:blob",
    ),
    _spec("search_keys", "key", "key:text query_text:text expires_at:time"),
)
TABLES_BY_NAME = {table.name: table for table in TABLES}
ARTICLES = TABLES_BY_NAME["articles"]


def checked(table: TableSpec) -> TableSpec:
    """`table` if it is one of TABLES: the dumps build SQL identifiers only from this whitelist."""
    if TABLES_BY_NAME.get(table.name) is not table:
        raise ValueError(f"not a copied table: {table.name!r}")
    return table


def article_of(row: Row) -> Article:
    """The Article of a neutral `articles` row, as the backends index it at ingest."""
    values = dict(zip(ARTICLES.names, row, strict=True))
    body = values["body"]
    return Article(
        title=values["title"],
        lead=values["lead"],
        body=tuple(body.split("\n\n")) if body else (),
        published_at=values["published_at"],
        views=values["views"],
        source=values["source"],
        url=values["url"],
        topics=frozenset(values["topics"].split()),
        is_gov_commission=bool(values["is_gov_commission"]),
        content_hash=values["content_hash"],
    )


def comparable(row: Row) -> Row:
    """A row as both backends can hold it: times in whole seconds (SQLite keeps no fraction)."""
    return tuple(value.replace(microsecond=0) if isinstance(value, datetime) else value for value in row)


class Dump(Protocol):
    """One opened database, read and written as neutral rows of TABLES."""

    async def identity(self) -> str:
        """What tells this database from any other (equal for two connections to the same one)."""

    async def count(self, table: TableSpec) -> int: ...

    async def row_at(self, table: TableSpec, offset: int) -> Row | None:
        """The row at `offset` (from 0) in key order, or None past the end."""

    async def get(self, table: TableSpec, key: Key) -> Row | None:
        """The row with this key, or None."""

    async def read_batch(self, table: TableSpec, after: Key | None, limit: int) -> list[Row]:
        """Up to `limit` rows with a key after `after` (from the first when None), in key order."""

    async def write_batch(self, table: TableSpec, rows: Sequence[Row]) -> int:
        """Insert the rows (one transaction; rows whose key is there already are skipped; articles are
        indexed for search). Returns how many were inserted."""

    async def finish(self) -> None:
        """After the last batch: what the backend needs (PostgreSQL moves its id sequences past the copy)."""

    async def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class TableCount:
    table: str
    source: int
    destination: int


@dataclass(frozen=True, slots=True)
class CopyReport:
    counts: tuple[TableCount, ...]
    copied: int  # rows inserted by this run

    @property
    def differing(self) -> list[TableCount]:
        return [count for count in self.counts if count.source != count.destination]


@dataclass(slots=True)
class _Start:
    table: TableSpec
    total: int
    done: int
    after: Key | None


async def _plan(source: Dump, destination: Dump) -> list[_Start]:
    """Where each table's copy starts; CopyRefused unless the destination is empty or looks like an
    interrupted copy of the source (module doc)."""
    starts: list[_Start] = []
    incomplete: str | None = None  # the first table not fully copied: every later one must be empty
    for table in TABLES:
        total, done = await source.count(table), await destination.count(table)
        after: Key | None = None
        if done:
            if incomplete is not None:
                raise CopyRefused(
                    f"the destination is not empty and is not an interrupted copy of the source: it has rows"
                    f" in {table.name} but {incomplete} is not complete"
                )
            if done > total:
                raise CopyRefused(
                    f"the destination is not empty and is not an interrupted copy of the source: {table.name}"
                    f" has {done} rows there, {total} in the source"
                )
            # Its first `done` rows in the source's key order must be there, equal: check a sample of them
            # (the last one included: the copy goes on after it).
            offsets = sorted({(done - 1) * i // (SAMPLES - 1) for i in range(SAMPLES)})
            row: Row | None = None
            for offset in offsets:
                row = await source.row_at(table, offset)
                copied = None if row is None else await destination.get(table, table.key_of(row))
                if row is None or copied is None or comparable(row) != comparable(copied):
                    raise CopyRefused(
                        f"the destination is not empty and is not an interrupted copy of the source: its"
                        f" {table.name} rows are not the source's"
                    )
            assert row is not None
            after = table.key_of(row)
        if done < total and incomplete is None:
            incomplete = table.name
        starts.append(_Start(table, total, done, after))
    return starts


async def copy_database(
    source: Dump,
    destination: Dump,
    *,
    batch_rows: int = BATCH_ROWS,
    progress: Progress | None = None,
) -> CopyReport:
    """Copy every table of TABLES from `source` into `destination` (module doc), then count both."""
    if await source.identity() == await destination.identity():
        raise CopyRefused("the source and the destination are the same database")
    copied = 0
    for start in await _plan(source, destination):
        table, after, done = start.table, start.after, start.done
        limit = max(1, min(batch_rows, table.batch_rows or batch_rows))
        batches = 0
        while rows := await source.read_batch(table, after, limit):
            inserted = await destination.write_batch(table, rows)
            copied += inserted
            done += inserted
            after = table.key_of(rows[-1])
            batches += 1
            if progress is not None:
                progress(table.name, done, start.total)
        if not batches and progress is not None:
            progress(table.name, done, start.total)
    await destination.finish()
    counts = tuple(
        [
            TableCount(table.name, await source.count(table), await destination.count(table))
            for table in TABLES
        ]
    )
    return CopyReport(counts, copied)


# --- by URL (the command line) ------------------------------------------------------------------------------


def same_url(first: str, second: str) -> bool:
    """Whether two database URLs obviously name one database (the opened databases are compared too)."""
    first_path, second_path = sqlite_path(first), sqlite_path(second)
    if isinstance(first_path, Path) and isinstance(second_path, Path):
        return first_path.resolve() == second_path.resolve()
    return first.strip().rstrip("/") == second.strip().rstrip("/")


async def open_dump(url: str) -> Dump:
    """The backend `url` names, opened and migrated. StorageError when it cannot be."""
    problem = database_url_problem(url)
    if problem is not None:
        raise StorageError(problem)
    path = sqlite_path(url)
    if path is not None:
        from storage.sqlite.dump import SqliteDump

        return await SqliteDump.open(path, clock=system_clock)
    from storage.postgres.dump import PostgresDump

    return await PostgresDump.open(url, clock=system_clock)


async def copy_urls(
    source_url: str,
    destination_url: str,
    *,
    batch_rows: int = BATCH_ROWS,
    progress: Progress | None = None,
) -> CopyReport:
    """copy_database between the databases two URLs name. CopyRefused, StorageError."""
    if same_url(source_url, destination_url):
        raise CopyRefused("the source and the destination are the same database")
    path = sqlite_path(source_url)
    if isinstance(path, Path) and not path.is_file():
        # Opening would create an empty database and "copy" nothing: a mistyped path is an error.
        raise StorageError(f"the source SQLite database {path} does not exist")
    source = await open_dump(source_url)
    try:
        destination = await open_dump(destination_url)
        try:
            return await copy_database(source, destination, batch_rows=batch_rows, progress=progress)
        finally:
            await destination.close()
    finally:
        await source.close()
