"""The SQLite side of `db copy` (storage/copy.py): counting, reading and writing batches of the copied tables
as neutral rows. Times are ISO 8601 UTC text here (storage/sqlite/times.py) except the articles' published_at
and ingested_at, unix seconds; booleans are 0/1. Articles written here are indexed for search when the copy is
opened as an archive (the ranking index catches up on the table at start: storage/search_index.py)."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot.clock import Clock
from storage.copy import Key, Row, TableSpec, checked
from storage.index_search import unix_seconds
from storage.sqlite import body
from storage.sqlite.database import Database
from storage.sqlite.times import from_db_time, to_db_time

# Times SQLite keeps as unix seconds (integers) rather than ISO text.
UNIX_SECONDS = frozenset({("articles", "published_at"), ("articles", "ingested_at")})
_BODY = ("articles", "body")  # kept packed (storage/sqlite/body.py); neutral rows hold the text


def _from_sqlite(table: TableSpec, row: sqlite3.Row) -> Row:
    values: list[Any] = []
    for (name, kind), value in zip(table.columns, row, strict=True):
        if value is None:
            values.append(None)
        elif (table.name, name) == _BODY:
            values.append(body.unpack(value))
        elif kind == "time":
            unix = (table.name, name) in UNIX_SECONDS
            values.append(datetime.fromtimestamp(value, UTC) if unix else from_db_time(value))
        elif kind == "bool":
            values.append(bool(value))
        elif kind == "blob":
            values.append(bytes(value))
        else:
            values.append(value)
    return tuple(values)


def _to_sqlite(table: TableSpec, row: Row) -> tuple[Any, ...]:
    values: list[Any] = []
    for (name, kind), value in zip(table.columns, row, strict=True):
        if value is None:
            values.append(None)
        elif (table.name, name) == _BODY:
            values.append(body.pack(value.split(body.PARAGRAPH_SEPARATOR)))
        elif kind == "time":
            unix = (table.name, name) in UNIX_SECONDS
            values.append(unix_seconds(value) if unix else to_db_time(value))
        elif kind == "bool":
            values.append(int(value))
        else:
            values.append(value)
    return tuple(values)


def _key_order(table: TableSpec) -> str:
    return ", ".join(table.key)


def _after(table: TableSpec) -> str:
    """Rows after a key: a row-value comparison, which SQLite answers from the primary key index."""
    if len(table.key) == 1:
        return f"{table.key[0]} > ?"
    return f"({_key_order(table)}) > ({', '.join('?' * len(table.key))})"


class SqliteDump:
    """The copied tables of one SQLite database (implements storage.copy.Dump)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    @classmethod
    async def open(cls, path: Path | str, *, clock: Clock) -> SqliteDump:
        from storage.sqlite import SqliteStorage  # its open() turns failures into StorageError

        storage = await SqliteStorage.open(path, clock=clock)
        return cls(storage.db)

    async def identity(self) -> str:
        rows = await self.db.fetchall("PRAGMA database_list")
        files = [str(row[2]) for row in rows if row[1] == "main"]
        if not files or not files[0]:  # an in-memory database is only ever itself
            return f"sqlite-memory:{id(self.db)}"
        return "sqlite:" + _real_path(files[0])

    async def count(self, table: TableSpec) -> int:
        sql = f"SELECT count(*) FROM {checked(table).name}"  # noqa: S608 - whitelisted identifier
        return int(await self.db.fetchval(sql))

    async def row_at(self, table: TableSpec, offset: int) -> Row | None:
        checked(table)
        sql = (
            f"SELECT {', '.join(table.names)} FROM {table.name} ORDER BY {_key_order(table)} LIMIT 1 OFFSET ?"  # noqa: S608
        )
        row = await self.db.fetchone(sql, (offset,))
        return None if row is None else _from_sqlite(table, row)

    async def get(self, table: TableSpec, key: Key) -> Row | None:
        checked(table)
        where = " AND ".join(f"{column} = ?" for column in table.key)
        sql = f"SELECT {', '.join(table.names)} FROM {table.name} WHERE {where}"  # noqa: S608
        row = await self.db.fetchone(sql, key)
        return None if row is None else _from_sqlite(table, row)

    async def read_batch(self, table: TableSpec, after: Key | None, limit: int) -> list[Row]:
        checked(table)
        sql = f"SELECT {', '.join(table.names)} FROM {table.name}"  # noqa: S608
        params: list[Any] = []
        if after is not None:
            sql += f" WHERE {_after(table)}"
            params += after
        sql += f" ORDER BY {_key_order(table)} LIMIT ?"
        rows = await self.db.fetchall(sql, [*params, limit])
        return [_from_sqlite(table, row) for row in rows]

    async def write_batch(self, table: TableSpec, rows: Sequence[Row]) -> int:
        checked(table)
        if not rows:
            return 0
        marks = ", ".join("?" * len(table.columns))
        sql = f"INSERT OR IGNORE INTO {table.name} ({', '.join(table.names)}) VALUES ({marks})"  # noqa: S608
        values = [_to_sqlite(table, row) for row in rows]
        async with self.db.transaction() as conn:
            before = conn.total_changes
            await conn.executemany(sql, values)
            inserted = conn.total_changes - before
        return inserted

    async def finish(self) -> None:
        """Nothing to do: SQLite's next id is max(id) + 1 by itself."""

    async def close(self) -> None:
        await self.db.close()


def _real_path(name: str) -> str:
    return os.path.realpath(name)
