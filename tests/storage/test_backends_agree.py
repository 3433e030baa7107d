"""SQLite and PostgreSQL find the same articles: real news (a sample of /work/shared/corpus, in
tests/fixtures/search/corpus_sample.jsonl) go through the ingest pipeline's parser into both backends, and a
table of queries — word forms, several words, phrases, exclusions, dates, topics, hostile text — must give the
same set of articles (compared by content hash: ids may differ) and the same counts on both.

The bounded ranking (BM25F over the newest matches) is the same formula on both, so there the order and the
scores must agree too. Skipped without a PostgreSQL test server (tests/conftest.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import pytest

from bot.archive.classify import TOPICS
from bot.archive.ingest import Parsed, WorkItem, process_batch
from bot.archive.morphology import StemmedArticle
from bot.archive.query import parse_query
from bot.clock import FixedClock
from storage.interfaces import Storage
from storage.postgres import PostgresStorage
from storage.postgres.tsquery import lexeme
from storage.postgres.tsquery import topic_tag as postgres_topic_tag
from storage.postgres.vocab import article_vectors
from storage.search_index import topic_tag as sqlite_topic_tag
from storage.sqlite import SqliteStorage
from tests.conftest import FIXTURES, TEST_NOW

SAMPLE = FIXTURES / "search" / "corpus_sample.jsonl"

QUERIES = [
    # single words, in other grammatical forms than in the texts
    "губернаторы",
    "министерству",
    "правительством",
    "заседания",
    "комиссиями",
    "президентом",
    "промышленностью",
    "объём",  # ё in the query, е or ё in the texts
    "учётом",
    # several words
    "правительство россии",
    "министр финансов",
    "заседание комиссии губернатор",
    "москва строительство",
    # phrases, hyphenated words, numbers, Latin
    '"министерства финансов"',
    '"российской федерации"',
    '"в москве"',
    '"по словам"',
    "пресс-служба",
    "вице-премьер",
    "топ-10",
    "nord stream",
    "2025",
    "interfax",
    # exclusions
    "правительство -москва",
    'министр -"министерство финансов"',
    "россия -президент -губернатор",
    # dates (Moscow days) and topics
    "правительство с:01.09.2025",
    "россия по:31.12.2016",
    "с:01.01.2014 по:31.12.2019 россия",
    "заседание тема:governor",
    "россия тема:ministry тема:parliament",
    "тема:Госсовет губернатор",
    # hostile or empty
    '" OR 1=1 --',
    "a:b & | ! <-> ( )",
    "'; DROP TABLE articles;--",
    "россия:* & !'",
    "\\'\\\\ '' ''' россия",
    "<-> <2> !!! ((( )))",
    "NEAR(россия москва) AND title:россия",
    "",
    "и в на",
    "с:99.99.9999",
    "слово " * 40,
]


def sample_articles() -> list[Parsed]:
    items = [
        WorkItem(f"{SAMPLE.name}:{number}", str(SAMPLE), None, line)
        for number, line in enumerate(SAMPLE.read_text(encoding="utf-8").splitlines(), 1)
    ]
    parsed = [result for result in process_batch(items, TEST_NOW) if isinstance(result, Parsed)]
    assert len(parsed) == len(items)
    return parsed


@pytest.fixture
async def backends(
    tmp_path: Path, clock: FixedClock, postgres_schema: tuple[str, str]
) -> AsyncIterator[tuple[Storage, Storage]]:
    """(SQLite, PostgreSQL), both holding the sample."""
    url, schema = postgres_schema
    sqlite = await SqliteStorage.open(tmp_path / "agree.db", clock=clock)
    postgres = await PostgresStorage.open(url, clock=clock, schema=schema, pool_size=2)
    try:
        parsed = sample_articles()
        for storage in (sqlite, postgres):
            result = await storage.articles.add_many([p.article for p in parsed], [p.stemmed for p in parsed])
            assert len(result.new_ids) == len(parsed)
        yield sqlite, postgres
    finally:
        await sqlite.close()
        await postgres.close()


async def _matches(
    storage: Storage, text: str, since: datetime | None = None, until: datetime | None = None
) -> tuple[set[str], int]:
    query = parse_query(text)
    hits = await storage.articles.search(
        query, limit=10_000, exhaustive=True, snippets=False, since=since, until=until
    )
    stored = await storage.articles.get_many([hit.article_id for hit in hits])
    assert len(stored) == len(hits)
    return {article.content_hash for article in stored}, await storage.articles.count(
        query, since=since, until=until
    )


async def test_the_same_queries_find_the_same_articles(backends: tuple[Storage, Storage]) -> None:
    sqlite, postgres = backends
    disagree = []
    found_something = 0
    for text in QUERIES:
        expected, expected_count = await _matches(sqlite, text)
        got, got_count = await _matches(postgres, text)
        found_something += bool(expected)
        if got != expected or got_count != expected_count or expected_count != len(expected):
            disagree.append((text, len(expected), len(got), expected_count, got_count))
    assert disagree == []
    assert found_something >= 30  # the table means something: most queries find articles


async def test_date_bounds_and_capped_counts_agree(backends: tuple[Storage, Storage]) -> None:
    sqlite, postgres = backends
    since = datetime(2025, 9, 10, 12, 30, 15, 500_000, tzinfo=UTC)
    until = datetime(2025, 9, 20, tzinfo=UTC)
    for text in ("россия", "правительство", '"по словам"'):
        for low, high in ((since, None), (None, until), (since, until)):
            assert await _matches(postgres, text, low, high) == await _matches(sqlite, text, low, high)
        for cap in (0, 1, 5):
            query = parse_query(text)
            assert await postgres.articles.count(query, cap=cap) == await sqlite.articles.count(
                query, cap=cap
            )


async def test_vocabularies_agree(backends: tuple[Storage, Storage]) -> None:
    sqlite, postgres = backends
    parsed = sample_articles()
    tokens = sorted({token for p in parsed for token in p.stemmed.title.split()})[:400]
    tokens += ["topicgovernor", "topicministry", "несуществующ", "'", "a b"]
    expected = await sqlite.articles.document_frequencies(tokens)
    assert expected and await postgres.articles.document_frequencies(tokens) == expected


def test_topic_tags_are_the_same_index_tokens() -> None:
    assert [postgres_topic_tag(topic) for topic in TOPICS] == [sqlite_topic_tag(topic) for topic in TOPICS]


async def test_lexemes_reach_postgresql_as_they_are(postgres_schema: tuple[str, str]) -> None:
    """Vector and query literals hold any token unchanged (index tokens are letters and digits; the quoting
    is checked with worse ones)."""
    url, _ = postgres_schema
    conn = await asyncpg.connect(url)
    try:
        for token in ("a'b", "back\\slash", "x:y", "!(<->)&|", "ёлка", "v1.2", "''", "\\'"):
            vectors = article_vectors(StemmedArticle(title=token, lead="", body=""), [])
            stored = await conn.fetchval("SELECT tsvector_to_array($1::tsvector)", vectors.search)
            assert stored == [token]
            assert await conn.fetchval("SELECT $1::tsvector @@ $2::tsquery", vectors.search, lexeme(token))
            assert await conn.fetchval("SELECT $1::tsvector @@ $2::tsquery", vectors.head, lexeme(token, "A"))
    finally:
        await conn.close()
