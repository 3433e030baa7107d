"""`db copy` orchestration (storage/copy.py) on both backends: SQLite -> PostgreSQL -> SQLite keeps every row of
every table and every id, search on the copy finds what it found on the original, an interrupted copy resumed
ends the same, and a copy into the same database or into a foreign non-empty one is refused."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.archive.models import Article
from bot.archive.parsing import make_article
from bot.archive.query import parse_query
from bot.clock import FixedClock
from bot.digest.records import PartDraft
from bot.sources.clustering import sketch
from bot.sources.records import NewSource
from storage import Storage
from storage.copy import (
    TABLES,
    CopyRefused,
    Dump,
    Progress,
    Row,
    TableSpec,
    copy_database,
    copy_urls,
)
from storage.postgres import PostgresStorage
from storage.postgres.dump import PostgresDump
from storage.sqlite import SqliteStorage
from storage.sqlite.dump import SqliteDump
from tests.conftest import drop_schema, postgres_test_url

PUBLISHED = datetime(2025, 3, 1, 9, 30, tzinfo=UTC)
WORDS = ("импортозамещение", "Госсовет", "губернатор", "бюджет", "дороги", "школы")
QUERIES = ("Госсовет", "импортозамещения губернаторы", '"новые дороги"', "бюджет -школы", "тема:госсовет")


def _article(number: int) -> Article:
    first, second = WORDS[number % len(WORDS)], WORDS[(number * 5 + 1) % len(WORDS)]
    return make_article(
        title=f"Новость {number}: {first} и {second}",
        lead=f"Глава региона обсудил {second} на заседании номер {number}.",
        body=[f"Абзац {number}: новые дороги и {first}.", "Второй абзац про Госсовет."],
        published_at=PUBLISHED + timedelta(hours=number * 7),
        views=None if number % 4 == 0 else number * 100,
        source="tass" if number % 2 else "government",
        url=None if number % 5 == 0 else f"https://example.ru/news/{number}",
    )


async def populate(storage: SqliteStorage) -> list[int]:
    """A little of everything, through the repositories; article 5 deleted, so the ids have a gap."""
    articles = [_article(number) for number in range(1, 14)]
    ids = (await storage.articles.add_many(articles)).new_ids
    async with storage.db.transaction() as conn:  # an operator's delete: the ranking index follows it
        await conn.execute("DELETE FROM articles WHERE id = ?", (ids[4],))
    ids.pop(4)

    chats, subs, outbox, sources = storage.chats, storage.subscriptions, storage.outbox, storage.sources
    await chats.upsert(-1001234567890, type="supergroup", title="Группа «Новости»", username="grp")
    await chats.upsert(42, type="private", username="ivan", locale="en", timezone="Asia/Tokyo")
    await chats.upsert(7, type="private", title=None)
    await chats.set_frequency(42, "weekly", 3)
    await chats.set_max_items(42, 5)
    await chats.set_notify_empty(-1001234567890, True)
    await chats.set_paused(7, True)
    await chats.deactivate(7, "blocked by the user")
    await subs.set_gov_news(42, True)
    await subs.set_gov_news(-1001234567890, True)
    await subs.add_query(42, "госсовет")
    query, _ = await subs.add_query(-1001234567890, "импортозамещение")
    await subs.set_query_enabled(-1001234567890, query.id, False)

    job = await outbox.create_digest_job(
        42,
        period_start=PUBLISHED,
        period_end=PUBLISHED + timedelta(days=1),
        parts=[PartDraft("<b>Дайджест</b>", '{"inline_keyboard": []}'), PartDraft("вторая часть")],
        items=ids[:6],
        page_size=3,
    )
    assert job is not None
    assert await outbox.begin_job(job)
    assert await outbox.mark_part_sending(job, 0)
    await outbox.mark_part_sent(job, 0, 555)
    await outbox.create_broadcast("Привет всем", created_by=1000, chat_ids=[42, -1001234567890])
    fanout = await outbox.start_fanout("digest")
    await outbox.finish_fanout(fanout, jobs=1, sent=1, retried=0, failed=0, messages=2)

    await sources.add_defaults([NewSource(url="https://default.example.ru/rss", name="По умолчанию")])
    source = await sources.add(NewSource(url="https://example.ru/rss", name="Пример"))
    await sources.record_success(
        source,
        now=PUBLISHED,
        items=3,
        new=2,
        etag='"abc"',
        last_modified="Sat, 01 Mar 2025",
        redirect_url=None,
    )
    await sources.remember_items(source.id, ["guid-1", "guid-2", "Ключ"], ids[:2], now=PUBLISHED)
    kept = [article for index, article in enumerate(articles) if index != 4]
    await sources.save_clusters(
        [
            (ids[i], ids[0], kept[i].source, kept[i].published_at, sketch(kept[i].title, kept[i].lead))
            for i in range(3)
        ]
    )
    await storage.search_keys.remember("k3y", "госсовет -школы", expires_at=PUBLISHED + timedelta(days=400))
    return ids


async def all_rows(dump: Dump) -> dict[str, list[Row]]:
    return {table.name: await dump.read_batch(table, None, 1_000_000) for table in TABLES}


async def found(storage: Storage) -> dict[str, tuple[set[int], int]]:
    """What each query finds (ids, any order: the two backends rank alike but not to the last tie) and counts."""
    result = {}
    for text in QUERIES:
        query = parse_query(text)
        hits = await storage.articles.search(query, limit=100)
        result[text] = ({hit.article_id for hit in hits}, await storage.articles.count(query))
    return result


@pytest.fixture
async def source(tmp_path: Path, clock: FixedClock) -> AsyncIterator[SqliteStorage]:
    opened = await SqliteStorage.open(tmp_path / "source.db", clock=clock)
    await populate(opened)
    try:
        yield opened
    finally:
        await opened.close()


@pytest.fixture
async def pg(postgres_schema: tuple[str, str], clock: FixedClock) -> AsyncIterator[PostgresStorage]:
    url, schema = postgres_schema
    opened = await PostgresStorage.open(url, clock=clock, schema=schema, pool_size=4)
    try:
        yield opened
    finally:
        await opened.close()


@pytest.fixture
async def back(tmp_path: Path, clock: FixedClock) -> AsyncIterator[SqliteStorage]:
    opened = await SqliteStorage.open(tmp_path / "back.db", clock=clock)
    try:
        yield opened
    finally:
        await opened.close()


def _dump(storage: Storage) -> Dump:
    if isinstance(storage, PostgresStorage):
        return PostgresDump(storage.db)
    assert isinstance(storage, SqliteStorage)
    return SqliteDump(storage.db)


async def test_round_trip_keeps_every_row_id_and_search(
    source: SqliteStorage, pg: PostgresStorage, back: SqliteStorage
) -> None:
    seen: list[tuple[str, int, int]] = []
    report = await copy_database(
        _dump(source), _dump(pg), batch_rows=3, progress=lambda *line: seen.append(line)
    )
    assert report.differing == []
    rows = await all_rows(_dump(source))
    assert report.copied == sum(len(table_rows) for table_rows in rows.values())
    assert {count.table: count.destination for count in report.counts} == {
        name: len(table_rows) for name, table_rows in rows.items()
    }
    assert ("articles", 3, 12) in seen and ("articles", 12, 12) in seen and ("chats", 3, 3) in seen
    assert await all_rows(_dump(pg)) == rows

    report = await copy_database(_dump(pg), _dump(back), batch_rows=5)
    assert report.differing == []
    assert await all_rows(_dump(back)) == rows
    assert [row[0] for row in rows["articles"]] == [1, 2, 3, 4, *range(6, 14)]  # the gap stays a gap

    expected = await found(source)
    assert any(ids for ids, _ in expected.values())
    assert await found(pg) == expected
    assert await found(back) == expected
    assert await back.articles.stats() == await source.articles.stats()
    assert await pg.articles.stats() == await source.articles.stats()
    tokens = ["госсовет", "губернатор", "дорог", "нов", "topicstate_council", "нетакогослова"]
    frequencies = await source.articles.document_frequencies(tokens)
    assert await back.articles.document_frequencies(tokens) == frequencies
    assert await pg.articles.document_frequencies(tokens) == frequencies

    # The outbox's article ids still name the same articles; new rows get fresh ids (sequences moved on).
    for storage in (source, pg, back):
        job = (await storage.outbox.jobs_for_chat(42))[-1]
        assert await storage.outbox.job_items(job.id) == tuple(row[0] for row in rows["articles"][:6])
        added = await storage.articles.add_many([_article(99)])
        assert added.new_ids == [14]
        query, created = await storage.subscriptions.add_query(7, "новая подписка")
        assert created and query.id == 3
        assert (await storage.sources.add(NewSource(url="https://new.example.ru", name="Новый"))).id == 3
        assert await storage.outbox.start_fanout("broadcast") == 2


class Interrupt(Exception):
    pass


def _stop_after(batches: int) -> Progress:
    calls = 0

    def progress(table: str, done: int, total: int) -> None:
        nonlocal calls
        calls += 1
        if calls == batches:
            raise Interrupt(table)

    return progress


@pytest.fixture(params=["postgres", "sqlite"])
async def middle(request: pytest.FixtureRequest, tmp_path: Path, clock: FixedClock) -> AsyncIterator[Storage]:
    """Where the interrupted copies go through: PostgreSQL (skipped without a server), or another SQLite file."""
    if request.param == "sqlite":
        opened: Storage = await SqliteStorage.open(tmp_path / "middle.db", clock=clock)
        try:
            yield opened
        finally:
            await opened.close()
        return
    url, schema = postgres_test_url(), f"test_{uuid.uuid4().hex[:16]}"
    opened = await PostgresStorage.open(url, clock=clock, schema=schema, pool_size=4)
    try:
        yield opened
    finally:
        await opened.close()
        await drop_schema(url, schema)


@pytest.mark.parametrize("stop_after", [1, 4, 9, 17])
async def test_interrupted_copy_resumes_to_the_same_result(
    source: SqliteStorage, middle: Storage, back: SqliteStorage, stop_after: int
) -> None:
    rows = await all_rows(_dump(source))
    total = sum(len(table_rows) for table_rows in rows.values())
    hops: list[tuple[Storage, Storage]] = [(source, middle), (middle, back)]
    for origin, target in hops:
        with pytest.raises(Interrupt):
            await copy_database(_dump(origin), _dump(target), batch_rows=2, progress=_stop_after(stop_after))
        partial = await all_rows(_dump(target))
        assert 0 < sum(len(table_rows) for table_rows in partial.values()) < total
        report = await copy_database(_dump(origin), _dump(target), batch_rows=2)
        assert report.differing == []
        assert await all_rows(_dump(target)) == rows
        assert report.copied == total - sum(len(table_rows) for table_rows in partial.values())
        # Run once more over a complete copy: nothing to do, nothing doubled.
        again = await copy_database(_dump(origin), _dump(target), batch_rows=2)
        assert again.copied == 0 and again.differing == []
    assert await found(back) == await found(source)


async def test_same_database_is_refused(source: SqliteStorage, tmp_path: Path, clock: FixedClock) -> None:
    url = f"sqlite:///{tmp_path / 'source.db'}"
    with pytest.raises(CopyRefused, match="same database"):
        await copy_urls(url, url)
    with pytest.raises(CopyRefused, match="same database"):
        await copy_urls(url, f"sqlite:///{tmp_path}/../{tmp_path.name}/source.db")
    twin = await SqliteStorage.open(tmp_path / "source.db", clock=clock)
    try:
        with pytest.raises(CopyRefused, match="same database"):
            await copy_database(_dump(source), _dump(twin))
    finally:
        await twin.close()


async def test_same_postgres_database_is_refused(
    pg: PostgresStorage, postgres_schema: tuple[str, str], clock: FixedClock
) -> None:
    url, schema = postgres_schema
    twin = await PostgresStorage.open(url, clock=clock, schema=schema, pool_size=2)
    try:
        with pytest.raises(CopyRefused, match="same database"):
            await copy_database(_dump(pg), _dump(twin))
    finally:
        await twin.close()


async def test_missing_source_file_is_an_error(tmp_path: Path) -> None:
    from storage import StorageError

    with pytest.raises(StorageError, match="does not exist"):
        await copy_urls(f"sqlite:///{tmp_path / 'typo.db'}", f"sqlite:///{tmp_path / 'new.db'}")
    assert not (tmp_path / "typo.db").exists()


async def test_a_foreign_destination_is_refused(source: SqliteStorage, pg: PostgresStorage) -> None:
    await pg.chats.upsert(5, type="private")  # a chat the source does not have
    with pytest.raises(CopyRefused, match="not an interrupted copy"):
        await copy_database(_dump(source), _dump(pg))
    assert await PostgresDump(pg.db).count(TABLES[0]) == 0  # nothing copied


async def test_a_destination_with_other_articles_is_refused(
    source: SqliteStorage, back: SqliteStorage
) -> None:
    await back.articles.add_many([_article(50), _article(51)])
    with pytest.raises(CopyRefused, match="articles rows are not the source's"):
        await copy_database(_dump(source), _dump(back))
    # More rows than the source, or rows after a table that is not complete, are refused too.
    await back.articles.add_many([_article(n) for n in range(60, 75)])
    with pytest.raises(CopyRefused, match="articles has 17 rows there, 12 in the source"):
        await copy_database(_dump(source), _dump(back))


async def test_rows_after_an_incomplete_table_are_refused(source: SqliteStorage, back: SqliteStorage) -> None:
    with pytest.raises(Interrupt):
        await copy_database(_dump(source), _dump(back), batch_rows=2, progress=_stop_after(1))
    await back.chats.upsert(42, type="private")
    with pytest.raises(CopyRefused, match="rows in chats but articles is not complete"):
        await copy_database(_dump(source), _dump(back))


class _Lossy:
    """A destination that loses one row of a table: the final counts name that table."""

    def __init__(self, inner: Dump, table: str) -> None:
        self.inner = inner
        self.table = table

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)

    async def write_batch(self, table: TableSpec, rows: Sequence[Row]) -> int:
        if table.name == self.table and rows:
            rows = rows[1:]
            self.table = ""
        return await self.inner.write_batch(table, rows)


async def test_counts_that_differ_name_the_table(source: SqliteStorage, back: SqliteStorage) -> None:
    report = await copy_database(_dump(source), _Lossy(_dump(back), "article_topics"))  # type: ignore[arg-type]
    assert [(c.table, c.source - c.destination) for c in report.differing] == [("article_topics", 1)]
