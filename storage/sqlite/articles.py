"""The article archive: storing articles once, full-text search in Russian, and the reads the bot needs.

Two indexes of the same stems (bot.archive.morphology), written in the same add_many:
- the ranking index (storage/sqlite/search_index.py, tantivy, beside the database file): `search` and `count`.
  It ranks every match (BM25 over the whole text, the title and the lead boosted, with a bounded recency
  bonus), exactly, in a few milliseconds at a million articles; the count is exact. It is derived from the
  `articles` table: caught up after every batch, before a search, and checked at start (its module doc).
- FTS5 (`articles_fts`, contentless, rowid = the recency key `published_at * 2**31 + id`): the vocabulary
  behind "did you mean" (storage/sqlite/vocab.py) and the reference ranking, FTS5's own bm25() over every
  match (`search(..., exhaustive=True)`, which the benchmarks compare with).

Why this file is long: it is the one repository behind ArticleStore (writing both indexes, both rankings, the
reads); the SQL-free parts (query compilation, stemming, snippets, tantivy) live in storage/sqlite/fts.py,
storage/sqlite/search_index.py and bot/archive/.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from bot.archive.models import COUNT_CAP, AddResult, ArchiveStats, Article, SearchHit, StoredArticle
from bot.archive.morphology import StemmedArticle, stem_article
from bot.archive.query import SearchQuery, date_bounds, search_hit
from bot.archive.urls import normalize_url
from storage.sqlite.database import Database
from storage.sqlite.fts import build_match, topic_tag
from storage.sqlite.search_index import (
    IndexBusyError,
    IndexedArticle,
    compile_query,
)
from storage.sqlite.vocab import document_frequencies

log = logging.getLogger(__name__)

RECENCY_SHIFT = 2**31  # article ids stay below this, so (published_at, id) packs into one signed 64-bit rowid
_BM25 = "bm25(articles_fts, 10.0, 3.0, 1.0, 0.0)"
_MIN_ROWID = -(2**63)
_MAX_ROWID = 2**63 - 1

_ARTICLE_COLUMNS = (
    "id, title, lead, body, published_at, views, source, url, content_hash, topics, is_gov_commission,"
    " ingested_at"
)
# Constant fragments only (no user data): every value below is a bound parameter.
_SELECT_ARTICLES = f"SELECT {_ARTICLE_COLUMNS} FROM articles"  # noqa: S608
_SEARCH_ALL = (
    f"SELECT rowid, {_BM25} AS score FROM articles_fts WHERE articles_fts MATCH ?"  # noqa: S608
    " AND rowid BETWEEN ? AND ? ORDER BY score, rowid DESC LIMIT ?"
)
_INSERT_ARTICLE = (
    "INSERT OR IGNORE INTO articles (title, lead, body, published_at, views, source, url, url_normalized,"
    " content_hash, topics, is_gov_commission, ingested_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_INSERT_FTS = "INSERT INTO articles_fts (rowid, title, lead, body, tags) VALUES (?, ?, ?, ?, ?)"
_INSERT_TOPIC = "INSERT OR IGNORE INTO article_topics (topic, article_id) VALUES (?, ?)"


def unix_seconds(moment: datetime) -> int:
    return math.floor(moment.timestamp())


_KEY_SECONDS_LIMIT = 2**32 - 1  # |seconds| * 2**31 + id stays inside a signed 64-bit rowid (years 1834–2106)


def _key_seconds(seconds: int, *, margin: int = 0) -> int:
    """Seconds clamped to what a recency key can hold: dates outside 1834–2106 sort at the ends. Articles are
    clamped one second inside the range filters are clamped to, so an open-ended filter still holds them."""
    limit = _KEY_SECONDS_LIMIT - margin
    return max(-limit, min(seconds, limit))


def recency_key(published_at: int, article_id: int) -> int:
    """The FTS rowid of an article: newest first in rowid order, unique because the id is in the low bits."""
    if not 0 < article_id < RECENCY_SHIFT:
        raise ValueError(f"article id {article_id} does not fit a recency key")
    return _key_seconds(published_at, margin=1) * RECENCY_SHIFT + article_id


def article_id_of(key: int) -> int:
    return key & (RECENCY_SHIFT - 1)


def article_row(article: Article, ingested_at: int) -> tuple[Any, ...]:
    """The `articles` row of an article, in _INSERT_ARTICLE's column order (also used by bench builders)."""
    return (
        article.title,
        article.lead,
        "\n\n".join(article.body),
        unix_seconds(article.published_at),
        article.views,
        article.source,
        article.url,
        normalize_url(article.url) if article.url else None,
        article.content_hash,
        " ".join(sorted(article.topics)),
        int(article.is_gov_commission),
        ingested_at,
    )


def fts_row(article_id: int, article: Article, stemmed: StemmedArticle) -> tuple[Any, ...]:
    """The `articles_fts` row of a stored article (rowid = recency key; tags = topic filter tokens)."""
    tags = " ".join(topic_tag(topic) for topic in sorted(article.topics))
    key = recency_key(unix_seconds(article.published_at), article_id)
    return (key, stemmed.title, stemmed.lead, stemmed.body, tags)


