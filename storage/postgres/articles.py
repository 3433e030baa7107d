"""The PostgreSQL ArticleStore (storage/interfaces.py): storing articles once, Russian full-text search over
`tsvector`s of the archive's own stems (storage/postgres/vocab.py), and the reads the bot needs. Behaviour as
storage/sqlite/articles.py.

Writing: add_many is one transaction under a transaction-level advisory lock (ARCHIVE_WRITE_LOCK), so two
processes ingesting at once take turns: their inserts of the same URL or hash and their updates of the shared
token counts can then neither deadlock nor double-count. INSERT ... ON CONFLICT DO NOTHING RETURNING still
decides what is new (the first of equal articles wins, also within a batch).

Ranking, the same BM25F as SQLite's bounded path: binary term frequency, a query word (or phrase) in the title
weighs 10 times its idf, in the lead 3 times (body: the same for every match, not counted); idf =
ln(1 + (N - df + 0.5) / (df + 0.5)), df from `article_vocab` capped at DF_CAP, N from `article_count`; ties
newest first. Title and lead presence is `head @@ 'word':A` (`:B`) on the small `head` vector.
A large archive ranks the newest SEARCH_WINDOW matches only. Rare words: the GIN matches, the newest kept (a
top-N sort). Frequent words: walking `articles_recent` backwards with the match as a filter reads (and
decompresses) a `search` vector per article, and the GIN matches are too many to sort cheaply, so the search
first looks among the newest articles only. First in the recent tier (`recent_articles`, the newest ~30,000
articles again with a GIN index of their own: migrations/m0006_recent_tier.py) when it may hold a window of
matches and is not expected to hold more than TIER_UP_TO windows: a full window found in it is the archive's
newest window, because the tier holds every article after its floor; one that falls short cost a GIN probe
and fewer than a window of rows. Every match costs a visit to its row for its date (the GIN index has none),
which is why a small tier beats the whole table. Otherwise, or when it falls short, a time bound after which about SLICE_MARGIN
windows of matches are expected (the words' df, the planner's histogram of published_at), which the planner
turns into a BitmapAnd of the GIN and the btree index; when that slice holds less than a window, the whole
archive is searched. An archive up to EXACT_RANKING_UP_TO articles, or `exhaustive=True`, ranks every match with the same
formula: about 9 µs a match (bench/pg_search_bench.py), so only small archives take that path by default.
Searches run with plan_cache_mode = force_custom_plan (the best plan depends on the words' frequencies, which
a generic plan of a cached statement cannot know) and work_mem SEARCH_WORK_MEM. `count` is capped.

Why this file is long: it is the one repository behind ArticleStore on PostgreSQL, like its SQLite twin; the
search's choice of path belongs next to the explanation above, and the SQL-free parts (tsquery compilation,
the vectors) live in storage/postgres/tsquery.py and vocab.py already.
"""

from __future__ import annotations

import math
import time
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from bot.archive.models import COUNT_CAP, AddResult, ArchiveStats, Article, SearchHit, StoredArticle
from bot.archive.morphology import StemmedArticle, stem_article
from bot.archive.query import SearchQuery, date_bounds, search_hit
from bot.archive.urls import normalize_url
from storage.postgres.database import Connection, PgDatabase
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

