"""ArticleStore.document_frequencies: articles per index token, from the fts5vocab table (migration m0004)."""

from __future__ import annotations

import pytest

from bot.archive.morphology import stem_parts
from storage.sqlite import vocab
from storage.sqlite.articles import ArticleRepository
from storage.sqlite.database import Database
from tests.storage.test_articles import make


async def test_counts_articles_not_occurrences_in_any_column(db: Database) -> None:
    repo = ArticleRepository(db)
    await repo.add_many(
        [
            make("Импортозамещение в регионах", "Импортозамещение и снова импортозамещение"),
            make("Заседание комиссии", "Вопросы импортозамещения", ("Губернатор выступил.",)),
            make("Губернатор открыл дорогу", body=("Итоги импортозамещению подвели.",)),
            make("Погода", "Без новостей"),
        ]
    )
    [token] = stem_parts("импортозамещение")
    [governor] = stem_parts("губернатор")
    frequencies = await repo.document_frequencies([token, governor, "несуществующ", token])
    assert frequencies == {token: 3, governor: 2}
    assert await repo.document_frequencies([]) == {}


async def test_hostile_tokens_are_values_not_sql(db: Database) -> None:
    repo = ArticleRepository(db)
    await repo.add_many([make("Комиссия")])
    tokens = ["'; DROP TABLE articles;--", '"', "*", "комисс OR 1=1", "NEAR(a b)", "комисс"]
    assert await repo.document_frequencies(tokens) == {"комисс": 1}
    assert await db.fetchval("SELECT count(*) FROM articles") == 1


async def test_long_token_lists_go_in_chunks(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(vocab, "CHUNK", 7)
    repo = ArticleRepository(db)
    await repo.add_many([make(f"Слово{n} общее") for n in range(20)])
    tokens = [f"слово{n}" for n in range(40)] + ["общ"]
    frequencies = await repo.document_frequencies(tokens)
    assert frequencies == {**{f"слово{n}": 1 for n in range(20)}, "общ": 20}
