"""The `articles` table as an instance's ranking index (storage/search_index.py) reads it when it catches up.

Why ids are a safe cursor here too: add_many inserts under ARCHIVE_WRITE_LOCK, a transaction-level advisory
lock, so the ids one batch takes from the sequence are all above those of every batch committed before it, and
no batch with lower ids can commit after a reader has seen higher ones (`govdigest db copy` writes with the
same lock). Deletions come from a log every instance reads up to where it has got (migration 7).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from storage.search_index import IndexedArticle, indexed_from_row

if TYPE_CHECKING:
    from storage.postgres.database import PgDatabase

_ROWS = (
    "SELECT id, extract(epoch FROM published_at)::bigint, title, lead, body, topics FROM articles"
    " WHERE id = ANY($1::bigint[])"
)


class PgTableSource:
    """The `articles` table as the ranking index's catch-up reads it (search_index.ArticleSource)."""

    def __init__(self, db: PgDatabase) -> None:
        self._db = db
        self.deletions_seen = 0  # the last `seq` of search_index_deletions this process's index has applied
        self._deletions_read = 0

    async def ids_after(self, after: int, limit: int) -> list[int]:
        rows = await self._db.fetch(
            "SELECT id FROM articles WHERE id > $1 ORDER BY id LIMIT $2", after, limit
        )
        return [int(row[0]) for row in rows]

    async def rows(self, ids: Sequence[int]) -> list[IndexedArticle]:
        rows = await self._db.fetch(_ROWS, list(ids))
        # Stemming is CPU work: off the event loop.
        return await asyncio.to_thread(_indexed_rows, [tuple(row) for row in rows])

    async def count_up_to(self, highest: int) -> int:
        return int(await self._db.fetchval("SELECT count(*) FROM articles WHERE id <= $1", highest))

    async def deletions(self) -> list[int]:
        rows = await self._db.fetch(
            "SELECT seq, article_id FROM search_index_deletions WHERE seq > $1 ORDER BY seq",
            self.deletions_seen,
        )
        if rows:
            self._deletions_read = int(rows[-1][0])
        return [int(row[1]) for row in rows]

    async def forget_deletions(self, ids: Sequence[int]) -> None:
        # The log stays for the other instances: this one only moves its own read position.
        self.deletions_seen = max(self.deletions_seen, self._deletions_read)


def _indexed_rows(rows: list[tuple[Any, ...]]) -> list[IndexedArticle]:
    return [indexed_from_row(row) for row in rows]
