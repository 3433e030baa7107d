"""The SQLite archive's ranking index: a tantivy index of the stemmed text, beside the database file.

Why a second index: FTS5 ranks every match only by walking all of them (its bm25() first reads every posting
of every query word), so at a million articles the archive used to rank just the newest 200 matches, and an
older article that named the event exactly was not found when 200 newer ones shared its words. tantivy (a
Rust search engine: compressed posting lists with block-max skipping) ranks every match by BM25 in a few
milliseconds at that size. Its term dictionary also gives "did you mean" its document frequencies, so the
FTS5 table that used to hold the same stems was dropped (migration 8).

What it holds per article: the id, the publication time, the stems of the whole text (positions, for phrases;
the title written TITLE_REPEAT times and the lead LEAD_REPEAT times, so one field's BM25 weighs them above the
body) and topic tags: nothing that is not in the `articles` table, so it can be rebuilt from the database at any
time
(`catch_up(rebuild=True)`): at open, an index that does not match the table or is of another layout (an
older version's schema) is rebuilt.

Consistency (the database is the record):
- `ArticleRepository.add_many` commits its rows to SQLite, then `catch_up` indexes every article with an id
  above the index's highest (its own batch, and any that a killed or concurrent process committed without
  indexing) and commits the index. During a bulk ingest a commit waits for the batches of up to
  COMMIT_INTERVAL_SECONDS (tantivy's cost per document falls several times from commits of 256 documents to
  commits of thousands); a search in this process first indexes what is waiting, and so does closing. Ids only grow (no article is deleted), and tantivy commits are atomic,
  so a kill -9 between the two commits leaves some articles in the database only, and the next catch-up
  (the next batch, search or start) indexes exactly those: none lost, none twice.
- tantivy lets one writer at a time hold an index directory, across processes (a lock file released when
  its process dies). A writing catch-up waits for it (WRITER_WAIT_SECONDS); a search's catch-up does not
  (the holder is indexing those very articles) and searches what is committed.
- An article deleted from the table (operators' SQL; the application never deletes one) is remembered by a
  trigger (migration 7) until a catch-up has deleted it from the index too.
- At open, an index that does not hold exactly the database's articles up to its highest id (a database
  restored or copied under an old index) is rebuilt.

Matching: every word by any stem of its family (bot.archive.morphology.stem_family), phrases by their stems'
positions: the same articles PostgreSQL matches.
Ranking: score = BM25 of the one text field (title and lead repeated in it) + a recency bonus
W * 0.5 ** (age / RECENCY_HALF_LIFE_DAYS), where W = RECENCY_SHARE * the query's best BM25, so a new article
wins among equally relevant ones while an old one that names the event clearly still comes first. The top k
are exact over every match: the first search takes the best FIRST_ROUND matches by BM25; a match not among
them has BM25 <= the last one's (the floor), so it can overtake the k-th best score seen only if its recency
bonus exceeds the gap between the two, that is only if it is newer than the date that gap gives. Usually no
date is new enough and one search answers; otherwise a second search takes the best by BM25 among the matches
published since that date (K growing by ROUND_GROWTH) until every match that could overtake has been scored.

Why this file is long: the index's schema, query compiler, ranking and consistency rules belong together (each
depends on the others' invariants); the table side of the catch-up is storage/sqlite/index_source.py.
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
import shutil
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import tantivy

from bot.archive.morphology import StemmedArticle, stem_fields
from bot.archive.query import SearchQuery, unit_families, unit_tokens, word_family, word_tokens

log = logging.getLogger(__name__)

# Title and lead weigh more by repetition in the one scored field, not by clauses of fields of their own: a
# query of Must clauses only is scored by tantivy's block-max skipping, while optional title/lead clauses were
# scored on every match (3x the p95 at 1,000,000 articles; BENCHMARKS.md, issue 10, third step).
TITLE_REPEAT = 3
LEAD_REPEAT = 2
RECENCY_SHARE = 0.25
RECENCY_HALF_LIFE_DAYS = 365.0
# The first search keeps the best 512 by BM25: hardly dearer than 32 (tantivy scores every match of a
# conjunction either way), and its 512th BM25 is low enough that the recency bonus rarely needs a second
# search (at 1,000,000 articles: 196 of 200 two-word queries answered by one; 89 of 200 with 32).
FIRST_ROUND = 512
ROUND_GROWTH = 4
WRITER_HEAP_BYTES = 64_000_000
WRITER_WAIT_SECONDS = 60.0
_WRITER_RETRY_SECONDS = 0.05
CATCH_UP_CHUNK = 2_000
COMMIT_INTERVAL_SECONDS = 1.0
PENDING_LIMIT = 4_096
COMMIT_EVERY = 50_000
_SECONDS_PER_DAY = 86_400.0
_DIRECTORY_SUFFIX = "-search"
FIELD_GAP = "|"  # stems are alphanumeric: no query token is ever this


_TAG_PREFIX = "topic"


def topic_tag(topic: str) -> str:
    """The index token of a topic in the `tags` field (the same as storage/postgres/tsquery.topic_tag)."""
    return _TAG_PREFIX + re.sub(r"[^0-9a-z]", "", topic.lower())


class IndexBusyError(Exception):
    """Another writer (another process) holds the index directory."""


def index_directory(database_path: Path | str) -> Path | None:
    """Where the index of the database at `database_path` lives; None for an in-memory database."""
    text = str(database_path)
    if text == ":memory:" or text.startswith("file:") or not text:
        return None
    return Path(text + _DIRECTORY_SUFFIX)


def _schema() -> tantivy.Schema:
    builder = tantivy.SchemaBuilder()
    builder.add_integer_field("id", stored=True, indexed=True, fast=True)
    builder.add_integer_field("published", stored=True, indexed=True, fast=True)
    # Stems are lowercase tokens separated by whitespace (bot.archive.morphology): split exactly there.
    builder.add_text_field("text", tokenizer_name="whitespace", index_option="position")
    builder.add_text_field("tags", tokenizer_name="whitespace", index_option="basic")
    return builder.build()


SCHEMA = _schema()


@dataclass(frozen=True, slots=True)
class IndexedArticle:
    """What the index needs of one article."""

    id: int
    published: int  # unix seconds
    stemmed: StemmedArticle
    topics: frozenset[str]


def indexed_from_row(row: Sequence[Any]) -> IndexedArticle:
    """An `articles` row (id, published_at, title, lead, body, topics) as the index takes it, stemmed the way
    the ingest stems (the same stem_fields)."""
    article_id, published, title, lead, body, topics = row
    stemmed = stem_fields(title, lead, body)
    return IndexedArticle(int(article_id), int(published), stemmed, frozenset(str(topics).split()))


def _document(article: IndexedArticle) -> tantivy.Document:
    stemmed = article.stemmed
    return tantivy.Document(
        id=article.id,
        published=article.published,
        # A token no query has between the parts, so a phrase never spans two of them.
        text=f" {FIELD_GAP} ".join(
            [stemmed.title] * TITLE_REPEAT + [stemmed.lead] * LEAD_REPEAT + [stemmed.body]
        ),
        tags=" ".join(topic_tag(topic) for topic in sorted(article.topics)),
    )


# --- queries -----------------------------------------------------------------------------------------------


def _term(field: str, token: str) -> tantivy.Query:
    return tantivy.Query.term_query(SCHEMA, field, token)


def _text_unit(tokens: Sequence[str]) -> tantivy.Query:
    if len(tokens) == 1:
        return _term("text", tokens[0])
    return tantivy.Query.phrase_query(SCHEMA, "text", list(tokens))


def compile_query(
    query: SearchQuery, low: int | None = None, high: int | None = None
) -> tantivy.Query | None:
    """The tantivy query of `query` with publication times in [low, high) (unix seconds); None when nothing can
    match. User text never becomes query syntax: only term and phrase objects of stemmed tokens are built."""
    units = unit_tokens(query)
    if query.is_empty or not units:
        return None
    Occur = tantivy.Occur
    clauses: list[tuple[tantivy.Occur, tantivy.Query]] = []
    for tokens, family in zip(units, unit_families(query), strict=True):
        if family:  # a word: any stem of its family (паводок, паводками)
            either = [(Occur.Should, _term("text", stem)) for stem in family]
            match = _term("text", family[0]) if len(family) == 1 else tantivy.Query.boolean_query(either)
            clauses.append((Occur.Must, match))
        else:  # a phrase or a hyphenated word: its stems in order
            clauses.append((Occur.Must, _text_unit(tokens)))
    if query.topics:
        topics = [(Occur.Should, _term("tags", topic_tag(topic))) for topic in sorted(query.topics)]
        clauses.append(
            (Occur.Must, tantivy.Query.const_score_query(tantivy.Query.boolean_query(topics), 0.0))
        )
    for word in query.excluded:
        family = word_family(word)
        tokens = word_tokens(word.split(" "))
        if family:
            clauses += [(Occur.MustNot, _term("text", stem)) for stem in family]
        elif tokens:
            clauses.append((Occur.MustNot, _text_unit(tokens)))
    if low is not None or high is not None:
        # An open side must be "inclusive" for tantivy; a closed upper side excludes `high`.
        dates = tantivy.Query.range_query(
            SCHEMA, "published", tantivy.FieldType.Integer, low, high, include_upper=high is None
        )
        clauses.append((Occur.Must, tantivy.Query.const_score_query(dates, 0.0)))
    return tantivy.Query.boolean_query(clauses)


def recency(published: int, now: int) -> float:
    """1.0 for an article published now (or later), halving every RECENCY_HALF_LIFE_DAYS."""
    age_days = max(now - published, 0) / _SECONDS_PER_DAY
    return float(0.5 ** (age_days / RECENCY_HALF_LIFE_DAYS))


def rank(searcher: tantivy.Searcher, query: tantivy.Query, wanted: int, now: int) -> list[tuple[int, float]]:
    """The best `wanted` matches as (article id, score), best first (ties: newer first): exact over every
    match (module doc: the best by BM25, then only the matches new enough to overtake them)."""
    if wanted <= 0:
        return []
    limit = max(FIRST_ROUND, wanted)
    hits = searcher.search(query, limit, count=False).hits
    if not hits:
        return []
    weight = RECENCY_SHARE * max(float(hits[0][0]), 0.0)  # the best BM25 of every match: the first hit
    seen = {(a.segment_ord, a.doc): (float(score), a) for score, a in hits}
    floor = float(hits[-1][0])  # a match not seen yet has BM25 <= floor ...
    since: int | None = None  # ... or, when `since` is set, was published before `since`
    exhausted = len(hits) < limit
    while True:
        best = _best_seen(searcher, list(seen.values()), weight, wanted, now)
        if exhausted or weight <= 0.0:
            return [(article, score) for score, _, article in best]
        kth = best[-1][0] if len(best) == wanted else -math.inf
        # A match not seen scores at most floor + weight * recency(its date): it can overtake the k-th best
        # only if its recency exceeds `needed`, that is only if it is newer than the date that gives.
        needed = (kth - floor) / weight
        if needed >= 1.0:
            return [(article, score) for score, _, article in best]
        newer_than = _published_after(needed, now)
        since = newer_than if since is None or newer_than is None else max(since, newer_than)
        limit *= ROUND_GROWTH
        recent = searcher.search(_published_since(query, since), limit, count=False).hits
        seen.update({(a.segment_ord, a.doc): (float(score), a) for score, a in recent})
        # Every match from `since` on is scored when the search came back short; older ones cannot overtake.
        exhausted = len(recent) < limit
        if recent:
            floor = min(floor, float(recent[-1][0]))


def _best_seen(
    searcher: tantivy.Searcher,
    seen: list[tuple[float, tantivy.DocAddress]],
    weight: float,
    wanted: int,
    now: int,
) -> list[tuple[float, int, int]]:
    """The best `wanted` of the matches seen (BM25, address) as (score, published, article id), best first."""
    seen.sort(key=lambda hit: hit[0], reverse=True)
    if len(seen) > wanted:
        # Whose BM25 plus the largest bonus stays below the wanted-th BM25 cannot be among the best: only
        # the others' dates are read (the fast-field reads were most of this function's time).
        cutoff = seen[wanted - 1][0] - weight
        seen = [hit for hit in seen if hit[0] >= cutoff]
    dates = searcher.fast_field_values("published", [address for _, address in seen])
    scored = sorted(
        (
            (bm25 + weight * recency(int(published or 0), now), int(published or 0), address)
            for (bm25, address), published in zip(seen, dates, strict=True)
        ),
        key=lambda item: (item[0], item[1]),
        reverse=True,
    )
    end = min(wanted, len(scored))
    while end < len(scored) and scored[end][:2] == scored[end - 1][:2]:  # ties decided by the id below
        end += 1
    top = scored[:end]
    ids = searcher.fast_field_values("id", [address for _, _, address in top])
    ranked = sorted(
        (
            (score, published, int(article or 0))
            for (score, published, _), article in zip(top, ids, strict=True)
        ),
        reverse=True,
    )
    return ranked[:wanted]


def _published_after(needed: float, now: int) -> int | None:
    """The earliest publication time whose recency exceeds `needed` (< 1); None when any time's does."""
    if needed <= 0.0:
        return None
    age_days = RECENCY_HALF_LIFE_DAYS * math.log2(1.0 / needed)
    return math.floor(now - age_days * _SECONDS_PER_DAY)


