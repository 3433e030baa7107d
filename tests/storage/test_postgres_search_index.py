"""Each PostgreSQL instance's own ranking index (storage/postgres/index_source.py, storage/index_search.py):
caught up from the shared table before a search, deletions read from the log by every instance, kept in
SEARCH_INDEX_DIR across restarts and rebuilt when it does not match the database. Skipped without a test
server (tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path

from bot.archive.query import parse_query
from bot.clock import FixedClock
from storage.postgres import PostgresStorage
from tests.storage.test_articles import make


async def _open(url: str, schema: str, clock: FixedClock, index_dir: Path | None = None) -> PostgresStorage:
    return await PostgresStorage.open(
        url, clock=clock, schema=schema, pool_size=2, search_index_dir=index_dir
    )


async def _found(storage: PostgresStorage, text: str) -> list[int]:
    return [hit.article_id for hit in await storage.articles.search(parse_query(text), limit=10)]


async def test_an_instance_finds_what_another_stored_and_both_drop_a_deleted_article(
    postgres_schema: tuple[str, str], clock: FixedClock
) -> None:
    url, schema = postgres_schema
    first = await _open(url, schema, clock)
    second = await _open(url, schema, clock)
    try:
        assert await _found(second, "губернатор") == []
        ids = (
            await first.articles.add_many(
                [make("Губернатор открыл школу"), make("Губернатор провёл совещание", url="https://b.ru/2")]
            )
        ).new_ids
        # The second instance never saw the batch: its search catches its own index up from the table.
        assert sorted(await _found(second, "губернатор")) == sorted(ids)
        assert await second.articles.count(parse_query("губернатор")) == 2
        # An operator's DELETE is logged; each instance drops it from its own index, the log stays.
        await first.db.execute("DELETE FROM articles WHERE id = $1", ids[0])
        assert await _found(first, "губернатор") == [ids[1]]
        assert await _found(second, "губернатор") == [ids[1]]
        assert await first.db.fetchval("SELECT count(*) FROM search_index_deletions") == 1
        # Read once per instance: the next searches find nothing new to delete.
        assert await second.articles._freshness() == (ids[1], False)
    finally:
        await first.close()
        await second.close()


async def test_a_kept_index_is_reused_after_a_restart_and_rebuilt_when_it_does_not_match(
    postgres_schema: tuple[str, str], clock: FixedClock, tmp_path: Path
) -> None:
    url, schema = postgres_schema
    index_dir = tmp_path / "search"
    storage = await _open(url, schema, clock, index_dir)
    try:
        ids = (await storage.articles.add_many([make(f"Заседание комиссии {i}") for i in range(5)])).new_ids
    finally:
        await storage.close()  # flushes what waits for the index's next commit
    assert any(index_dir.iterdir())
    storage = await _open(url, schema, clock, index_dir)
    try:
        assert await storage.articles.prepare_search() == 0  # nothing to index again
        assert sorted(await _found(storage, "комиссия")) == sorted(ids)
        # Behind the index's back (TRUNCATE is not logged): the start check sees the counts differ.
        await storage.db.execute("TRUNCATE articles CASCADE")
        added = (await storage.articles.add_many([make("Новое заседание")])).new_ids
    finally:
        await storage.close()
    storage = await _open(url, schema, clock, index_dir)
    try:
        assert await _found(storage, "заседание") == added
    finally:
        await storage.close()
