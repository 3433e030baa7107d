"""Search, count and upkeep of an archive through its ranking index (storage/search_index.py): one use case for
both backends. A backend gives two things of its own: how far its table has got (the highest article id, and
whether deletions wait for the index) and how to fetch stored articles by id; the SQL stays in the backend.

The SQLite archive keeps its index beside the file; each PostgreSQL instance keeps its own (in a directory of
its own, or in memory), caught up from the shared table the same way. Either way a search first indexes what
the table holds beyond the index (another process's batch, a crash between the two commits), unless another
process of this machine is indexing those very articles right now.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime

from bot.archive.models import COUNT_CAP, SearchHit, StoredArticle
from bot.archive.query import SearchQuery, date_bounds, search_hit
from bot.clock import Clock
from storage.search_index import IndexBusyError, SearchIndex, compile_query

log = logging.getLogger(__name__)

# (highest article id in the table, whether deletions wait for the index)
Freshness = Callable[[], Awaitable[tuple[int, bool]]]
FetchArticles = Callable[[Sequence[int]], Awaitable[list[StoredArticle]]]


def unix_seconds(moment: datetime) -> int:
    return math.floor(moment.timestamp())


class IndexedSearch:
    """An archive's searches through its ranking index."""

    def __init__(
        self, index: SearchIndex, clock: Clock, freshness: Freshness, fetch_articles: FetchArticles
    ) -> None:
        self.index = index
        self._clock = clock
        self._freshness = freshness
        self._fetch_articles = fetch_articles

    async def prepare(self) -> int:
        """Check the index against the table and index what it lacks (at start); returns how many articles
        were indexed. Logs when that is a long job (a first start on an existing archive)."""
        started = time.monotonic()
        added = await self.index.catch_up()
        if not await self.index.check():
            return await asyncio.to_thread(self.index.document_count)
        if added:
            log.info("search index: %d articles indexed in %.1f s", added, time.monotonic() - started)
        return added

    async def rebuild(self) -> int:
        """Index every article again from the table; returns how many."""
        return await self.index.catch_up(rebuild=True)

    async def fresh(self) -> None:
        """Index what another repository, process or crash left only in the table, unless another process is
        indexing right now (then it is indexing those very articles, and the search takes what is there)."""
        highest, deleted = await self._freshness()
        if highest != self.index.known_max or deleted:
            with contextlib.suppress(IndexBusyError):
                await self.index.catch_up(wait_seconds=0.0)

    @staticmethod
    def time_range(
        query: SearchQuery, since: datetime | None, until: datetime | None
    ) -> tuple[int | None, int | None]:
        """Unix seconds [low, high) of the query's days and of since (inclusive) / until (exclusive)."""
        query_since, query_until = date_bounds(query)
        lows = [unix_seconds(moment) for moment in (since, query_since) if moment is not None]
        highs = [unix_seconds(moment) for moment in (until, query_until) if moment is not None]
        return (max(lows) if lows else None), (min(highs) if highs else None)

    async def search(
        self,
        query: SearchQuery,
        *,
        limit: int,
        offset: int,
        since: datetime | None,
        until: datetime | None,
        snippets: bool,
    ) -> list[SearchHit]:
        """The best `limit` hits after `offset`, ranked over every match (storage/search_index.py)."""
        low, high = self.time_range(query, since, until)
        if limit <= 0 or offset < 0 or (low is not None and high is not None and low >= high):
            return []
        compiled = compile_query(query, low, high)
        if compiled is None:
            return []
        await self.fresh()
        now = unix_seconds(self._clock())
        # Scores: higher is better there; ranks here are lower-is-better, like bm25().
        ranked = [(i, -score) for i, score in await self.index.search(compiled, offset + limit, now)]
        ranked = ranked[offset:]
        if not ranked:
            return []
        by_id = {article.id: article for article in await self._fetch_articles([i for i, _ in ranked])}
        return [
            search_hit(by_id[article_id], query, rank, snippet=snippets)
            for article_id, rank in ranked
            if article_id in by_id
        ]

    async def count(
        self,
        query: SearchQuery,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        cap: int = COUNT_CAP,
    ) -> int:
        """Matches of `query`, counted up to cap + 1: a result above `cap` means "more than cap"."""
        low, high = self.time_range(query, since, until)
        compiled = compile_query(query, low, high)
        if compiled is None or (low is not None and high is not None and low >= high):
            return 0
        await self.fresh()
        return min(await self.index.count(compiled), cap + 1)