def _published_since(query: tantivy.Query, since: int | None) -> tantivy.Query:
    if since is None:
        return query
    dates = tantivy.Query.range_query(SCHEMA, "published", tantivy.FieldType.Integer, since, None)
    Occur = tantivy.Occur
    return tantivy.Query.boolean_query(
        [(Occur.Must, query), (Occur.Must, tantivy.Query.const_score_query(dates, 0.0))]
    )


# --- the index ---------------------------------------------------------------------------------------------


class SearchIndex:
    """The tantivy index of one SQLite archive (module doc). tantivy's own work runs in worker threads."""

    def __init__(self, index: tantivy.Index, directory: Path | None, source: ArticleSource) -> None:
        self._index = index
        self.directory = directory
        self.source = source
        # Articles this process stored and has not indexed yet, with their stems (module doc: batching).
        self._pending: dict[int, IndexedArticle] = {}
        self._last_commit = -math.inf
        self._write_lock = asyncio.Lock()  # one catch-up at a time in this process
        self._reader_lock = threading.Lock()
        # The highest id this process knows to be indexed (a search skips the catch-up below it).
        self.known_max = 0

    @classmethod
    def open(cls, database_path: Path | str, source: ArticleSource) -> SearchIndex:
        """The index of the database at `database_path` (created empty when missing; in memory for an
        in-memory database). An index this version cannot read is removed and started anew."""
        return cls.at(index_directory(database_path), source)

    @classmethod
    def at(cls, directory: Path | None, source: ArticleSource) -> SearchIndex:
        """The index in `directory` (None: in memory, built from `source` by the first catch-up)."""
        if directory is None:
            return cls(tantivy.Index(SCHEMA), None, source)
        directory.mkdir(parents=True, exist_ok=True)
        try:
            index = tantivy.Index(SCHEMA, path=str(directory), reuse=True)
        except ValueError as error:
            log.warning(
                "search index %s unreadable or of another version (%s): it is built again from the database",
                directory,
                error,
            )
            shutil.rmtree(directory, ignore_errors=True)
            directory.mkdir(parents=True, exist_ok=True)
            index = tantivy.Index(SCHEMA, path=str(directory), reuse=False)
        return cls(index, directory, source)

    # --- reading ---

    def searcher(self) -> tantivy.Searcher:
        """A searcher of the latest commit, this process's or another's (reloading reads one small file)."""
        with self._reader_lock:
            self._index.reload()
            return self._index.searcher()

    def indexed_max(self) -> int:
        """The highest article id in the index (0 when empty). Blocking."""
        hits = self.searcher().search(tantivy.Query.all_query(), 1, count=False, order_by_field="id").hits
        return int(hits[0][0]) if hits else 0

    def document_count(self) -> int:
        """Blocking."""
        return int(self.searcher().num_docs)

    async def search(self, query: tantivy.Query, wanted: int, now: int) -> list[tuple[int, float]]:
        return await asyncio.to_thread(lambda: rank(self.searcher(), query, wanted, now))

    async def document_frequencies(self, tokens: Sequence[str]) -> dict[str, int]:
        """token → articles whose index holds it (stems in any text field, topic tags), tokens in none left
        out. Articles deleted since the last merge still count (tantivy drops them when it merges)."""

        def frequencies() -> dict[str, int]:
            searcher = self.searcher()
            found = {}
            for token in dict.fromkeys(tokens):
                documents = int(searcher.doc_freq("text", token))
                if token.startswith(_TAG_PREFIX):  # a topic tag (or a word that starts the same: "topical")
                    documents = max(documents, int(searcher.doc_freq("tags", token)))
                if documents:
                    found[token] = documents
            return found

        return await asyncio.to_thread(frequencies)

    async def count(self, query: tantivy.Query) -> int:
        """Every match, counted exactly."""

        def counted() -> int:
            # A limit of 0 is refused by tantivy; `count` is missing from the bindings' type stubs.
            result = self.searcher().search(query, 1, count=True)
            return int(getattr(result, "count", 0) or 0)

        return await asyncio.to_thread(counted)

    # --- writing ---

    def _writer(self, wait_seconds: float) -> tantivy.IndexWriter:
        """The index's writer, waiting up to `wait_seconds` while another process holds it. Blocking."""
        deadline = time.monotonic() + wait_seconds
        while True:
            try:
                return self._index.writer(heap_size=WRITER_HEAP_BYTES, num_threads=1)
            except ValueError as error:
                if "LockBusy" not in str(error):
                    raise
                if time.monotonic() >= deadline:
                    raise IndexBusyError(str(error)) from error
            time.sleep(_WRITER_RETRY_SECONDS)

    async def add(self, given: Mapping[int, IndexedArticle]) -> None:
        """Articles just committed to the table: indexed now when the last commit is COMMIT_INTERVAL_SECONDS
        old or PENDING_LIMIT wait, else with a later batch, search or close (commits of a few hundred
        documents cost tantivy several times more per document than commits of thousands)."""
        self._pending.update(given)
        due = time.monotonic() - self._last_commit >= COMMIT_INTERVAL_SECONDS
        if not due and len(self._pending) < PENDING_LIMIT:
            return
        try:
            await self.catch_up()
        except IndexBusyError as error:
            log.warning("search index busy (%s): the articles are indexed by the next catch-up", error)
            if len(self._pending) > 4 * PENDING_LIMIT:
                self._pending.clear()  # memory stays bounded; the catch-up reads them from the table

    async def flush(self) -> None:
        """Index what this process has stored and not indexed (at close)."""
        if self._pending:
            await self.catch_up()

    async def catch_up(
        self,
        *,
        wait_seconds: float | None = None,
        rebuild: bool = False,
    ) -> int:
        """Index every article of the table with an id above the index's highest (all of them with
        `rebuild`), with the stems this process has where it has them; returns how many were added.
        IndexBusyError when another process holds the writer past `wait_seconds` (WRITER_WAIT_SECONDS)."""
        source = self.source
        given = self._pending
        wait_seconds = WRITER_WAIT_SECONDS if wait_seconds is None else wait_seconds
        async with self._write_lock:
            writer = await asyncio.to_thread(self._writer, wait_seconds)
            added = pending = 0
            try:
                deleted = await source.deletions()
                if rebuild:
                    await asyncio.to_thread(writer.delete_all_documents)
                elif deleted:
                    await asyncio.to_thread(_delete_all, writer, deleted)
                if rebuild or deleted:
                    # Committed before the highest id is read: a deleted newest article's id may come back.
                    await asyncio.to_thread(writer.commit)
                    await source.forget_deletions(deleted)
                # Read under the writer's lock: no other process can move it now.
                after = await asyncio.to_thread(self.indexed_max)
                while ids := await source.ids_after(after, CATCH_UP_CHUNK):
                    rows = {a.id: a for a in await source.rows([i for i in ids if i not in given])}
                    batch = [given.get(i) or rows[i] for i in ids if i in given or i in rows]
                    await asyncio.to_thread(_add_all, writer, batch)
                    added += len(batch)
                    pending += len(batch)
                    after = ids[-1]
                    if pending >= COMMIT_EVERY:  # a long rebuild keeps what it has done if it is killed
                        await asyncio.to_thread(writer.commit)
                        pending = 0
                if pending or rebuild:
                    await asyncio.to_thread(writer.commit)
                self.known_max = after
                self._last_commit = time.monotonic()
                for article_id in [i for i in given if i <= after]:
                    del given[article_id]
            finally:
                # Merges finish here, and the directory's lock is released for other processes.
                await asyncio.to_thread(writer.wait_merging_threads)
        return added

    async def check(self) -> bool:
        """True when the index holds exactly the database's articles up to the index's highest id; when it
        does not (a database restored or copied under an old index), it is rebuilt and False returned."""
        highest, documents = await asyncio.to_thread(lambda: (self.indexed_max(), self.document_count()))
        if await self.source.count_up_to(highest) == documents:
            return True
        log.warning(
            "search index %s does not match the database (%d documents up to article %d): rebuilding it",
            self.directory or "(memory)",
            documents,
            highest,
        )
        await self.catch_up(rebuild=True)
        return False


def _delete_all(writer: tantivy.IndexWriter, ids: Sequence[int]) -> None:
    for article_id in ids:
        writer.delete_documents_by_term("id", article_id)


def _add_all(writer: tantivy.IndexWriter, batch: Sequence[IndexedArticle]) -> None:
    for article in batch:
        writer.add_document(_document(article))


class ArticleSource(Protocol):
    """Where a catch-up reads articles from (the archive's table)."""

    async def ids_after(self, after: int, limit: int) -> list[int]:
        """Article ids above `after`, ascending, at most `limit`."""

    async def rows(self, ids: Sequence[int]) -> list[IndexedArticle]:
        """Those articles, stemmed for the index."""

    async def count_up_to(self, highest: int) -> int:
        """Articles with an id up to `highest`."""

    async def deletions(self) -> list[int]:
        """Ids of articles deleted from the table that the index may still hold."""

    async def forget_deletions(self, ids: Sequence[int]) -> None:
        """The index has dropped these."""
