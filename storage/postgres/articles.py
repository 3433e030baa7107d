"""The PostgreSQL ArticleStore (storage/interfaces.py): storing articles once, Russian full-text search (each
instance's ranking index; `tsvector`s of the archive's own stems for matching in SQL, storage/postgres/vocab.py),
and the reads the bot needs. Behaviour as storage/sqlite/articles.py.

Writing: add_many is one transaction under a transaction-level advisory lock (ARCHIVE_WRITE_LOCK), so two
processes ingesting at once take turns: their inserts of the same URL or hash and their updates of the shared
token counts can then neither deadlock nor double-count. INSERT ... ON CONFLICT DO NOTHING RETURNING still
decides what is new (the first of equal articles wins, also within a batch).

Search: each instance ranks with its own tantivy index of the archive (storage/search_index.py, the same
index and ranking as the SQLite archive: BM25 over every match plus a recency bonus, exact), caught up from
this table (storage/postgres/index_source.py, storage/index_search.py) before every search, kept in
SEARCH_INDEX_DIR or in memory. The `search` tsvector (GIN) stays PostgreSQL's own matching: `exhaustive=True`
ranks every match in SQL with a BM25F of binary term frequencies (a query word in the title weighs 10 times its
idf, in the lead 3 times; idf from `article_vocab` capped at DF_CAP): the reference the tests compare the index
with, and what an operator can run without the index.

Why this file is long: it is the one repository behind ArticleStore on PostgreSQL, like its SQLite twin; the
SQL-free parts (tsquery compilation, the vectors) live in storage/postgres/tsquery.py and vocab.py already.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from bot.archive.models import COUNT_CAP, AddResult, ArchiveStats, Article, SearchHit, StoredArticle
from bot.archive.morphology import StemmedArticle, stem_article
from bot.archive.query import SearchQuery, search_hit
from bot.archive.urls import normalize_url
from storage.index_search import IndexedSearch, unix_seconds
from storage.postgres.database import Connection, PgDatabase
from storage.postgres.index_source import PgTableSource
from storage.postgres.tsquery import (
    ARTICLE_COLUMNS,
    Args,
    CompiledQuery,
    compile_query,
    match_sql,
    page_sql,
    score_sql,
    topic_tag,
)
from storage.postgres.vocab import ArticleVectors, article_vectors, count_tokens, document_frequencies
from storage.search_index import IndexedArticle

DF_CAP = 500
TITLE_WEIGHT = 10.0
LEAD_WEIGHT = 3.0
# The SQL ranking's session (exhaustive=True), one round trip. work_mem: the bitmap of a frequent word's matches
# stays exact (at 4 MB, PostgreSQL's default, it turns lossy at 1,000,000 articles and every article on a lossy
# page has its whole vector read to check it again).
SEARCH_WORK_MEM = "32MB"
_SEARCH_SESSION = f"SET plan_cache_mode = force_custom_plan; SET work_mem = '{SEARCH_WORK_MEM}'"
# pg_advisory_xact_lock key of add_many (a fixed 64-bit number; this one spells "govdarch").
ARCHIVE_WRITE_LOCK = 0x676F766461726368

# Constant fragments only (no user data): every value is a bound parameter.
_SELECT_ARTICLES = f"SELECT {ARTICLE_COLUMNS} FROM articles AS a"  # noqa: S608
_INSERT_ARTICLES = (
    "INSERT INTO articles (title, lead, body, published_at, views, source, url, url_normalized, content_hash,"
    " topics, is_gov_commission, ingested_at, search, head, long_stems)"
    " SELECT r.title, r.lead, r.body, r.published_at, r.views, r.source, r.url, r.url_normalized,"
    " r.content_hash, r.topics, r.is_gov, $12, r.search::tsvector, r.head::tsvector, r.long_stems"
    " FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::bigint[], $6::text[],"
    " $7::text[], $8::text[], $9::text[], $10::text[], $11::boolean[], $13::text[], $14::text[],"
    " $15::text[]) WITH ORDINALITY AS r(title, lead, body, published_at, views, source, url,"
    " url_normalized, content_hash, topics, is_gov, search, head, long_stems, n)"
    " ORDER BY r.n"  # the first of equal articles wins, as in the input
    " ON CONFLICT DO NOTHING RETURNING id, content_hash, url_normalized"
)
_INSERT_TOPICS = (
    "INSERT INTO article_topics (topic, article_id) SELECT * FROM unnest($1::text[], $2::bigint[])"
    " ON CONFLICT DO NOTHING"
)
# The document frequencies of the query's words and the number of articles (token NULL), in one round trip.
_DOC_FREQUENCIES = (
    "SELECT token, docs::bigint FROM article_vocab WHERE token = ANY($1::text[])"
    " UNION ALL SELECT NULL, articles FROM article_count"
)
# How far the table has got, for the index's catch-up (storage/index_search.py).
_FRESHNESS = (
    "SELECT (SELECT coalesce(max(id), 0) FROM articles),"
    " EXISTS (SELECT 1 FROM search_index_deletions WHERE seq > $1)"
)


def whole_seconds(moment: datetime) -> datetime:
    """`moment` without its fraction of a second (the earlier whole second): SQLite keeps whole unix seconds,
    so do we. A naive time is local time, as for SQLite's `timestamp()`."""
    if moment.tzinfo is None:
        moment = moment.astimezone(UTC)
    return moment.replace(microsecond=0)


