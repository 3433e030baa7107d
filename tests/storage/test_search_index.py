"""The SQLite archive's ranking index (storage/search_index.py): exact ranking over every match, and
staying consistent with the table whatever happens between the two commits."""

from __future__ import annotations

import random
import shutil
from datetime import timedelta
from pathlib import Path

import pytest
import tantivy

from bot.archive.models import Article
from bot.archive.query import parse_query
from bot.clock import FixedClock
from storage import search_index as search_index_module
from storage.search_index import (
    SCHEMA,
    IndexBusyError,
    IndexedArticle,
    SearchIndex,
    compile_query,
    index_directory,
    rank,
    recency,
)
from storage.sqlite import SqliteStorage
from tests.conftest import TEST_NOW
from tests.storage.test_articles import make

NOW = int(TEST_NOW.timestamp())
WORDS = ("губернатор", "заседание", "комиссия", "госсовет", "бюджет", "дорога", "школа", "выборы")


def _index_of(articles: list[IndexedArticle]) -> tantivy.Searcher:
    index = tantivy.Index(SCHEMA)
    writer = index.writer(heap_size=15_000_000, num_threads=1)
    for article in articles:
        writer.add_document(search_index_module._document(article))
    writer.commit()
    writer.wait_merging_threads()
    index.reload()
    return index.searcher()


def _random_articles(count: int, seed: int) -> list[IndexedArticle]:
    from bot.archive.morphology import StemmedArticle, stem_text

    rng = random.Random(seed)
    articles = []
    for article_id in range(1, count + 1):
        title, lead, body = (" ".join(rng.choices(WORDS, k=n)) for n in (rng.randint(1, 3), 4, 12))
        stemmed = StemmedArticle(stem_text(title), stem_text(lead), stem_text(body))
        published = NOW - rng.randint(0, 6 * 365) * 86_400
        articles.append(IndexedArticle(article_id, published, stemmed, frozenset()))
    return articles


def _every_match_scored(
    searcher: tantivy.Searcher, query: tantivy.Query, now: int
) -> list[tuple[int, float]]:
    """The reference: every match's BM25 from tantivy, plus the recency bonus, sorted (no threshold)."""
    hits = searcher.search(query, 10_000, count=False).hits
    top = max(float(score) for score, _ in hits)
    weight = search_index_module.RECENCY_SHARE * top
    addresses = [address for _, address in hits]
    ids = searcher.fast_field_values("id", addresses)
    published = searcher.fast_field_values("published", addresses)
    scored = sorted(
        (
            (float(score) + weight * recency(int(pub or 0), now), int(pub or 0), int(article or 0))
            for (score, _), article, pub in zip(hits, ids, published, strict=True)
        ),
        reverse=True,
    )
    return [(article, score) for score, _, article in scored]


@pytest.mark.parametrize("first_round", [1, 2, 32])
@pytest.mark.parametrize(
    "text", ["губернатор", "губернатор заседание", "госсовет бюджет школа", "выборы -дорога"]
)
def test_threshold_ranking_equals_scoring_every_match(
    monkeypatch: pytest.MonkeyPatch, first_round: int, text: str
) -> None:
    monkeypatch.setattr(search_index_module, "FIRST_ROUND", first_round)
    searcher = _index_of(_random_articles(600, seed=len(text)))
    query = compile_query(parse_query(text))
    assert query is not None
    reference = _every_match_scored(searcher, query, NOW)
    for wanted in (1, 5, 17):
        got = rank(searcher, query, wanted, NOW)
        assert [article for article, _ in got] == [article for article, _ in reference[:wanted]], (
            text,
            wanted,
        )
        assert [round(score, 6) for _, score in got] == [round(score, 6) for _, score in reference[:wanted]]


def test_recency_halves_every_half_life() -> None:
    day = 86_400
    assert recency(NOW, NOW) == 1.0
    assert recency(NOW + day, NOW) == 1.0  # a date in the future counts as now
    half_life = int(search_index_module.RECENCY_HALF_LIFE_DAYS * day)
    assert recency(NOW - half_life, NOW) == pytest.approx(0.5)
    assert recency(NOW - 2 * half_life, NOW) == pytest.approx(0.25)