SEARCH_WINDOW = 200
DF_CAP = 500
EXACT_RANKING_UP_TO = 5_000
TITLE_WEIGHT = 10.0
LEAD_WEIGHT = 3.0
# The newest-slice shortcut (module doc): taken when SLICE_FROM windows of matches are expected; the slice holds
# about SLICE_MARGIN windows of them.
SLICE_FROM = 8
SLICE_MARGIN = 4
# The recent tier (m0006_recent_tier) is searched first when it may hold a window of matches, unless it is
# expected to hold more than TIER_UP_TO windows (the newest slice of the archive is cheaper then).
RECENT_TIER = "recent_articles"
TIER_UP_TO = 20
_QUANTILES_TTL_SECONDS = 300.0
# A search's session (module doc), one round trip. work_mem: the bitmap of a frequent word's matches stays exact
# (at 4 MB, PostgreSQL's default, it turns lossy at 1,000,000 articles and every article on a lossy page has
# its whole vector read to check it again).
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
# The planner's equal-count buckets of publication times (the newest-slice bound, module doc).
_PUBLISHED_QUANTILES = (
    "SELECT histogram_bounds::text::timestamptz[] FROM pg_stats"
    " WHERE schemaname = current_schema() AND tablename = 'articles' AND attname = 'published_at'"
)
# The document frequencies of the query's words, the number of articles (token NULL) and of the recent tier's
# (token ''), in one round trip.
_DOC_FREQUENCIES = (
    "SELECT token, docs::bigint FROM article_vocab WHERE token = ANY($1::text[])"
    " UNION ALL SELECT NULL, articles FROM article_count UNION ALL SELECT '', rows FROM recent_tier"
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


def _unit_shares(compiled: CompiledQuery, doc_freq: dict[str, int], articles: int) -> list[float]:
    """The share of articles holding each unit of the query (a phrase counts as its rarest word; the topic
    tags as one unit)."""
    shares = [min(doc_freq.get(token, 0) for token in tokens) / articles for tokens in compiled.units]
    if compiled.tags:
        shares.append(min(1.0, sum(doc_freq.get(tag, 0) for tag in compiled.tags) / articles))
    return shares


def _match_share(shares: list[float]) -> float:
    """The expected share of articles matching: between independent words (the product of their shares) and
    words that always go together (the rarest one's share), their geometric mean. (Guessing high costs a slice
    that falls short; guessing low, a sort of thousands of matches: bench/pg_search_bench.py measured the
    mean best for real two-word queries.)"""
    return math.sqrt(math.prod(shares) * min(shares))


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
        self._quantiles: tuple[list[datetime], float] | None = None  # (histogram bounds, monotonic time read)

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
            for article, url, vector in zip(articles, columns[7], vectors, strict=True):
                article_id = inserted.pop((article.content_hash, url), None)
                if article_id is None:
                    continue
                new_ids.append(article_id)
                new_vectors.append(vector)
                for topic in sorted(article.topics):
                    topics.append(topic)
                    topic_ids.append(article_id)
            if topics:
                await conn.execute(_INSERT_TOPICS, topics, topic_ids)
            if new_vectors:
                await count_tokens(conn, new_vectors)
        return AddResult(new_ids=new_ids, duplicates=len(articles) - len(new_ids))

    # --- search ---------------------------------------------------------------------------------------------

    @asynccontextmanager
    async def _search_connection(self) -> AsyncIterator[Connection]:
        """A pooled connection planning each statement for its own words (module doc). The pool resets the
        session (RESET ALL) when the connection goes back."""
        async with self.db.pool.acquire() as conn:
            await conn.execute(_SEARCH_SESSION)
            yield conn

    @staticmethod
    def _time_range(
        query: SearchQuery, since: datetime | None, until: datetime | None
    ) -> tuple[datetime | None, datetime | None, bool]:
        """The query's days and since (inclusive) / until (exclusive) in whole seconds, and whether the range
        holds any second at all."""
        query_since, query_until = date_bounds(query)
        lows = [whole_seconds(m) for m in (since, query_since) if m is not None]
        highs = [whole_seconds(m) for m in (until, query_until) if m is not None]
        low = max(lows) if lows else None
        high = min(highs) if highs else None
        return low, high, low is None or high is None or low < high

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
        """The best `limit` hits after `offset`: BM25F among the newest matches, or over all matches in a
        small archive or with `exhaustive=True` (module doc). `snippets=False` (exports) leaves them empty."""
        compiled = compile_query(query)
        low, high, any_time = self._time_range(query, since, until)
        if compiled is None or limit <= 0 or offset < 0 or not any_time:
            return []
        async with self._search_connection() as conn:
            found = await conn.fetch(_DOC_FREQUENCIES, compiled.words + compiled.tags)
            doc_freq = {row["token"]: int(row["docs"]) for row in found if row["token"]}
            articles = max([int(row["docs"]) for row in found if row["token"] is None] + [1])
            recent = sum(int(row["docs"]) for row in found if row["token"] == "")
            weighted = _weighted(compiled, doc_freq, articles)

            async def page(window: int | None, since: datetime | None, table: str = "articles") -> list[Any]:
                args = Args()
                match, score = match_sql(compiled, args, since, high), score_sql("a.head", weighted, args)
                sql = page_sql(match, score, args, window=window, limit=limit, offset=offset, table=table)
                return list(await conn.fetch(sql, *args.values))

            if exhaustive or articles <= EXACT_RANKING_UP_TO:
                rows = await page(None, low)
            else:
                window = max(SEARCH_WINDOW, offset + limit)
                shares = _unit_shares(compiled, doc_freq, articles)
                share = _match_share(shares)
                rows = []
                # The tier, unless it cannot hold a window (even if the words always went together) or would
                # hold so many matches that the newest slice of the archive costs less (independent words).
                may_fill = min(shares) * recent >= window
                too_many = math.prod(shares) * recent > TIER_UP_TO * window
                if recent < articles and may_fill and not too_many:
                    # A full window in the recent tier is the newest window of the whole archive (the tier
                    # holds every article after its floor: m0006_recent_tier).
                    rows = await page(window, low, table=RECENT_TIER)
                    if not rows or rows[0]["found"] < window:
                        rows = []
                if not rows:
                    bound = await self._recent_bound(conn, window, share, articles) if high is None else None
                    if bound is not None and (low is None or bound > low):
                        rows = await page(window, bound)
                    # The newest articles did not hold a full window: the whole archive.
                    if not rows or rows[0]["found"] < window:
                        rows = await page(window, low)
        return [_hit(row, query, snippets) for row in rows if row["id"] is not None]

    async def _recent_bound(
        self, conn: Connection, window: int, share: float, articles: int
    ) -> datetime | None:
        """A publication time after which about window * SLICE_MARGIN / share articles were published (from
        the planner's histogram of published_at), when the expected matches are many; else None."""
        if share * articles < SLICE_FROM * window:
            return None  # few matches: the GIN index gives them all cheaply
        now = time.monotonic()
        if self._quantiles is None or now - self._quantiles[1] > _QUANTILES_TTL_SECONDS:
            bounds = await conn.fetchval(_PUBLISHED_QUANTILES)
            self._quantiles = (list(bounds or []), now)
        bounds = self._quantiles[0]
        buckets = len(bounds) - 1
        if buckets < 2:
            return None  # no statistics yet (a fresh archive)
        newest = math.ceil(window * SLICE_MARGIN / share / articles * buckets)
        return bounds[buckets - newest] if newest < buckets // 2 else None

    async def count(
        self,
        query: SearchQuery,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        cap: int = COUNT_CAP,
    ) -> int:
        """Matches of `query`, counted up to cap + 1: a result above `cap` means "more than cap"."""
        compiled = compile_query(query)
        low, high, any_time = self._time_range(query, since, until)
        if compiled is None or not any_time:
            return 0
        args = Args()
        match = match_sql(compiled, args, low, high)
        sql = f"SELECT count(*) FROM (SELECT FROM articles AS a WHERE {match} LIMIT {args(cap + 1)}) AS m"  # noqa: S608
        async with self._search_connection() as conn:
            value = await conn.fetchval(sql, *args.values)
        return int(value or 0)

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