def _clean(text: str) -> str:
    # PostgreSQL text cannot hold NUL; the page parsers drop control characters already.
    return text.replace("\x00", "")


def _weighted(compiled: CompiledQuery, doc_freq: dict[str, int], articles: int) -> list[tuple[str, float]]:
    """(tsquery, weight) of each unit in the title and in the lead; a unit (word, phrase, hyphenated word)
    weighs the sum of its words' idf."""
    idf = {word: _idf(min(doc_freq.get(word, 0), DF_CAP, articles), articles) for word in compiled.words}
    weighted = []
    for tokens, in_title, in_lead in zip(
        compiled.units, compiled.title_queries, compiled.lead_queries, strict=True
    ):
        unit = sum(idf[token] for token in tokens)
        weighted += [(in_title, unit * TITLE_WEIGHT), (in_lead, unit * LEAD_WEIGHT)]
    return weighted


def _moment(unix: int | None) -> datetime | None:
    return None if unix is None else datetime.fromtimestamp(unix, UTC)


def _hit(row: Any, query: SearchQuery, snippets: bool) -> SearchHit:
    return search_hit(_stored(row), query, float(row["score"]), snippet=snippets)


def _idf(doc_freq: int, articles: int) -> float:
    """BM25's inverse document frequency (the +1 form, never negative)."""
    return math.log(1 + (articles - doc_freq + 0.5) / (doc_freq + 0.5))


def _stored(row: Any) -> StoredArticle:
    body = row["body"]
    return StoredArticle(
        id=row["id"],
        title=row["title"],
        lead=row["lead"],
        body=tuple(body.split("\n\n")) if body else (),
        published_at=row["published_at"],
        views=row["views"],
        source=row["source"],
        url=row["url"],
        topics=frozenset(row["topics"].split()),
        is_gov_commission=bool(row["is_gov_commission"]),
        content_hash=row["content_hash"],
        ingested_at=row["ingested_at"],
    )