@pytest.mark.parametrize(
    "text", ['"', "*", "OR", "AND NOT", "(", 'a" OR "b', "title:x", "тема:", "-", "--", "'; DROP TABLE x"]
)
def test_hostile_text_compiles_to_terms_only(text: str) -> None:
    query = compile_query(parse_query(text))
    if query is not None:  # whatever it is, tantivy runs it
        _index_of(_random_articles(5, seed=1)).search(query, 5)


def test_an_in_memory_database_has_an_in_memory_index(tmp_path: Path) -> None:
    assert index_directory(":memory:") is None
    assert index_directory(tmp_path / "a.db") == tmp_path / "a.db-search"


# --- consistency with the table -----------------------------------------------------------------------------


def _articles(count: int, start: int = 0) -> list[Article]:
    return [
        make(f"Заседание комиссии номер {i}", "Губернатор выступил", (f"Текст {i}.",), published_at=TEST_NOW)
        for i in range(start, start + count)
    ]


async def _archive_of(path: Path, count: int, clock: FixedClock) -> Path:
    """A closed archive at `path` holding `count` articles (and their index)."""
    storage = await SqliteStorage.open(path, clock=clock)
    await storage.articles.add_many(_articles(count))
    await storage.close()
    return path


async def _indexed(storage: SqliteStorage) -> int:
    return storage.db.search_index.document_count()


