"""ArticleStore.document_frequencies: articles per index token (SQLite: the ranking index's term dictionary;
PostgreSQL: the article_vocab table add_many keeps up to date)."""

from __future__ import annotations

from bot.archive.morphology import stem_parts
from storage.interfaces import Storage
from tests.storage.test_articles import make


async def test_counts_articles_not_occurrences_in_any_column(storage: Storage) -> None:
    repo = storage.articles
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


async def test_hostile_tokens_are_values_not_sql(storage: Storage) -> None:
    repo = storage.articles
    await repo.add_many([make("Комиссия")])
    tokens = ["'; DROP TABLE articles;--", '"', "*", "комисс OR 1=1", "NEAR(a b)", "комисс", "комисс'", "\\"]
    assert await repo.document_frequencies(tokens) == {"комисс": 1}
    assert (await repo.stats()).articles == 1


async def test_long_token_lists(storage: Storage) -> None:
    repo = storage.articles
    await repo.add_many([make(f"Слово{n} общее") for n in range(20)])
    tokens = [f"слово{n}" for n in range(40)] + ["общ"]
    frequencies = await repo.document_frequencies(tokens)
    assert frequencies == {**{f"слово{n}": 1 for n in range(20)}, "общ": 20}


async def test_topic_tags_and_every_field_count_and_later_batches_add_up(storage: Storage) -> None:
    repo = storage.articles
    await repo.add_many([make("Заседание", topics=frozenset({"governor"})), make("Новости", "Заседание")])
    await repo.add_many(
        [make("Итоги", body=("Заседание прошло.",), topics=frozenset({"governor", "ministry"}))]
    )
    await repo.add_many([make("Итоги", body=("Заседание прошло.",))])  # a duplicate counts nothing
    [meeting] = stem_parts("заседание")
    frequencies = await repo.document_frequencies([meeting, "topicgovernor", "topicministry"])
    assert frequencies == {meeting: 3, "topicgovernor": 2, "topicministry": 1}
