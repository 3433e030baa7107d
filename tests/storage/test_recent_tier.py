"""PostgreSQL's recent tier (storage/postgres/migrations/m0006_recent_tier.py): the newest articles' vectors
in a small table of their own, kept by a trigger on every insert, searched first for frequent words."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from bot.archive.query import parse_query
from bot.clock import FixedClock
from storage.postgres import PostgresStorage
from storage.postgres import articles as postgres_articles
from tests.conftest import TEST_NOW
from tests.storage.test_articles import T0, make


@pytest.fixture
async def pg(postgres_schema: tuple[str, str]) -> AsyncIterator[PostgresStorage]:
    url, schema = postgres_schema
    storage = await PostgresStorage.open(url, clock=FixedClock(TEST_NOW), schema=schema, pool_size=2)
    try:
        yield storage
    finally:
        await storage.close()


async def tier_state(pg: PostgresStorage) -> tuple[set[int], set[int], int]:
    """(ids in the tier, ids of every article at or after the floor, the tier's own row count)."""
    floor, rows = await pg.db.fetchrow("SELECT floor, rows FROM recent_tier")  # type: ignore[misc]
    tier = {r["id"] for r in await pg.db.fetch("SELECT id FROM recent_articles")}
    after = {r["id"] for r in await pg.db.fetch("SELECT id FROM articles WHERE published_at >= $1", floor)}
    return tier, after, int(rows)


async def test_the_tier_holds_exactly_the_articles_after_its_floor(pg: PostgresStorage) -> None:
    await pg.db.execute("UPDATE recent_tier SET target = 20")
    moments = [T0 + timedelta(minutes=n) for n in range(200)]
    random.Random(3).shuffle(moments)  # backfills of old news among new ones
    floors = []
    for batch in range(0, 200, 10):
        await pg.articles.add_many(
            [make(f"Статья {n}", published_at=moments[n]) for n in range(batch, batch + 10)]
        )
        tier, after, rows = await tier_state(pg)
        assert tier == after and rows == len(tier)
        assert len(tier) <= 2 * 20 + 10
        floors.append(await pg.db.fetchval("SELECT extract(epoch FROM floor)::float8 FROM recent_tier"))
    assert floors == sorted(floors) and len(set(floors)) >= 3  # trimmed twice or more, the floor only rises
    newest = {
        r["id"] for r in await pg.db.fetch("SELECT id FROM articles ORDER BY published_at DESC LIMIT 20")
    }
    assert newest <= tier
    # The same articles again: nothing inserted, the tier unchanged.
    await pg.articles.add_many([make(f"Статья {n}", published_at=moments[n]) for n in range(10)])
    assert await tier_state(pg) == (tier, after, rows)


async def test_searching_the_tier_first_finds_what_the_whole_archive_finds(
    pg: PostgresStorage, monkeypatch: pytest.MonkeyPatch
) -> None:
    await pg.db.execute("UPDATE recent_tier SET target = 40")
    monkeypatch.setattr(postgres_articles, "EXACT_RANKING_UP_TO", 0)
    monkeypatch.setattr(postgres_articles, "SEARCH_WINDOW", 10)
    articles = [
        make(
            f"Заседание {i}" + (" комиссии" if i % 3 == 0 else ""),
            "Губернатор выступил." if i % 2 == 0 else "Текст.",
            ("Министр ответил." if i < 50 else "Совещание.",),
            published_at=T0 + timedelta(hours=i),
        )
        for i in range(300)
    ]
    await pg.articles.add_many(articles[150:])
    await pg.articles.add_many(articles[:150])  # older news after newer: below the floor, not in the tier
    tables: list[str] = []
    page_sql = postgres_articles.page_sql

    def spy(*args: object, **kwargs: object) -> str:
        tables.append(str(kwargs.get("table", "articles")))
        return page_sql(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(postgres_articles, "page_sql", spy)
    for text in ("заседание", "заседание комиссии", "губернатор", "заседание -губернатор", "министр"):
        query = parse_query(text)
        tables.clear()
        found = [(h.article_id, h.rank) for h in await pg.articles.search(query, limit=5, offset=3)]
        used = list(tables)
        with monkeypatch.context() as whole:
            whole.setattr(postgres_articles, "TIER_UP_TO", 0)
            assert [
                (h.article_id, h.rank) for h in await pg.articles.search(query, limit=5, offset=3)
            ] == found
        if text in ("заседание", "губернатор"):
            assert used == ["recent_articles"], text  # a full window in the tier: nothing else read
        if text == "министр":  # only old articles have it: the tier is not even asked (its df says so)
            assert "recent_articles" not in used