async def test_articles_stored_but_not_indexed_are_found_and_indexed_once(
    tmp_path: Path, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A kill between the table's commit and the index's: here the index's catch-up fails after the rows are
    committed. A search indexes them (once); so does the next start."""
    storage = await SqliteStorage.open(tmp_path / "a.db", clock=clock)
    await storage.articles.add_many(_articles(3))
    assert await storage.articles.count(parse_query("заседание")) == 3  # a search indexes what waits
    catch_up = SearchIndex.catch_up

    async def busy(*args: object, **kwargs: object) -> int:
        raise IndexBusyError("held by another process")

    monkeypatch.setattr(SearchIndex, "catch_up", busy)
    await storage.articles.add_many(_articles(4, start=3))  # stored; not indexed
    assert await _indexed(storage) == 3
    assert await storage.articles.count(parse_query("заседание")) == 3  # the index is busy: what is there
    monkeypatch.setattr(SearchIndex, "catch_up", catch_up)
    assert await storage.articles.count(parse_query("заседание")) == 7
    assert await _indexed(storage) == 7
    await storage.close()

    reopened = await SqliteStorage.open(tmp_path / "a.db", clock=clock)
    assert await _indexed(reopened) == 7
    assert len(await reopened.articles.search(parse_query("губернатор"), limit=50)) == 7
    await reopened.close()


async def test_a_writer_held_elsewhere_makes_searches_go_on_and_writes_wait(
    tmp_path: Path, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    storage = await SqliteStorage.open(tmp_path / "a.db", clock=clock)
    await storage.articles.add_many(_articles(2))
    assert await storage.articles.count(parse_query("заседание")) == 2
    other_process = tantivy.Index.open(str(index_directory(tmp_path / "a.db")))
    writer = other_process.writer(heap_size=15_000_000, num_threads=1)
    monkeypatch.setattr(search_index_module, "WRITER_WAIT_SECONDS", 0.2)
    try:
        with pytest.raises(IndexBusyError):
            await storage.db.search_index.catch_up(wait_seconds=0.1)
        # The batch is stored; its indexing gives up after the wait (logged), the search goes on.
        await storage.articles.add_many(_articles(1, start=2))
        assert await storage.articles.count(parse_query("заседание")) == 2
    finally:
        writer.wait_merging_threads()  # the other writer goes away
    assert await storage.articles.count(parse_query("заседание")) == 3
    await storage.close()


async def test_a_deleted_article_leaves_the_index(tmp_path: Path, clock: FixedClock) -> None:
    storage = await SqliteStorage.open(tmp_path / "a.db", clock=clock)
    ids = (await storage.articles.add_many(_articles(3))).new_ids
    await storage.db.execute("DELETE FROM articles WHERE id = ?", (ids[-1],))  # the newest: its id comes back
    assert await storage.articles.count(parse_query("заседание")) == 2
    again = (await storage.articles.add_many(_articles(1, start=10))).new_ids
    assert again == [ids[-1]]
    hits = await storage.articles.search(parse_query("заседание"), limit=10)
    assert sorted(h.article_id for h in hits) == sorted(ids)
    assert {h.title for h in hits} == {
        "Заседание комиссии номер 0",
        "Заседание комиссии номер 1",
        "Заседание комиссии номер 10",
    }
    await storage.close()


async def test_a_missing_or_stale_index_is_rebuilt_at_start(tmp_path: Path, clock: FixedClock) -> None:
    path = await _archive_of(tmp_path / "a.db", 5, clock)
    shutil.copy(path, tmp_path / "old.db")  # a backup with 5 articles

    storage = await SqliteStorage.open(path, clock=clock)
    await storage.articles.add_many(_articles(3, start=5))
    await storage.close()

    directory = index_directory(path)
    assert directory is not None
    shutil.rmtree(directory)  # deleted: built again from the table
    storage = await SqliteStorage.open(path, clock=clock)
    assert await _indexed(storage) == 8
    assert await storage.articles.count(parse_query("губернатор")) == 8
    await storage.close()

    # The database restored from the backup under the newer index: the index holds articles the table has not.
    shutil.copy(tmp_path / "old.db", path)
    _remove_sidecars(path)
    storage = await SqliteStorage.open(path, clock=clock)
    assert await _indexed(storage) == 5
    assert await storage.articles.count(parse_query("губернатор")) == 5
    await storage.close()


def _remove_sidecars(path: Path) -> None:
    for suffix in ("-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


async def test_an_unreadable_index_is_started_anew(tmp_path: Path, clock: FixedClock) -> None:
    path = await _archive_of(tmp_path / "a.db", 4, clock)
    directory = index_directory(path)
    assert directory is not None
    (directory / "meta.json").write_text("{ not json")
    storage = await SqliteStorage.open(path, clock=clock)
    assert await storage.articles.count(parse_query("заседание")) == 4
    await storage.close()


async def test_dates_topics_and_exclusions_filter_every_match(tmp_path: Path, clock: FixedClock) -> None:
    storage = await SqliteStorage.open(tmp_path / "a.db", clock=clock)
    old = make("Губернатор открыл школу", published_at=TEST_NOW - timedelta(days=400))
    new = make("Губернатор открыл дорогу", published_at=TEST_NOW - timedelta(days=1))
    ids = (await storage.articles.add_many([old, new])).new_ids
    search = storage.articles.search
    assert [h.article_id for h in await search(parse_query("губернатор"), limit=5)] == [ids[1], ids[0]]
    assert [h.article_id for h in await search(parse_query("губернатор -дорога"), limit=5)] == [ids[0]]
    since = TEST_NOW - timedelta(days=30)
    assert [h.article_id for h in await search(parse_query("губернатор"), since=since)] == [ids[1]]
    assert [h.article_id for h in await search(parse_query("губернатор"), until=since)] == [ids[0]]
    assert await search(parse_query("губернатор"), since=since, until=since) == []
    await storage.close()


async def test_an_index_of_an_older_layout_is_rebuilt_at_start(tmp_path: Path, clock: FixedClock) -> None:
    path = await _archive_of(tmp_path / "a.db", 4, clock)
    directory = index_directory(path)
    assert directory is not None
    shutil.rmtree(directory)
    directory.mkdir()
    builder = tantivy.SchemaBuilder()  # another layout (an older or newer version's)
    builder.add_integer_field("id", stored=True, indexed=True, fast=True)
    builder.add_text_field("text", tokenizer_name="whitespace", index_option="position")
    old = tantivy.Index(builder.build(), path=str(directory))
    writer = old.writer(heap_size=15_000_000, num_threads=1)
    writer.add_document(tantivy.Document(id=1, text="заседан"))
    writer.commit()
    writer.wait_merging_threads()
    storage = await SqliteStorage.open(path, clock=clock)
    assert await storage.articles.count(parse_query("заседание")) == 4
    await storage.close()
