"""The article archive: storing articles once, full-text search in Russian, and the reads the bot needs.

Ranking (why search stays fast at millions of articles). The FTS5 rowid of an article is its recency key
`published_at * 2**31 + id`, so FTS5 yields matches newest first, and date filters are rowid ranges; topic
filters are tokens of the `tags` column, part of the MATCH. `search`:
1. takes the newest SEARCH_WINDOW matches (one index walk, stopped early);
2. finds which query words and phrases occur in their titles and leads: with one column-filtered MATCH per
   word and column limited to the window's rowid span (which, for a full window, holds exactly the window's
   matches); when there are very few matches (under READ_HEADS_BELOW; the span may then be the whole
   archive), by reading those articles' titles and leads and checking them the way the index sees them
   (bot.archive.query.UnitMatcher) — either way in the same statement;
3. scores BM25F with binary term frequency (k1 = 0): the sum over query words (and phrases) of their idf
   times the weights of the columns where they occur (title 10, lead 3; body 1, which every match has for
   every word, so it does not change the order); idf = ln(1 + (N - df + 0.5) / (df + 0.5)) with df counted up
   to DF_CAP (a word in more than DF_CAP articles is simply "common"); a phrase weighs the sum of its words;
4. returns the best, newest first among equal scores.
So it is "the most relevant among the newest SEARCH_WINDOW matches" (exact over all matches when there are
fewer), and the cost is bounded whatever the number of matches. FTS5's own bm25() is not used on this path: it
first counts every match of every word in the whole index (its idf pass), which alone costs more than the
10 ms budget at a million articles. `count` is capped (COUNT_CAP).

Small archives (up to EXACT_RANKING_UP_TO articles) are ranked with FTS5's bm25() over every match instead:
there that costs less than the bounded path's fixed work (bench/search_bench.py measures both), and it is
exact bm25 (term frequencies, field lengths). `search(..., exhaustive=True)` forces that path at any size.

Why this file is long: it is the one repository behind ArticleStore (writing, the two ranking paths, the
reads); the ranking's SQL belongs next to the explanation above, and the SQL-free parts (query compilation,
stemming, snippets) live in storage/sqlite/fts.py and bot/archive/ already.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from bot.archive.models import COUNT_CAP, AddResult, ArchiveStats, Article, SearchHit, StoredArticle
from bot.archive.morphology import StemmedArticle, stem_article
from bot.archive.query import SearchQuery, UnitMatcher, date_bounds, search_hit, unit_tokens
from bot.archive.urls import normalize_url
from storage.sqlite.database import Database
from storage.sqlite.fts import build_match, fts_string, topic_tag
from storage.sqlite.vocab import document_frequencies

RECENCY_SHIFT = 2**31  # article ids stay below this, so (published_at, id) packs into one signed 64-bit rowid
SEARCH_WINDOW = 200
DF_CAP = 500
EXACT_RANKING_UP_TO = 50_000
READ_HEADS_BELOW = 50
_SIZE_TTL_SECONDS = 30.0
# Weights of a query word found in the title and in the lead. Every window match holds every query word
# somewhere, so a body-only occurrence is the baseline (weight 1, the same for all, not checked).
TITLE_WEIGHT = 10.0
LEAD_WEIGHT = 3.0
_BM25 = "bm25(articles_fts, 10.0, 3.0, 1.0, 0.0)"
_MIN_ROWID = -(2**63)
_MAX_ROWID = 2**63 - 1

_ARTICLE_COLUMNS = (
    "id, title, lead, body, published_at, views, source, url, content_hash, topics, is_gov_commission,"
    " ingested_at"
)
# Constant fragments only (no user data): every value below is a bound parameter.
_SELECT_ARTICLES = f"SELECT {_ARTICLE_COLUMNS} FROM articles"  # noqa: S608
# The ranking statement (one round trip). Rows (kind, a, b, c), all values bound:
# kind -1: a window key; -2: max(id); >= 0: the capped df of word number `kind`;
# otherwise: kind <= -10 encodes (unit, column) of a column-filtered MATCH hit among the window's rowids
#   (cheap when the window is full: its rowid span holds exactly the window's matches);
# few matches (fewer than READ_HEADS_BELOW, all of them in the window): kind -3 gives key, title, lead,
#   checked in Python (the span may then be the whole archive, and re-walking a rare conjunction of common
#   words there once per unit and column would cost far more than reading a few rows).
# The branch not taken costs nothing: the heads join has no rows, the MATCHes get '""' (matches nothing).
_RANK_HEAD = (
    "WITH win(key) AS MATERIALIZED (SELECT rowid FROM articles_fts WHERE articles_fts MATCH ?"
    " AND rowid BETWEEN ? AND ? ORDER BY rowid DESC LIMIT ?),"
    " span(lo, hi, n) AS MATERIALIZED (SELECT min(key), max(key), count(*) FROM win)"
    " SELECT -1, key, NULL, NULL FROM win"
    " UNION ALL SELECT -2, max(id), NULL, NULL FROM articles"
    " UNION ALL SELECT -3, win.key, a.title, a.lead FROM win JOIN articles AS a"
    " ON a.id = (win.key & 2147483647) WHERE (SELECT n FROM span) < ?"  # the id bits of the key
)
_DF_PART = (
    "SELECT ?, count(*), NULL, NULL FROM (SELECT rowid FROM articles_fts WHERE articles_fts MATCH ? LIMIT ?)"
)
_PRESENCE_PART = (
    "SELECT ?, rowid, NULL, NULL FROM articles_fts"
    " WHERE articles_fts MATCH (CASE WHEN (SELECT n FROM span) >= ? THEN ? ELSE '\"\"' END)"
    " AND rowid BETWEEN (SELECT lo FROM span) AND (SELECT hi FROM span)"
)
_PRESENCE_KIND = -10  # kind = _PRESENCE_KIND - (unit * 2 + column), column 0 title, 1 lead
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


def _idf(doc_freq: int, articles: int) -> float:
    """BM25's inverse document frequency (the +1 form, never negative)."""
    return math.log(1 + (articles - doc_freq + 0.5) / (doc_freq + 0.5))


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
        self._size: tuple[int, float] | None = None  # (max id, monotonic time read)

    async def _archive_size(self) -> int:
        """About the number of articles (max id), re-read at most every _SIZE_TTL_SECONDS."""
        now = time.monotonic()
        if self._size is None or now - self._size[1] > _SIZE_TTL_SECONDS:
            self._size = (int(await self._db.fetchval("SELECT coalesce(max(id), 0) FROM articles")), now)
        return self._size[0]

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
            fts_rows: list[tuple[Any, ...]] = []
            topic_rows: list[tuple[str, int]] = []
            for article, stems, row in zip(articles, stemmed, rows, strict=True):
                article_id = inserted.pop((article.content_hash, row[7]), None)
                if article_id is None:
                    continue
                new_ids.append(article_id)
                fts_rows.append(fts_row(article_id, article, stems))
                topic_rows += [(topic, article_id) for topic in article.topics]
            await conn.executemany(_INSERT_FTS, fts_rows)
            await conn.executemany(_INSERT_TOPIC, topic_rows)
        self._size = None
        return AddResult(new_ids=new_ids, duplicates=len(articles) - len(new_ids))

    # --- search ---------------------------------------------------------------------------------------------

    def _rowid_range(
        self, query: SearchQuery, since: datetime | None, until: datetime | None
    ) -> tuple[int, int]:
        """The recency-key range of the query's days and of since (inclusive) / until (exclusive)."""
        low, high = _MIN_ROWID, _MAX_ROWID
        query_since, query_until = date_bounds(query)
        for moment in (since, query_since):
            if moment is not None:
                low = max(low, _key_seconds(unix_seconds(moment)) * RECENCY_SHIFT)
        for moment in (until, query_until):
            if moment is not None:
                high = min(high, _key_seconds(unix_seconds(moment)) * RECENCY_SHIFT - 1)
        return low, high

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
        """The best `limit` hits after `offset`: BM25F among the newest matches, or bm25() over all matches in
        a small archive or with `exhaustive=True` (module doc). `snippets=False` (exports) leaves them empty."""
        match = build_match(query)
        low, high = self._rowid_range(query, since, until)
        if match is None or limit <= 0 or offset < 0 or low > high:
            return []
        if exhaustive or await self._archive_size() <= EXACT_RANKING_UP_TO:
            # bm25 is negative: lower is better; among equal scores the newer article (larger key) first.
            rows = await self._db.fetchall(_SEARCH_ALL, (match, low, high, offset + limit))
            ranked = [(int(r[0]), float(r[1])) for r in rows][offset:]
        else:
            window = max(SEARCH_WINDOW, offset + limit)
            ranked = (await self._rank_window(query, match, low, high, window))[offset : offset + limit]
        if not ranked:
            return []
        ids = [article_id_of(r[0]) for r in ranked]
        by_id = {article.id: article for article in await self.get_many(ids)}
        hits = []
        for key, score in ranked:
            article = by_id.get(article_id_of(key))
            if article is None:  # pragma: no cover - the index and the table are written together
                continue
            hits.append(search_hit(article, query, score, snippet=snippets))
        return hits

    async def _rank_window(
        self, query: SearchQuery, match: str, low: int, high: int, window: int
    ) -> list[tuple[int, float]]:
        """The newest `window` matches with their scores (negative, lower is better, like bm25), best first."""
        units = unit_tokens(query)
        words = sorted({word for tokens in units for word in tokens})
        parts = [_RANK_HEAD]
        # Below this many matches, read titles and leads; from it on, column-filtered MATCHes (see _RANK_HEAD).
        read_below = min(window, READ_HEADS_BELOW)
        params: list[Any] = [match, low, high, window, read_below]
        for index, word in enumerate(words):
            parts.append(_DF_PART)
            params += [index, fts_string([word]), DF_CAP]
        for index, tokens in enumerate(units):
            for column, name in enumerate(("title", "lead")):
                parts.append(_PRESENCE_PART)
                kind = _PRESENCE_KIND - (index * 2 + column)
                params += [kind, read_below, f"{{{name}}} : {fts_string(tokens)} AND {match}"]
        rows = await self._db.fetchall(" UNION ALL ".join(parts), params)
        articles = 1
        doc_freq: dict[int, int] = {}
        scores: dict[int, float] = {}
        hits: list[tuple[int, int, int]] = []  # (key, unit, column)
        heads: list[tuple[int, str, str]] = []
        for kind, value, title, lead in rows:
            if kind == -1:
                scores[int(value)] = 0.0
            elif kind == -2:
                articles = max(int(value or 0), 1)
            elif kind == -3:
                heads.append((int(value), str(title), str(lead)))
            elif kind >= 0:
                doc_freq[int(kind)] = int(value)
            else:
                unit, column = divmod(_PRESENCE_KIND - int(kind), 2)
                hits.append((int(value), unit, column))
        word_idf = {words[index]: _idf(min(df, articles), articles) for index, df in doc_freq.items()}
        # A phrase (or a hyphenated word) weighs the sum of its words: it is more specific than any of them.
        idf = [sum(word_idf.get(word, 0.0) for word in tokens) for tokens in units]
        weights = (TITLE_WEIGHT, LEAD_WEIGHT)
        if heads:
            matcher = UnitMatcher(units)
            for key, title, lead in heads:
                hits += [(key, unit, 0) for unit in matcher.present(title)]
                hits += [(key, unit, 1) for unit in matcher.present(lead)]
        for key, unit, column in hits:
            if key in scores:
                scores[key] -= idf[unit] * weights[column]
        return sorted(scores.items(), key=lambda item: (item[1], -item[0]))

    async def count(
        self,
        query: SearchQuery,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        cap: int = COUNT_CAP,
    ) -> int:
        """Matches of `query`, counted up to cap + 1: a result above `cap` means "more than cap"."""
        match = build_match(query)
        low, high = self._rowid_range(query, since, until)
        if match is None or low > high:
            return 0
        value = await self._db.fetchval(
            "SELECT count(*) FROM (SELECT rowid FROM articles_fts WHERE articles_fts MATCH ?"
            " AND rowid BETWEEN ? AND ? LIMIT ?)",
            (match, low, high, cap + 1),
        )
        return int(value or 0)

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
