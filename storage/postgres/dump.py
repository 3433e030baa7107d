"""The PostgreSQL side of `db copy` (storage/copy.py): counting, reading and writing batches of the copied
tables as neutral rows (timestamptz and boolean columns map to aware datetimes and bools as they are).
Articles written here get their search vectors from storage/postgres/vocab.py's `article_vectors` and are
counted in `article_vocab` / `article_count` (`count_tokens`) in the batch's transaction, as add_many does;
after the copy, every identity sequence moves past the largest copied id."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bot.archive.morphology import stem_article
from bot.clock import Clock
from storage.copy import ARTICLES, TABLES, Key, Row, TableSpec, article_of, checked
from storage.postgres.articles import ARCHIVE_WRITE_LOCK
from storage.postgres.database import PgDatabase
from storage.postgres.tsquery import topic_tag
from storage.postgres.vocab import ArticleVectors, article_vectors, count_tokens

_ARRAY_TYPES = {
    "int": "bigint[]",
    "text": "text[]",
    "bool": "boolean[]",
    "time": "timestamptz[]",
    "blob": "bytea[]",
}


def _clean(value: Any) -> Any:
    # PostgreSQL text cannot hold NUL (add_many drops it too; the page parsers never keep one).
    return value.replace("\x00", "") if isinstance(value, str) else value


def _key_order(table: TableSpec) -> str:
    return ", ".join(table.key)


def _key_params(table: TableSpec, start: int = 1) -> str:
    return ", ".join(f"${start + index}" for index in range(len(table.key)))


def _insert_sql(table: TableSpec) -> str:
    """INSERT ... SELECT FROM unnest(one array per column) ON CONFLICT DO NOTHING, returning the first key
    column of each inserted row. Articles take their three index columns as text, cast like add_many does."""
    arrays = [f"${index}::{_ARRAY_TYPES[kind]}" for index, (_, kind) in enumerate(table.columns, 1)]
    aliases = [f"c{index}" for index in range(1, len(table.columns) + 1)]
    names = list(table.names)
    selected = [f"r.{alias}" for alias in aliases]
    if table is ARTICLES:
        first = len(arrays) + 1
        arrays += [f"${first}::text[]", f"${first + 1}::text[]", f"${first + 2}::text[]"]
        aliases += ["search", "head", "long_stems"]
        names += ["search", "head", "long_stems"]
        selected += ["r.search::tsvector", "r.head::tsvector", "r.long_stems"]
    return (
        f"INSERT INTO {table.name} ({', '.join(names)}) SELECT {', '.join(selected)}"  # noqa: S608
        f" FROM unnest({', '.join(arrays)}) AS r({', '.join(aliases)})"
        f" ON CONFLICT DO NOTHING RETURNING {table.key[0]}"
    )


class PostgresDump:
    """The copied tables of one PostgreSQL database (implements storage.copy.Dump)."""

    def __init__(self, db: PgDatabase) -> None:
        self.db = db

    @classmethod
    async def open(cls, url: str, *, clock: Clock, schema: str | None = None) -> PostgresDump:
        from storage.postgres import PostgresStorage  # its open() turns failures into StorageError

        storage = await PostgresStorage.open(url, clock=clock, pool_size=2, schema=schema)
        return cls(storage.db)

    async def identity(self) -> str:
        # The server (by its start time and port), the database and the schema the tables are in.
        row = await self.db.fetchrow(
            "SELECT pg_postmaster_start_time(), inet_server_port(), current_database(), current_schema()"
        )
        assert row is not None
        return "postgresql:" + "/".join(str(value) for value in row)

    async def count(self, table: TableSpec) -> int:
        sql = f"SELECT count(*) FROM {checked(table).name}"  # noqa: S608 - whitelisted identifier
        return int(await self.db.fetchval(sql))

    async def row_at(self, table: TableSpec, offset: int) -> Row | None:
        checked(table)
        sql = f"SELECT {', '.join(table.names)} FROM {table.name} ORDER BY {_key_order(table)} LIMIT 1 OFFSET $1"  # noqa: S608
        row = await self.db.fetchrow(sql, offset)
        return None if row is None else tuple(row)

    async def get(self, table: TableSpec, key: Key) -> Row | None:
        checked(table)
        where = " AND ".join(f"{column} = ${index}" for index, column in enumerate(table.key, 1))
        sql = f"SELECT {', '.join(table.names)} FROM {table.name} WHERE {where}"  # noqa: S608
        row = await self.db.fetchrow(sql, *key)
        return None if row is None else tuple(row)

    async def read_batch(self, table: TableSpec, after: Key | None, limit: int) -> list[Row]:
        checked(table)
        sql = f"SELECT {', '.join(table.names)} FROM {table.name}"  # noqa: S608
        params: list[Any] = []
        if after is not None:
            # A row comparison: the primary key index answers it (in the database's collation, which is
            # the order key_at counts in too).
            sql += f" WHERE ({_key_order(table)}) > ({_key_params(table)})"
            params += after
        sql += f" ORDER BY {_key_order(table)} LIMIT ${len(params) + 1}"
        rows = await self.db.fetch(sql, *params, limit)
        return [tuple(row) for row in rows]

    async def write_batch(self, table: TableSpec, rows: Sequence[Row]) -> int:
        checked(table)
        if not rows:
            return 0
        columns: list[list[Any]] = [
            [_clean(row[index]) for row in rows] for index in range(len(table.columns))
        ]
        vectors: list[ArticleVectors] = []
        if table is ARTICLES:
            # The same vectors add_many builds: the article's stems and its topic tags.
            for row in rows:
                article = article_of(row)
                tags = [topic_tag(topic) for topic in sorted(article.topics)]
                vectors.append(article_vectors(stem_article(article), tags))
            columns += [
                [v.search for v in vectors],
                [v.head for v in vectors],
                [v.long_stems for v in vectors],
            ]
        async with self.db.transaction() as conn:
            if table is ARTICLES:
                # add_many's lock: article_vocab and article_count are shared counters.
                await conn.execute("SELECT pg_advisory_xact_lock($1)", ARCHIVE_WRITE_LOCK)
            inserted = await conn.fetch(_insert_sql(table), *columns)
            if table is ARTICLES and inserted:
                new = {int(row[0]) for row in inserted}
                await count_tokens(conn, [v for row, v in zip(rows, vectors, strict=True) if row[0] in new])
        return len(inserted)

    async def finish(self) -> None:
        """Move each identity sequence past the largest id (the next generated id is max + 1)."""
        for table in TABLES:
            if table.identity:
                await self.db.execute(
                    f"SELECT setval(pg_get_serial_sequence($1, 'id'), coalesce(max(id), 0) + 1, false)"  # noqa: S608
                    f" FROM {table.name}",
                    table.name,
                )

    async def close(self) -> None:
        await self.db.close()
