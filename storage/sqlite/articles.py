"""The article archive: storing articles once, full-text search in Russian, and the reads the bot needs.

Search goes through the ranking index (storage/search_index.py, tantivy, beside the database file): it
matches, ranks every match (BM25 over the whole text, title and lead repeated in it, with a bounded recency
bonus) exactly, counts exactly, and its term dictionary gives "did you mean" its document frequencies. It is
derived from the `articles` table: caught up after every batch, before a search, and checked at start (its
module doc). (Until migration 8 an FTS5 table held the same stems a second time.) The body is stored compressed
(storage/sqlite/body.py).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from bot.archive.models import COUNT_CAP, AddResult, ArchiveStats, Article, SearchHit, StoredArticle
from bot.archive.morphology import StemmedArticle, stem_article
from bot.archive.query import SearchQuery
from bot.archive.urls import normalize_url
from storage.index_search import IndexedSearch, unix_seconds
from storage.search_index import (
    IndexedArticle,
)
from storage.sqlite import body
from storage.sqlite.database import Database

log = logging.getLogger(__name__)

_ARTICLE_COLUMNS = (
    "id, title, lead, body, published_at, views, source, url, content_hash, topics, is_gov_commission,"
    " ingested_at"
)
# Constant fragments only (no user data): every value below is a bound parameter.
_SELECT_ARTICLES = f"SELECT {_ARTICLE_COLUMNS} FROM articles"  # noqa: S608
_INSERT_ARTICLE = (
    "INSERT OR IGNORE INTO articles (title, lead, body, published_at, views, source, url, url_normalized,"
    " content_hash, topics, is_gov_commission, ingested_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_INSERT_TOPIC = "INSERT OR IGNORE INTO article_topics (topic, article_id) VALUES (?, ?)"


def article_row(article: Article, ingested_at: int) -> tuple[Any, ...]:
    """The `articles` row of an article, in _INSERT_ARTICLE's column order (also used by bench builders)."""
    return (
        article.title,
        article.lead,
        body.pack(article.body),
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


def _datetime(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def _stored(row: Any) -> StoredArticle:
    text = body.unpack(row["body"])
    return StoredArticle(
        id=row["id"],
        title=row["title"],
        lead=row["lead"],
        body=tuple(text.split(body.PARAGRAPH_SEPARATOR)) if text else (),
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
    """Articles in SQLite, searched through the ranking index. All SQL about articles lives here."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._index = db.search_index
        self._search = IndexedSearch(db.search_index, db.clock, self._freshness, self.get_many)

    async def prepare_search(self) -> int:
        """Check the ranking index against the table and index what it lacks (at start); returns how many
        articles were indexed."""
        return await self._search.prepare()

    async def rebuild_search_index(self) -> int:
        """Index every article again from the table; returns how many."""
        return await self._search.rebuild()

    async def _freshness(self) -> tuple[int, bool]:
        row = await self._db.fetchone(
            "SELECT (SELECT coalesce(max(id), 0) FROM articles), EXISTS (SELECT 1 FROM search_index_deletions)"
        )
        return (int(row[0]), bool(row[1])) if row else (0, False)

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
            topic_rows: list[tuple[str, int]] = []
            for article, stems, row in zip(articles, stemmed, rows, strict=True):
                article_id = inserted.pop((article.content_hash, row[7]), None)
                if article_id is None:
                    continue
                new_ids.append(article_id)
                new_rows.append((article_id, article, stems))
                topic_rows += [(topic, article_id) for topic in article.topics]
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
        """The best `limit` hits after `offset`, ranked over every match by the ranking index (module doc):
        always exhaustive, so `exhaustive` changes nothing here. `snippets=False` (exports) leaves them empty."""
        return await self._search.search(
            query, limit=limit, offset=offset, since=since, until=until, snippets=snippets
        )

    async def count(
        self,
        query: SearchQuery,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        cap: int = COUNT_CAP,
    ) -> int:
        """Matches of `query`, counted up to cap + 1: a result above `cap` means "more than cap"."""
        return await self._search.count(query, since=since, until=until, cap=cap)

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
        await self._search.fresh()
        return await self._index.document_frequencies(tokens)