def _datetime(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def _stored(row: Any) -> StoredArticle:
    body = row["body"]
    return StoredArticle(
        id=row["id"],
        title=row["title"],
        lead=row["lead"],
        body=tuple(body.split("\n\n")) if body else (),
        published_at=_datetime(row["published_at"]),
        views=row["views"],
        source=row["source"],
        url=row["url"],
        topics=frozenset(row["topics"].split()),
        is_gov_commission=bool(row["is_gov_commission"]),
        content_hash=row["content_hash"],
        ingested_at=_datetime(row["ingested_at"]),
    )


class ArticleRepository:
    """Articles in SQLite with a stemmed FTS5 index. All SQL about articles lives here."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._index = db.search_index

    async def prepare_search(self) -> int:
        """Check the ranking index against the table and index what it lacks (at start); returns how many
        articles were indexed. Logs when that is a long job (a first start on an existing archive)."""
        started = time.monotonic()
        added = await self._index.catch_up()
        if not await self._index.check():
            return await asyncio.to_thread(self._index.document_count)
        if added:
            log.info("search index: %d articles indexed in %.1f s", added, time.monotonic() - started)
        return added

    async def rebuild_search_index(self) -> int:
        """Index every article again from the table; returns how many."""
        return await self._index.catch_up(rebuild=True)

    async def _fresh_index(self) -> None:
        """Index what another repository, process or crash left only in the table, unless another process is
        indexing right now (then it is indexing those very articles, and the search takes what is there)."""
        row = await self._db.fetchone(
            "SELECT (SELECT coalesce(max(id), 0) FROM articles), EXISTS (SELECT 1 FROM search_index_deletions)"
        )
        highest, deleted = (int(row[0]), bool(row[1])) if row else (0, False)
        if highest != self._index.known_max or deleted:
            with contextlib.suppress(IndexBusyError):
                await self._index.catch_up(wait_seconds=0.0)

    # --- writing --------------------------------------------------------------------------------------------

    async def add_many(
        self, articles: Sequence[Article], stemmed: Sequence[StemmedArticle] | None = None
    ) -> AddResult:
        """Store the articles not stored yet (same normalized URL, or same content hash, is a duplicate —
        also within the batch) and index them, in one transaction."""
        if not articles:
            return AddResult()
        if stemmed is None:
            stemmed = [stem_article(article) for article in articles]
        if len(stemmed) != len(articles):
            raise ValueError("stemmed must match articles one to one")
        now = int(self._db.clock().timestamp())
        rows = [article_row(article, now) for article in articles]
        async with self._db.transaction() as conn:
            async with conn.execute("SELECT coalesce(max(id), 0) FROM articles") as cursor:
                last = await cursor.fetchone()
            last_id = int(last[0]) if last else 0
            await conn.executemany(_INSERT_ARTICLE, rows)
            async with conn.execute(
                "SELECT id, content_hash, url_normalized FROM articles WHERE id > ?", (last_id,)
            ) as cursor:
                inserted = {(r[1], r[2]): int(r[0]) for r in await cursor.fetchall()}
            new_ids: list[int] = []
            new_rows: list[tuple[int, Article, StemmedArticle]] = []
            fts_rows: list[tuple[Any, ...]] = []
            topic_rows: list[tuple[str, int]] = []
            for article, stems, row in zip(articles, stemmed, rows, strict=True):
                article_id = inserted.pop((article.content_hash, row[7]), None)
                if article_id is None:
                    continue
                new_ids.append(article_id)
                new_rows.append((article_id, article, stems))
                fts_rows.append(fts_row(article_id, article, stems))
                topic_rows += [(topic, article_id) for topic in article.topics]
            await conn.executemany(_INSERT_FTS, fts_rows)
            await conn.executemany(_INSERT_TOPIC, topic_rows)
        # The rows are committed: now the ranking index, at once or with the next batches (a kill before it
        # loses nothing: the next catch-up indexes whatever the table has above the index's highest id).
        given = {
            article_id: IndexedArticle(article_id, unix_seconds(article.published_at), stems, article.topics)
            for article_id, article, stems in new_rows
        }
        await self._index.add(given)
        return AddResult(new_ids=new_ids, duplicates=len(articles) - len(new_ids))

    # --- search ---------------------------------------------------------------------------------------------

    def _time_range(
        self, query: SearchQuery, since: datetime | None, until: datetime | None
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
        limit: int = 5,
        offset: int = 0,
        since: datetime | None = None,
        until: datetime | None = None,
        exhaustive: bool = False,
        snippets: bool = True,
    ) -> list[SearchHit]:
        """The best `limit` hits after `offset`, ranked over every match by the ranking index (module doc);
        `exhaustive=True` ranks with FTS5's bm25() instead. `snippets=False` (exports) leaves them empty."""
        low, high = self._time_range(query, since, until)
        if limit <= 0 or offset < 0 or (low is not None and high is not None and low >= high):
            return []
        if exhaustive:
            ranked = await self._rank_fts(query, low, high, offset + limit)
        else:
            compiled = compile_query(query, low, high)
            if compiled is None:
                return []
            await self._fresh_index()
            now = int(self._db.clock().timestamp())
            # Scores: higher is better there; ranks here are lower-is-better, like bm25().
            ranked = [(i, -score) for i, score in await self._index.search(compiled, offset + limit, now)]
        ranked = ranked[offset:]
        if not ranked:
            return []
        by_id = {article.id: article for article in await self.get_many([i for i, _ in ranked])}
        return [
            search_hit(by_id[article_id], query, rank, snippet=snippets)
            for article_id, rank in ranked
            if article_id in by_id
        ]

    async def _rank_fts(
        self, query: SearchQuery, low: int | None, high: int | None, wanted: int
    ) -> list[tuple[int, float]]:
        """FTS5's bm25() over every match: (article id, bm25), best first, newer first among equals."""
        match = build_match(query)
        if match is None:
            return []
        low_key = _MIN_ROWID if low is None else _key_seconds(low) * RECENCY_SHIFT
        high_key = _MAX_ROWID if high is None else _key_seconds(high) * RECENCY_SHIFT - 1
        rows = await self._db.fetchall(_SEARCH_ALL, (match, low_key, high_key, wanted))
        return [(article_id_of(int(r[0])), float(r[1])) for r in rows]

    async def count(
        self,
        query: SearchQuery,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        cap: int = COUNT_CAP,
    ) -> int:
        """Matches of `query`, counted up to cap + 1: a result above `cap` means "more than cap"."""
        low, high = self._time_range(query, since, until)
        compiled = compile_query(query, low, high)
        if compiled is None or (low is not None and high is not None and low >= high):
            return 0
        await self._fresh_index()
        return min(await self._index.count(compiled), cap + 1)

    # --- reading --------------------------------------------------------------------------------------------

    async def get(self, article_id: int) -> StoredArticle | None:
        row = await self._db.fetchone(_SELECT_ARTICLES + " WHERE id = ?", (article_id,))
        return _stored(row) if row else None

    async def get_many(self, ids: Iterable[int]) -> list[StoredArticle]:
        """The stored articles among `ids`, in the order of `ids` (unknown ids skipped)."""
        wanted = list(dict.fromkeys(ids))
        found: dict[int, StoredArticle] = {}
        for start in range(0, len(wanted), 500):  # stay far below SQLite's bound-parameter limit
            chunk = wanted[start : start + 500]
            placeholders = ",".join("?" * len(chunk))
            rows = await self._db.fetchall(_SELECT_ARTICLES + f" WHERE id IN ({placeholders})", chunk)
            found.update((row["id"], _stored(row)) for row in rows)
        return [found[i] for i in wanted if i in found]

    async def latest(self, limit: int = 5, offset: int = 0) -> list[StoredArticle]:
        rows = await self._db.fetchall(
            _SELECT_ARTICLES + " ORDER BY published_at DESC, id DESC LIMIT ? OFFSET ?",
            (max(limit, 0), max(offset, 0)),
        )
        return [_stored(row) for row in rows]

    async def published_between(
        self, since: datetime, until: datetime, *, gov_only: bool = False
    ) -> list[StoredArticle]:
        """Articles with since <= published_at < until, oldest first."""
        sql = _SELECT_ARTICLES + " WHERE published_at >= ? AND published_at < ?"
        if gov_only:
            sql += " AND is_gov_commission = 1"
        rows = await self._db.fetchall(
            sql + " ORDER BY published_at, id", (unix_seconds(since), unix_seconds(until))
        )
        return [_stored(row) for row in rows]

    async def stats(self) -> ArchiveStats:
        head = await self._db.fetchone(
            "SELECT count(*), count(DISTINCT source), min(published_at), max(published_at) FROM articles"
        )
        topics = await self._db.fetchall("SELECT topic, count(*) FROM article_topics GROUP BY topic")
        articles, sources, first, last = head if head else (0, 0, None, None)
        return ArchiveStats(
            articles=int(articles),
            sources=int(sources),
            first_published=_datetime(first) if first is not None else None,
            last_published=_datetime(last) if last is not None else None,
            by_topic={row[0]: int(row[1]) for row in topics},
        )

    async def exists_url(self, url: str) -> bool:
        found = await self._db.fetchval(
            "SELECT 1 FROM articles WHERE url_normalized = ?", (normalize_url(url),)
        )
        return found is not None

    async def exists_hash(self, content_hash: str) -> bool:
        found = await self._db.fetchval("SELECT 1 FROM articles WHERE content_hash = ?", (content_hash,))
        return found is not None

    async def document_frequencies(self, tokens: Sequence[str]) -> dict[str, int]:
        return await document_frequencies(self._db, tokens)
