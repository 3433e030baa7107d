"""One aiosqlite connection, owned by a Database object, with a transaction lock and migrations."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiosqlite

from bot.clock import Clock, system_clock
from storage.search_index import IndexBusyError, SearchIndex
from storage.sqlite.index_source import TableSource
from storage.sqlite.migrations import MIGRATIONS, Migration

log = logging.getLogger(__name__)

Params = Sequence[Any] | dict[str, Any]


PAGE_SIZE = 16_384


class Database:
    """The single connection of the process. Every statement goes through the lock, so a multi-statement
    transaction of one coroutine never interleaves with statements of another."""

    def __init__(self, conn: aiosqlite.Connection, path: Path | str, clock: Clock) -> None:
        self._conn = conn
        self.path = path
        # What the repositories stamp rows with and compare against ("due now"): injected, never the wall
        # clock read inside a query, so a test or a replay decides what "now" is.
        self.clock = clock
        # Set when jobs are queued for sending outside the digest service's own cycle (a broadcast, a chat's
        # parked broadcasts back in the queue): the service waits on it instead of its full sleep. One per
        # connection, so every repository of this database shares it.
        self.jobs_queued = asyncio.Event()
        self._lock = asyncio.Lock()
        self._closed = False
        # The archive's ranking index beside the file (in memory for an in-memory database): the connection's
        # companion, so every ArticleRepository of this database shares it.
        self.search_index = SearchIndex.open(path, TableSource(self))

    @classmethod
    async def connect(
        cls, path: Path | str, *, clock: Clock = system_clock, migrate: bool = True
    ) -> Database:
        if isinstance(path, Path):
            path.parent.mkdir(parents=True, exist_ok=True)
        conn = await aiosqlite.connect(str(path), isolation_level=None)
        conn.row_factory = sqlite3.Row
        db = cls(conn, path, clock)
        try:
            for pragma in (
                # Before WAL: only a new (empty) database takes it. An article row with its compressed body is
                # ~2.4 KB, and 4 KB pages hold one such row each (37% of the table empty at 1,000,000
                # articles); 16 KB pages hold six. BENCHMARKS.md, database size.
                f"PRAGMA page_size = {PAGE_SIZE}",
                "PRAGMA journal_mode = WAL",
                "PRAGMA synchronous = NORMAL",
                "PRAGMA foreign_keys = ON",
                "PRAGMA busy_timeout = 5000",
                "PRAGMA temp_store = MEMORY",
                "PRAGMA cache_size = -65536",
            ):
                await conn.execute(pragma)
            if migrate:
                await db.migrate()
        except BaseException:
            await conn.close()
            raise
        return db

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            await self.search_index.flush()
        except (IndexBusyError, ValueError, sqlite3.Error) as error:  # the next start catches up
            log.warning("search index not brought up to date at close: %s", error)
        async with self._lock:
            with contextlib.suppress(sqlite3.Error):  # best effort on shutdown
                await self._conn.execute("PRAGMA optimize")
            await self._conn.close()

    async def __aenter__(self) -> Database:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # --- migrations -------------------------------------------------------------------------------------

    async def user_version(self) -> int:
        async with self._lock, self._conn.execute("PRAGMA user_version") as cursor:
            row = await cursor.fetchone()
        return int(row[0]) if row else 0

    async def migrate(self, migrations: Iterable[Migration] = MIGRATIONS) -> list[int]:
        """Apply every migration newer than `PRAGMA user_version`, each atomically. Returns versions applied."""
        applied: list[int] = []
        current = await self.user_version()
        for migration in sorted(migrations, key=lambda m: m.version):
            if migration.version <= current:
                continue
            async with self._lock:
                # One script: BEGIN … user_version … COMMIT, so a failed migration leaves nothing half-done.
                script = f"BEGIN IMMEDIATE;\n{migration.sql}\nPRAGMA user_version = {int(migration.version)};\nCOMMIT;"
                try:
                    await self._conn.executescript(script)
                except sqlite3.Error:
                    if self._conn.in_transaction:
                        await self._conn.execute("ROLLBACK")
                    raise
            log.info("database migrated to version %d (%s)", migration.version, migration.name)
            applied.append(migration.version)
            current = migration.version
        return applied

    # --- statements -------------------------------------------------------------------------------------

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """BEGIN IMMEDIATE … COMMIT under the lock; ROLLBACK on any exception."""
        async with self._lock:
            await self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                await self._conn.execute("ROLLBACK")
                raise
            else:
                await self._conn.execute("COMMIT")

    async def execute(self, sql: str, params: Params = ()) -> int:
        """One statement in autocommit mode; returns lastrowid (or rowcount for UPDATE/DELETE users)."""
        async with self._lock:
            cursor = await self._conn.execute(sql, params)
            try:
                return cursor.lastrowid if cursor.lastrowid else cursor.rowcount
            finally:
                await cursor.close()

    async def execute_rowcount(self, sql: str, params: Params = ()) -> int:
        async with self._lock:
            cursor = await self._conn.execute(sql, params)
            try:
                return cursor.rowcount
            finally:
                await cursor.close()

    async def fetchall(self, sql: str, params: Params = ()) -> list[sqlite3.Row]:
        async with self._lock, self._conn.execute(sql, params) as cursor:
            return list(await cursor.fetchall())

    async def fetchone(self, sql: str, params: Params = ()) -> sqlite3.Row | None:
        async with self._lock, self._conn.execute(sql, params) as cursor:
            row: sqlite3.Row | None = await cursor.fetchone()
            return row

    async def ping(self) -> None:
        """Raise sqlite3.Error unless the database file can be read (health checks)."""
        await self.fetchval("SELECT count(*) FROM sqlite_master")

    async def fetchval(self, sql: str, params: Params = ()) -> Any:
        row = await self.fetchone(sql, params)
        return None if row is None else row[0]
