"""The `articles` table as the ranking index (storage/search_index.py) reads it when it catches up."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from storage.search_index import IndexedArticle, indexed_from_row
from storage.sqlite import body

if TYPE_CHECKING:
    from storage.sqlite.database import Database


class TableSource:
    """The `articles` table as the ranking index's catch-up reads it (search_index.ArticleSource)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def ids_after(self, after: int, limit: int) -> list[int]:
        rows = await self._db.fetchall(
            "SELECT id FROM articles WHERE id > ? ORDER BY id LIMIT ?", (after, limit)
        )
        return [int(row[0]) for row in rows]

    async def rows(self, ids: Sequence[int]) -> list[IndexedArticle]:
        found: list[IndexedArticle] = []
        for start in range(0, len(ids), 500):
            chunk = list(ids[start : start + 500])
            placeholders = ",".join("?" * len(chunk))
            rows = await self._db.fetchall(
                f"SELECT id, published_at, title, lead, body, topics FROM articles WHERE id IN ({placeholders})",  # noqa: S608
                chunk,
            )
            # Stemming is CPU work: off the event loop.
            found += await asyncio.to_thread(_indexed_rows, [tuple(row) for row in rows])
        return found

    async def count_up_to(self, highest: int) -> int:
        return int(await self._db.fetchval("SELECT count(*) FROM articles WHERE id <= ?", (highest,)))

    async def deletions(self) -> list[int]:
        rows = await self._db.fetchall("SELECT article_id FROM search_index_deletions ORDER BY article_id")
        return [int(row[0]) for row in rows]

    async def forget_deletions(self, ids: Sequence[int]) -> None:
        async with self._db.transaction() as conn:
            await conn.executemany(
                "DELETE FROM search_index_deletions WHERE article_id = ?",
                [(article_id,) for article_id in ids],
            )


def _indexed_rows(rows: list[tuple[Any, ...]]) -> list[IndexedArticle]:
    # (id, published_at, title, lead, body, topics), the body stored packed (storage/sqlite/body.py).
    return [indexed_from_row((*row[:4], body.unpack(row[4]), row[5])) for row in rows]
