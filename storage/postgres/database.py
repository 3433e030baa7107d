"""The PostgreSQL backend's connection pool (asyncpg), its transactions and its migrations.

Migrations: modules `mNNNN_<name>.py` in storage/postgres/migrations, each one transaction, recorded in the
table `schema_version`. They run under a session-level advisory lock, so two instances starting together do
not both migrate: the second waits, then finds nothing left to do.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from bot.clock import Clock, system_clock
from storage.errors import StorageUnavailable
from storage.postgres.index_source import PgTableSource
from storage.postgres.migrations import MIGRATIONS, Migration
from storage.search_index import SearchIndex

log = logging.getLogger(__name__)

# Errors that mean the server cannot be reached or the connection is gone (not a bad statement): the network's,
# the driver's (a closed connection), the server's class 08 (connection exception) and 57 (operator
# intervention: shutting down, starting up).
UNAVAILABLE = (
    OSError,
    TimeoutError,
    asyncpg.InterfaceError,
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,
)

# pg_advisory_lock key of the migration step (any fixed 64-bit number; this one spells "govdgmig").
MIGRATION_LOCK_KEY = 0x676F7664676D6967
DEFAULT_POOL_SIZE = 10
# What a connection taken from the pool is (a proxy that goes back to the pool); generic only to the stubs.
if TYPE_CHECKING:
    Connection: TypeAlias = PoolConnectionProxy[asyncpg.Record]
else:
    Connection = PoolConnectionProxy


class PgDatabase:
    """A pool of connections to one PostgreSQL database (optionally one schema of it)."""

    def __init__(
        self, pool: asyncpg.Pool, *, clock: Clock, schema: str | None, search_index_dir: Path | None = None
    ) -> None:
        self.pool = pool
        # What the repositories stamp rows with and compare against: injected, never now() inside a query,
        # so a test or a replay decides what "now" is (as on SQLite).
        self.clock = clock
        self.schema = schema
        # Set when this process queued jobs outside the digest cycle (a broadcast): the digest service wakes at
        # once. Jobs queued by another instance are found at the service's next regular look.
        self.jobs_queued = asyncio.Event()
        self._closed = False
        self._down_since: float | None = None  # monotonic time the current outage began (None: none)
        # This instance's ranking index of the archive (storage/search_index.py): in `search_index_dir`, or in
        # memory (built from the table at start) without one. Every instance has its own.
        self.search_index = SearchIndex.at(search_index_dir, PgTableSource(self))

    @classmethod
    async def connect(
        cls,
        url: str,
        *,
        clock: Clock = system_clock,
        pool_size: int = DEFAULT_POOL_SIZE,
        migrate: bool = True,
        schema: str | None = None,
        connect_timeout: float = 10.0,
        search_index_dir: Path | None = None,
    ) -> PgDatabase:
        """Open a pool of up to `pool_size` connections (and migrate unless `migrate=False`). `schema` puts
        every table in that schema (created when missing): several test databases in one server."""
        server_settings = {"application_name": "govdigest", "timezone": "UTC"}
        if schema is not None:
            server_settings["search_path"] = schema
            await _ensure_schema(url, schema, connect_timeout)
        pool = await asyncpg.create_pool(
            url,
            # No connection floor: asyncpg would log a traceback for every failed attempt to restore it
            # during an outage (the outage is logged here, once).
            min_size=0,
            max_size=max(pool_size, 1),
            server_settings=server_settings,
            timeout=connect_timeout,
            # Statements here are few and fixed; caching their plans per connection is what pays.
            statement_cache_size=256,
        )
        db = cls(pool, clock=clock, schema=schema, search_index_dir=search_index_dir)
        try:
            if migrate:
                await db.migrate()
        except BaseException:
            await pool.close()
            raise
        return db

    async def close(self) -> None:
        if self._closed:
            return
        try:
            await self.search_index.flush()
        except Exception as error:  # the server is gone: the next start's catch-up indexes what was stored
            log.warning("search index not flushed at close: %s", _first_line(error))
        self._closed = True
        try:
            await asyncio.wait_for(self.pool.close(), 10)
        except TimeoutError:  # a connection stuck in a query: do not hang the shutdown
            self.pool.terminate()

    # --- migrations -------------------------------------------------------------------------------------

    async def schema_version(self) -> int:
        async with self.pool.acquire() as conn:
            return await _current_version(conn)

    async def migrate(self, migrations: Iterable[Migration] = MIGRATIONS) -> list[int]:
        """Apply every migration newer than the recorded version, each in its own transaction, under the
        migration advisory lock. Returns the versions applied (by this process)."""
        applied: list[int] = []
        async with self.pool.acquire() as conn:
            await conn.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK_KEY)
            try:
                await conn.execute(
                    "CREATE TABLE IF NOT EXISTS schema_version ("
                    " version integer PRIMARY KEY, name text NOT NULL,"
                    " applied_at timestamptz NOT NULL DEFAULT now())"
                )
                current = await _current_version(conn)
                for migration in sorted(migrations, key=lambda m: m.version):
                    if migration.version <= current:
                        continue
                    async with conn.transaction():
                        await conn.execute(migration.sql)
                        await conn.execute(
                            "INSERT INTO schema_version (version, name) VALUES ($1, $2)",
                            migration.version,
                            migration.name,
                        )
                    log.info("database migrated to version %d (%s)", migration.version, migration.name)
                    applied.append(migration.version)
                    current = migration.version
            finally:
                await conn.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK_KEY)
        return applied

    # --- statements -------------------------------------------------------------------------------------
    # Every statement goes through `_guard`: an error that means "the server is not there" (refused, the
    # connection dropped, the server shutting down) becomes StorageUnavailable, and the outage is logged once
    # — when it starts and when the server answers again — however many statements fail in between.

    @asynccontextmanager
    async def _guard(self) -> AsyncIterator[None]:
        try:
            yield
        except UNAVAILABLE as error:
            self._outage_started(error)
            raise StorageUnavailable(
                f"the PostgreSQL database does not answer: {_first_line(error)}"
            ) from error
        self._outage_ended()

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[Connection]:
        """One connection from the pool, outside a transaction (statements autocommit)."""
        async with self._guard(), self.pool.acquire() as conn:
            yield conn

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Connection]:
        """One connection from the pool inside BEGIN … COMMIT (ROLLBACK on any exception)."""
        async with self._guard(), self.pool.acquire() as conn, conn.transaction():
            yield conn

    async def execute(self, sql: str, *args: Any) -> str:
        """One statement; returns its status ("UPDATE 1"); see `affected`."""
        async with self._guard():
            return str(await self.pool.execute(sql, *args))

    async def fetch(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        async with self._guard():
            return list(await self.pool.fetch(sql, *args))

    async def fetchrow(self, sql: str, *args: Any) -> asyncpg.Record | None:
        async with self._guard():
            return await self.pool.fetchrow(sql, *args)

    async def fetchval(self, sql: str, *args: Any) -> Any:
        async with self._guard():
            return await self.pool.fetchval(sql, *args)

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        async with self._guard():
            await self.pool.executemany(sql, rows)

    async def ping(self) -> None:
        """Raise StorageUnavailable unless the server answers a trivial query (health checks)."""
        await self.fetchval("SELECT 1")

    def _outage_started(self, error: BaseException) -> None:
        if self._down_since is None:
            self._down_since = time.monotonic()
            log.warning(
                "PostgreSQL database unavailable (%s): retrying; nothing is lost meanwhile",
                _first_line(error),
            )

    def _outage_ended(self) -> None:
        if self._down_since is not None:
            log.warning(
                "PostgreSQL database available again after %.0f s", time.monotonic() - self._down_since
            )
            self._down_since = None


def affected(status: str) -> int:
    """The row count of a command status ("UPDATE 3" -> 3, "INSERT 0 1" -> 1)."""
    tail = status.rsplit(" ", 1)[-1]
    return int(tail) if tail.isdigit() else 0


async def _current_version(conn: Connection) -> int:
    exists = await conn.fetchval("SELECT to_regclass('schema_version') IS NOT NULL")
    if not exists:
        return 0
    return int(await conn.fetchval("SELECT coalesce(max(version), 0) FROM schema_version"))


async def _ensure_schema(url: str, schema: str, connect_timeout: float) -> None:
    conn = await asyncpg.connect(url, timeout=connect_timeout)
    try:
        # An identifier cannot be a bound parameter; quote_ident on the server makes any name safe.
        quoted = await conn.fetchval("SELECT quote_ident($1)", schema)
        async with conn.transaction():
            # IF NOT EXISTS alone races (two instances starting together): the migration lock orders them.
            await conn.execute("SELECT pg_advisory_xact_lock($1)", MIGRATION_LOCK_KEY)
            await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {quoted}")
    finally:
        await conn.close()


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return (text.splitlines()[0] if text else type(error).__name__)[:200]