class ArticleRepository:
    """Articles in PostgreSQL with stemmed tsvectors. All SQL about articles lives here."""

    def __init__(self, db: PgDatabase) -> None:
        self.db = db
        self._index = db.search_index
        self._search = IndexedSearch(db.search_index, db.clock, self._freshness, self.get_many)

    async def prepare_search(self) -> int:
        """Check this instance's ranking index against the table and index what it lacks (at start); returns
        how many articles were indexed."""
        return await self._search.prepare()

    async def rebuild_search_index(self) -> int:
        """Index every article again from the table; returns how many."""
        return await self._search.rebuild()

    async def _freshness(self) -> tuple[int, bool]:
        source = self._index.source
        seen = source.deletions_seen if isinstance(source, PgTableSource) else 0
        row = await self.db.fetchrow(_FRESHNESS, seen)
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
        vectors = [
            article_vectors(stems, [topic_tag(topic) for topic in sorted(article.topics)])
            for article, stems in zip(articles, stemmed, strict=True)
        ]
        normalized = [normalize_url(article.url) if article.url else None for article in articles]
        columns: list[Any] = [
            [_clean(a.title) for a in articles],
            [_clean(a.lead) for a in articles],
            [_clean("\n\n".join(a.body)) for a in articles],
            [whole_seconds(a.published_at) for a in articles],
            [a.views for a in articles],
            [_clean(a.source) for a in articles],
            [_clean(a.url) if a.url else a.url for a in articles],
            [_clean(url) if url else url for url in normalized],
            [a.content_hash for a in articles],
            [" ".join(sorted(a.topics)) for a in articles],
            [a.is_gov_commission for a in articles],
            whole_seconds(self.db.clock()),
            [v.search for v in vectors],
            [v.head for v in vectors],
            [v.long_stems for v in vectors],
        ]
        async with self.db.transaction() as conn:
            await conn.execute("SELECT pg_advisory_xact_lock($1)", ARCHIVE_WRITE_LOCK)
            rows = await conn.fetch(_INSERT_ARTICLES, *columns)
            inserted = {(row["content_hash"], row["url_normalized"]): int(row["id"]) for row in rows}
            new_ids: list[int] = []
            new_vectors: list[ArticleVectors] = []
            topics: list[str] = []
            topic_ids: list[int] = []
            given: dict[int, IndexedArticle] = {}
            for article, url, vector, stems in zip(articles, columns[7], vectors, stemmed, strict=True):
                article_id = inserted.pop((article.content_hash, url), None)
                if article_id is None:
                    continue
                new_ids.append(article_id)
                published = unix_seconds(whole_seconds(article.published_at))
                given[article_id] = IndexedArticle(article_id, published, stems, article.topics)
                new_vectors.append(vector)
                for topic in sorted(article.topics):
                    topics.append(topic)
                    topic_ids.append(article_id)
            if topics:
                await conn.execute(_INSERT_TOPICS, topics, topic_ids)
            if new_vectors:
                await count_tokens(conn, new_vectors)
        # The rows are committed: now this instance's ranking index, at once or with the next batches (a
        # kill before it loses nothing: the next catch-up indexes what the table has above the index).
        await self._index.add(given)
        return AddResult(new_ids=new_ids, duplicates=len(articles) - len(new_ids))

    # --- search ---------------------------------------------------------------------------------------------

    @asynccontextmanager
    async def _search_connection(self) -> AsyncIterator[Connection]:
        """A pooled connection planning each statement for its own words (module doc). The pool resets the
        session (RESET ALL) when the connection goes back."""
        async with self.db.pool.acquire() as conn:
            await conn.execute(_SEARCH_SESSION)
            yield conn

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
        """The best `limit` hits after `offset`, ranked over every match by this instance's ranking index, or
        with `exhaustive=True` by BM25F in SQL (module doc). `snippets=False` (exports) leaves them empty."""
        if not exhaustive:
            return await self._search.search(
                query, limit=limit, offset=offset, since=since, until=until, snippets=snippets
            )
        compiled = compile_query(query)
        low, high = IndexedSearch.time_range(query, since, until)
        if (
            compiled is None
            or limit <= 0
            or offset < 0
            or (low is not None and high is not None and low >= high)
        ):
            return []
        async with self._search_connection() as conn:
            found = await conn.fetch(_DOC_FREQUENCIES, compiled.words + compiled.tags)
            doc_freq = {row["token"]: int(row["docs"]) for row in found if row["token"]}
            articles = max([int(row["docs"]) for row in found if row["token"] is None] + [1])
            args = Args()
            match = match_sql(compiled, args, _moment(low), _moment(high))
            score = score_sql("a.head", _weighted(compiled, doc_freq, articles), args)
            rows = await conn.fetch(page_sql(match, score, args, limit=limit, offset=offset), *args.values)
        return [_hit(row, query, snippets) for row in rows]

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
        row = await self.db.fetchrow(_SELECT_ARTICLES + " WHERE a.id = $1", article_id)
        return _stored(row) if row else None

    async def get_many(self, ids: Iterable[int]) -> list[StoredArticle]:
        """The stored articles among `ids`, in the order of `ids` (unknown ids skipped)."""
        wanted = list(dict.fromkeys(ids))
        if not wanted:
            return []
        rows = await self.db.fetch(_SELECT_ARTICLES + " WHERE a.id = ANY($1::bigint[])", wanted)
        found = {row["id"]: _stored(row) for row in rows}
        return [found[i] for i in wanted if i in found]

    async def latest(self, limit: int = 5, offset: int = 0) -> list[StoredArticle]:
        rows = await self.db.fetch(
            _SELECT_ARTICLES + " ORDER BY a.published_at DESC, a.id DESC LIMIT $1 OFFSET $2",
            max(limit, 0),
            max(offset, 0),
        )
        return [_stored(row) for row in rows]

    async def published_between(
        self, since: datetime, until: datetime, *, gov_only: bool = False
    ) -> list[StoredArticle]:
        """Articles with since <= published_at < until, oldest first."""
        sql = _SELECT_ARTICLES + " WHERE a.published_at >= $1 AND a.published_at < $2"
        if gov_only:
            sql += " AND a.is_gov_commission"
        rows = await self.db.fetch(
            sql + " ORDER BY a.published_at, a.id", whole_seconds(since), whole_seconds(until)
        )
        return [_stored(row) for row in rows]

    async def stats(self) -> ArchiveStats:
        head = await self.db.fetchrow(
            "SELECT count(*), count(DISTINCT source), min(published_at), max(published_at) FROM articles"
        )
        topics = await self.db.fetch("SELECT topic, count(*) FROM article_topics GROUP BY topic")
        articles, sources, first, last = head if head else (0, 0, None, None)
        return ArchiveStats(
            articles=int(articles),
            sources=int(sources),
            first_published=first,
            last_published=last,
            by_topic={row[0]: int(row[1]) for row in topics},
        )

    async def exists_url(self, url: str) -> bool:
        found = await self.db.fetchval(
            "SELECT 1 FROM articles WHERE url_normalized = $1", _clean(normalize_url(url))
        )
        return found is not None

    async def exists_hash(self, content_hash: str) -> bool:
        found = await self.db.fetchval("SELECT 1 FROM articles WHERE content_hash = $1", content_hash)
        return found is not None

    async def document_frequencies(self, tokens: Sequence[str]) -> dict[str, int]:
        return await document_frequencies(self.db, tokens)
