"""ArticleStore on both backends: storing once, search (morphology, ranking, phrases, filters, hostile text),
snippets and the reads. Tests of SQLite internals (the recency key, the two ways of finding title words) use the
SQLite repository directly."""

from __future__ import annotations

import asyncio
import hashlib
import sys
from datetime import UTC, datetime, timedelta
from types import ModuleType

import pytest

from bot.archive.models import MARK_END, MARK_START, Article
from bot.archive.morphology import stem_parts
from bot.archive.query import parse_query
from bot.archive.urls import normalize_url
from bot.clock import FixedClock
from storage.interfaces import ArticleStore, Storage
from storage.postgres import PostgresStorage
from storage.sqlite import SqliteStorage
from tests.conftest import postgres_test_url

T0 = datetime(2021, 10, 27, 19, 29, tzinfo=UTC)


def make(
    title: str,
    lead: str = "",
    body: tuple[str, ...] = (),
    *,
    published_at: datetime = T0,
    url: str | None = None,
    source: str = "example.ru",
    topics: frozenset[str] = frozenset(),
    gov: bool = False,
    views: int | None = None,
) -> Article:
    digest = hashlib.sha256("\n".join((title, lead, *body)).encode()).hexdigest()
    return Article(
        title=title,
        lead=lead,
        body=body,
        published_at=published_at,
        views=views,
        source=source,
        url=url,
        topics=topics,
        is_gov_commission=gov,
        content_hash=digest,
    )


SEED = make(
    "Алексей Дюмин провел заседание комиссии Госсовета РФ по промышленности",
    "Были рассмотрены вопросы импортозамещения при производстве высокотехнологичной медтехники.",
    (
        "Помощник Президента России, секретарь Госсовета РФ Игорь Левитин отметил, что в вопросах "
        "импортозамещения медицинской техники важна совместная работа Минпромторга и Минздрава России.",
        "Комиссия Госсовета рекомендовала регионам активизировать работу с экспортерами.",
    ),
    url="https://www.tularegion.ru/news/1?utm_source=tg",
    topics=frozenset({"state_council", "commission"}),
    gov=True,
    views=154,
)


def backend_module(storage: Storage) -> ModuleType:
    """The module of the storage's article repository (its ranking constants are patched by tests)."""
    return sys.modules[type(storage.articles).__module__]


@pytest.fixture
def repo(storage: Storage) -> ArticleStore:
    return storage.articles


@pytest.fixture
def any_repo(storage: Storage) -> ArticleStore:
    """The archive of either backend: both rank every match with the ranking index at any size."""
    return storage.articles


async def test_add_and_get_round_trip(repo: ArticleStore) -> None:
    result = await repo.add_many([SEED])
    assert result.duplicates == 0 and len(result.new_ids) == 1
    stored = await repo.get(result.new_ids[0])
    assert stored is not None
    assert (stored.title, stored.lead, stored.body) == (SEED.title, SEED.lead, SEED.body)
    assert stored.published_at == T0
    assert (stored.views, stored.source, stored.url) == (154, "example.ru", SEED.url)
    assert stored.topics == SEED.topics and stored.is_gov_commission
    assert stored.content_hash == SEED.content_hash
    assert await repo.get(9999) is None


async def test_ingest_twice_stores_once(repo: ArticleStore) -> None:
    batch = [SEED, make("Вторая новость", "Лид", ("Текст.",))]
    first = await repo.add_many(batch)
    again = await repo.add_many(batch)
    assert len(first.new_ids) == 2
    assert again.new_ids == [] and again.duplicates == 2
    assert (await repo.stats()).articles == 2


async def test_same_normalized_url_is_a_duplicate(repo: ArticleStore) -> None:
    await repo.add_many([SEED])
    edited = make("Исправленный заголовок", "Другой лид", url="http://tularegion.ru/news/1/#top")
    result = await repo.add_many([edited])
    assert result.new_ids == [] and result.duplicates == 1
    assert await repo.exists_url("https://tularegion.ru/news/1?utm_medium=x")
    assert not await repo.exists_url("https://tularegion.ru/news/2")


async def test_same_content_without_url_is_a_duplicate_also_within_a_batch(repo: ArticleStore) -> None:
    copy = make("Новость без ссылки", "Лид")
    result = await repo.add_many([copy, copy, make("Другая новость", "Лид")])
    assert len(result.new_ids) == 2 and result.duplicates == 1
    assert await repo.exists_hash(copy.content_hash)
    assert not await repo.exists_hash("0" * 64)


async def test_dedupe_does_not_mix_up_articles(any_repo: ArticleStore) -> None:
    """A batch where one article collides by URL and another carries the same hash under a new URL."""
    await any_repo.add_many([make("Старое", url="https://a.ru/1")])
    twin = make("Одинаковый текст", url="https://a.ru/1")
    other_url = make("Одинаковый текст", url="https://a.ru/2")
    result = await any_repo.add_many([twin, other_url])
    assert result.duplicates == 1 and len(result.new_ids) == 1
    stored = await any_repo.get(result.new_ids[0])
    assert stored is not None and stored.url == "https://a.ru/2"
    hits = await any_repo.search(parse_query("одинаковый"))
    assert [hit.article_id for hit in hits] == result.new_ids


async def test_empty_batch(repo: ArticleStore) -> None:
    assert (await repo.add_many([])).new_ids == []


async def test_stemmed_must_match_articles(repo: ArticleStore) -> None:
    with pytest.raises(ValueError, match="one to one"):
        await repo.add_many([SEED], stemmed=[])


@pytest.mark.parametrize(
    "text",
    [
        "импортозамещение",
        "импортозамещением",
        "Госсовет",
        "госсовету",
        "комиссией",
        '"комиссии Госсовета"',
        "промышленность Дюмин",
        "ИМПОРТОЗАМЕЩЕНИЯ",
    ],
)
async def test_morphology_finds_other_word_forms(any_repo: ArticleStore, text: str) -> None:
    (seed_id,) = (await any_repo.add_many([SEED, make("Погода в Туле", "Солнечно")])).new_ids[:1]
    hits = await any_repo.search(parse_query(text))
    assert [hit.article_id for hit in hits] == [seed_id]


@pytest.mark.parametrize(
    ("text", "found"),
    [
        # Snowball parts these families (паводок → паводок, паводками → паводк; кредит → кредит, кредиты →
        # кред): a word matches every stem of its lemma's forms, on every backend.
        ("паводок", {0, 1}),
        ("паводками", {0, 1}),
        ("кредит", {2, 3}),
        ("кредиты", {2, 3}),
        ("паводок -кредиты", {0, 1}),
        ("паводок -паводками", set()),  # an excluded word's forms are all excluded
        ("провести", {4}),  # a verb's forms and its infinitive
        ('"борются с паводками"', {1}),  # a phrase: its words' own stems, in order
        ('"борются с паводок"', set()),
    ],
)
async def test_a_word_matches_every_form_of_its_lemma(
    any_repo: ArticleStore, text: str, found: set[int]
) -> None:
    ids = (
        await any_repo.add_many(
            [
                make("Паводок в Приморье", "Вода прибывает"),
                make("Спасатели борются с паводками", "Вода уходит"),
                make("Кредит для фермеров", "Льготы"),
                make("Банки выдали кредиты", "Ставки снижаются"),
                make("Губернатор проведет совещание", "Повестка"),
            ]
        )
    ).new_ids
    hits = await any_repo.search(parse_query(text))
    assert {hit.article_id for hit in hits} == {ids[i] for i in found}
    assert await any_repo.count(parse_query(text)) == len(found)


async def test_yo_equals_ye(any_repo: ArticleStore) -> None:
    ids = (
        await any_repo.add_many([make("Ёлку установили на площади"), make("Елки продают у вокзала")])
    ).new_ids
    for text in ("ёлка", "елка", "ЁЛКИ"):
        assert {hit.article_id for hit in await any_repo.search(parse_query(text))} == set(ids)


async def test_title_match_ranks_above_body_match(any_repo: ArticleStore) -> None:
    body_only = make(
        "Новости региона",
        "Короткая сводка за день.",
        ("В конце дня губернатор встретился с жителями.", "Обсудили дороги и школы."),
        published_at=T0 + timedelta(hours=1),  # newer, so recency alone would put it first
    )
    in_title = make("Губернатор открыл школу", "Короткая сводка за день.", ("Обсудили дороги.",))
    body_id, title_id = (await any_repo.add_many([body_only, in_title])).new_ids
    hits = await any_repo.search(parse_query("губернатор"))
    assert [hit.article_id for hit in hits] == [title_id, body_id]
    assert hits[0].rank < hits[1].rank


async def test_lead_match_ranks_above_body_match_and_rare_words_weigh_more(repo: ArticleStore) -> None:
    fillers = [make(f"Заседание номер {i}", published_at=T0 - timedelta(days=1)) for i in range(8)]
    in_body = make(
        "Новости", "Сводка", ("Губернатор открыл заседание.",), published_at=T0 + timedelta(hours=3)
    )
    in_lead = make(
        "Новости дня", "Губернатор открыл заседание", ("Текст.",), published_at=T0 + timedelta(hours=2)
    )
    common_in_title = make("Заседание открыто", "Сводка дня", ("Губернатор выступил.",), published_at=T0)
    rare_in_title = make("Губернатор выступил", "Сводка за день", ("Прошло заседание.",), published_at=T0)
    ids = (await repo.add_many([*fillers, in_body, in_lead, common_in_title, rare_in_title])).new_ids[8:]
    hits = await repo.search(parse_query("губернатор заседание"), limit=10)
    # "заседание" is in all 12 articles (idf ~0), "губернатор" in 4: the rare word in the title first, then
    # both words in the lead, then the two with "губернатор" in the body only, whose order the backends may
    # decide differently (SQLite: the newer; PostgreSQL: the one with the common word in its title).
    ranked = [hit.article_id for hit in hits]
    assert ranked[:2] == [ids[3], ids[1]] and set(ranked[2:]) == {ids[0], ids[2]}


async def test_snippet_marks_matched_original_words(any_repo: ArticleStore) -> None:
    await any_repo.add_many([SEED])
    (hit,) = await any_repo.search(parse_query("импортозамещение"))
    assert f"{MARK_START}импортозамещения{MARK_END}" in hit.snippet
    assert hit.title == SEED.title and hit.url == SEED.url and hit.views == 154
    assert hit.topics == SEED.topics and hit.published_at == T0


async def test_date_range_filters(any_repo: ArticleStore) -> None:
    days = [datetime(2021, 9, 30, 20, 59, tzinfo=UTC), datetime(2021, 9, 30, 21, 0, tzinfo=UTC)]
    days += [datetime(2021, 10, 31, 20, 59, tzinfo=UTC), datetime(2021, 10, 31, 21, 0, tzinfo=UTC)]
    ids = (
        await any_repo.add_many([make(f"Заседание номер {i}", published_at=d) for i, d in enumerate(days)])
    ).new_ids
    # Moscow days: 30.09 23:59 MSK is out, 01.10 00:00 MSK in; 31.10 23:59 in, 01.11 00:00 out.
    october = await any_repo.search(parse_query("заседание с:01.10.2021 по:31.10.2021"), limit=10)
    assert {hit.article_id for hit in october} == {ids[1], ids[2]}
    assert await any_repo.count(parse_query("заседание с:01.10.2021 по:31.10.2021")) == 2
    since_only = await any_repo.search(parse_query("заседание"), since=days[2], limit=10)
    assert {hit.article_id for hit in since_only} == {ids[2], ids[3]}
    until_only = await any_repo.search(parse_query("заседание"), until=days[1], limit=10)
    assert {hit.article_id for hit in until_only} == {ids[0]}
    assert await any_repo.search(parse_query("заседание с:01.01.2030")) == []


async def test_topic_filter(any_repo: ArticleStore) -> None:
    ids = (
        await any_repo.add_many(
            [
                make("Заседание в министерстве", topics=frozenset({"ministry", "meeting"})),
                make("Заседание губернаторов", topics=frozenset({"governor", "meeting"})),
                make("Заседание клуба"),
            ]
        )
    ).new_ids
    assert [h.article_id for h in await any_repo.search(parse_query("заседание тема:ministry"))] == [ids[0]]
    both = await any_repo.search(parse_query("заседание тема:ministry тема:governor"))
    assert {h.article_id for h in both} == {ids[0], ids[1]}
    assert len(await any_repo.search(parse_query("заседание"))) == 3


async def test_phrases_and_exclusions(any_repo: ArticleStore) -> None:
    ids = (
        await any_repo.add_many(
            [
                make("Комиссия Госсовета собралась"),
                make("Госсовет и комиссия по бюджету"),
                make("Комиссия Госсовета и губернаторы"),
            ]
        )
    ).new_ids
    phrase = await any_repo.search(parse_query('"комиссии госсовета"'))
    assert {h.article_id for h in phrase} == {ids[0], ids[2]}
    excluded = await any_repo.search(parse_query('"комиссия госсовета" -губернатор'))
    assert [h.article_id for h in excluded] == [ids[0]]
    excluded_phrase = await any_repo.search(parse_query('госсовет -"комиссия госсовета"'))
    assert [h.article_id for h in excluded_phrase] == [ids[1]]


@pytest.mark.parametrize(
    "text",
    [
        '"',
        "*",
        "NEAR(",
        "NEAR(заседание губернатор)",
        "AND",
        "OR заседание",
        "-",
        ":",
        "'",
        "^",
        "(",
        "'; DROP TABLE articles;--",
        'заседание"; DELETE FROM articles; --',
        "{title}:заседание",
        "title:заседание",
        "заседание*",
        "x" * 10_000,
        "заседание " * 2_000,
        "",
        "и в на",
        "с:99.99.9999",
    ],
)
async def test_hostile_queries_through_the_repository(any_repo: ArticleStore, text: str) -> None:
    await any_repo.add_many([make("Заседание губернаторов", "Лид")])
    query = parse_query(text)
    hits = await any_repo.search(query)
    count = await any_repo.count(query)
    assert len(hits) <= count or count > 1000
    assert (await any_repo.stats()).articles == 1


async def test_longest_query_runs(any_repo: ArticleStore) -> None:
    words = [f"слово{i}" for i in range(20)]
    (article_id,) = (await any_repo.add_many([make(" ".join(words), " ".join(words[:8]))])).new_ids
    query = parse_query(" ".join(words) + ' "слово1 слово2"')
    assert query.truncated
    hits = await any_repo.search(query)
    assert [hit.article_id for hit in hits] == [article_id]


async def test_search_pages_and_limits(any_repo: ArticleStore) -> None:
    await any_repo.add_many(
        [make(f"Заседание {i}", published_at=T0 + timedelta(minutes=i)) for i in range(12)]
    )
    query = parse_query("заседание")
    first = await any_repo.search(query, limit=5)
    second = await any_repo.search(query, limit=5, offset=5)
    third = await any_repo.search(query, limit=5, offset=10)
    seen = [h.article_id for h in first + second + third]
    assert len(seen) == 12 == len(set(seen))
    assert await any_repo.search(query, limit=0) == []
    assert await any_repo.count(query) == 12
    assert await any_repo.count(query, cap=5) == 6


async def test_an_older_title_match_beats_newer_body_matches_and_sql_pages_hold_every_match(
    storage: Storage, repo: ArticleStore
) -> None:
    old_title_hit = make("Губернатор", published_at=T0 - timedelta(days=30))
    recent = [
        make(f"Новость {i}", "", (f"губернатор {i}",), published_at=T0 + timedelta(days=i)) for i in range(4)
    ]
    ids = (await repo.add_many([old_title_hit, *recent])).new_ids
    hits = await repo.search(parse_query("губернатор"), limit=3)
    assert hits[0].article_id == ids[0]  # no window of the newest matches hides it
    assert len(await repo.search(parse_query("губернатор"), limit=10)) == 5
    # exhaustive=True (PostgreSQL: BM25F in SQL over every match; SQLite: the same search) pages alike.
    exhaustive = await repo.search(parse_query("губернатор"), limit=3, exhaustive=True)
    assert exhaustive[0].article_id == ids[0] and len(exhaustive) == 3
    second_page = await repo.search(parse_query("губернатор"), limit=3, offset=3, exhaustive=True)
    assert len({h.article_id for h in exhaustive + second_page}) == 5


async def test_small_archives_rank_every_match_with_bm25(storage: Storage) -> None:
    repo = storage.articles  # default threshold: a tiny archive takes the exact path
    old_title_hit = make("Губернатор", published_at=T0 - timedelta(days=30))
    recent = [
        make(f"Новость {i}", "", (f"губернатор {i}",), published_at=T0 + timedelta(days=i)) for i in range(4)
    ]
    ids = (await repo.add_many([old_title_hit, *recent])).new_ids
    query = parse_query("губернатор")
    hits = await repo.search(query, limit=3)
    exhaustive = await repo.search(query, limit=3, exhaustive=True)
    # SQLite's search is always exhaustive; PostgreSQL's SQL ranking scores differently but finds the same best.
    assert hits[0].article_id == exhaustive[0].article_id == ids[0]
    if isinstance(storage, SqliteStorage):
        assert hits == exhaustive


async def test_every_match_is_ranked_however_many_newer_ones_share_the_words(storage: Storage) -> None:
    """The issue's case: a specific older article among many newer matches of the same words comes first;
    among equally relevant articles the newer one comes first (the recency bonus)."""
    repo = storage.articles
    target = make(
        "Дюмин: импортозамещение медицинской техники",
        "Импортозамещение медицинской техники обсудили в Туле",
        ("Губернатор Алексей Дюмин провёл совещание.",),
        published_at=T0 - timedelta(days=3 * 365),
    )
    newer = [
        make(
            f"Новость {i}",
            "Сводка",
            (f"Дюмин говорил о технике {i}. Импортозамещение медицинской продукции идёт.",),
            published_at=T0 - timedelta(days=i),
        )
        for i in range(400)
    ]
    ids = (await repo.add_many([target, *newer])).new_ids
    hits = await repo.search(parse_query("Дюмин импортозамещение медицинской техники"), limit=5)
    assert hits[0].article_id == ids[0]
    assert await repo.count(parse_query("Дюмин импортозамещение медицинской техники")) == 401
    # Equal relevance (the same text), different dates: the newest first.
    body_only = [h.article_id for h in await repo.search(parse_query("продукции"), limit=3)]
    assert body_only == [ids[1], ids[2], ids[3]]


async def test_extreme_dates_neither_break_storage_nor_filters(any_repo: ArticleStore) -> None:
    far = [make("Заседание в древности", published_at=datetime(1, 1, 2, tzinfo=UTC))]
    far.append(make("Заседание в будущем", published_at=datetime(9999, 12, 30, tzinfo=UTC)))
    ids = (await any_repo.add_many(far)).new_ids
    query = parse_query("заседание")
    assert {h.article_id for h in await any_repo.search(query, limit=5)} == set(ids)
    since = datetime(1, 1, 1, tzinfo=UTC)
    until = datetime(9999, 12, 31, tzinfo=UTC)
    assert len(await any_repo.search(query, since=since, until=until)) == 2
    assert await any_repo.count(query, since=since, until=until) == 2
    assert [a.id for a in await any_repo.published_between(since, until)] == ids


async def test_latest_and_get_many(repo: ArticleStore) -> None:
    ids = (
        await repo.add_many([make(f"Новость {i}", published_at=T0 + timedelta(hours=i)) for i in range(4)])
    ).new_ids
    latest = await repo.latest(limit=2)
    assert [a.id for a in latest] == [ids[3], ids[2]]
    assert [a.id for a in await repo.latest(limit=2, offset=2)] == [ids[1], ids[0]]
    assert [a.id for a in await repo.get_many([ids[2], 999, ids[0], ids[2]])] == [ids[2], ids[0]]
    assert await repo.get_many([]) == []


async def test_published_between(repo: ArticleStore) -> None:
    ids = (
        await repo.add_many(
            [
                make("До окна", published_at=T0 - timedelta(seconds=1), gov=True),
                make("Начало окна", published_at=T0, gov=True),
                make("Внутри окна", published_at=T0 + timedelta(hours=1)),
                make("Конец окна", published_at=T0 + timedelta(days=1), gov=True),
            ]
        )
    ).new_ids
    window = await repo.published_between(T0, T0 + timedelta(days=1))
    assert [a.id for a in window] == [ids[1], ids[2]]
    gov = await repo.published_between(T0, T0 + timedelta(days=1), gov_only=True)
    assert [a.id for a in gov] == [ids[1]]


async def test_stats(repo: ArticleStore) -> None:
    empty = await repo.stats()
    assert (empty.articles, empty.sources, empty.first_published, empty.by_topic) == (0, 0, None, {})
    await repo.add_many(
        [
            SEED,
            make(
                "Губернатор",
                published_at=T0 + timedelta(days=2),
                source="b.ru",
                topics=frozenset({"governor"}),
            ),
            make(
                "Министр", published_at=T0 - timedelta(days=1), source="b.ru", topics=frozenset({"governor"})
            ),
        ]
    )
    stats = await repo.stats()
    assert stats.articles == 3 and stats.sources == 2
    assert stats.first_published == T0 - timedelta(days=1)
    assert stats.last_published == T0 + timedelta(days=2)
    assert stats.by_topic == {"governor": 2, "state_council": 1, "commission": 1}


async def test_search_without_snippets_for_exports(storage: Storage) -> None:
    archive = storage.articles
    await archive.add_many([make("Заседание комиссии Госсовета", "Комиссия обсудила импортозамещение.")])
    [with_snippet] = await archive.search(parse_query("комиссия"))
    [without] = await archive.search(parse_query("комиссия"), snippets=False)
    assert MARK_START in with_snippet.snippet
    assert without.snippet == "" and without.article_id == with_snippet.article_id


# --- behaviour both backends share where PostgreSQL needs care of its own -------------------------------------


async def test_a_phrase_never_spans_two_fields(any_repo: ArticleStore) -> None:
    await any_repo.add_many([make("Губернатор открыл", "Заседание началось", ("Школа открыта.",))])
    for text in ('"открыл заседание"', '"началось школа"', '"губернатор открыл"'):
        hits = await any_repo.search(parse_query(text))
        assert len(hits) == (1 if text == '"губернатор открыл"' else 0), text


async def test_phrases_in_articles_too_long_for_tsvector_positions(
    storage: Storage, any_repo: ArticleStore
) -> None:
    """PostgreSQL keeps tsvector positions up to 16383 and 256 per word: phrases past that still count."""
    filler = " ".join(["в городе прошло заседание"] * 5000)  # 20000 words, "в" 5000 times
    long = make("Длинный отчет", "Лид отчета", (filler, "В конце отчета губернатор открыл новую школу."))
    short = make("Губернатор открыл школу", "Лид", ("Текст.",))
    long_id, short_id = (await any_repo.add_many([long, short])).new_ids
    expected = {
        '"губернатор открыл"': {long_id, short_id},
        '"открыл новую школу"': {long_id},
        '"в городе"': {long_id},
        '"городе в"': set(),
        '"заседание в конце"': {long_id},  # across paragraphs of the body, as in the index
        'губернатор -"новую школу"': {short_id},
        'отчет -"в городе"': set(),
        "заседание школа": {long_id},
        '"отчета лид"': set(),
    }
    for text, ids in expected.items():
        query = parse_query(text)
        assert {hit.article_id for hit in await any_repo.search(query, limit=10)} == ids, text
        assert await any_repo.count(query) == len(ids), text
    if isinstance(storage, PostgresStorage):
        assert await storage.db.fetchval("SELECT count(*) FROM articles WHERE long_stems IS NOT NULL") == 1


async def test_nul_characters_do_not_break_ingest(any_repo: ArticleStore) -> None:
    (article_id,) = (await any_repo.add_many([make("Заседание\x00 комиссии", "Лид\x00")])).new_ids
    assert [hit.article_id for hit in await any_repo.search(parse_query("комиссии"))] == [article_id]
    stored = await any_repo.get(article_id)
    assert stored is not None and stored.title.replace("\x00", "") == "Заседание комиссии"


async def test_times_are_kept_in_whole_seconds(storage: Storage) -> None:
    moment = T0 + timedelta(microseconds=999_999)
    (article_id,) = (await storage.articles.add_many([make("Заседание", published_at=moment)])).new_ids
    stored = await storage.articles.get(article_id)
    assert stored is not None and stored.published_at == T0
    assert [
        a.id for a in await storage.articles.published_between(T0 + timedelta(microseconds=1), moment)
    ] == []
    assert len(await storage.articles.search(parse_query("заседание"), since=moment)) == 1


async def test_the_index_and_the_exhaustive_path_find_the_same_articles(
    storage: Storage, repo: ArticleStore
) -> None:
    """PostgreSQL's two matchers (the ranking index; tsvector in SQL) agree on what matches; SQLite's search is
    always the index, so there the ranks agree too."""
    articles = [make(f"Заседание номер {i}", published_at=T0 - timedelta(days=1)) for i in range(8)]
    articles += [
        make("Новости", "Сводка", ("Губернатор открыл заседание.",), published_at=T0 + timedelta(hours=3)),
        make("Новости дня", "Губернатор открыл заседание", ("Текст.",), published_at=T0 + timedelta(hours=2)),
        make("Губернатор выступил", "Заседание", ("Губернатор открыл новую школу.",)),
    ]
    await repo.add_many(articles)
    for text in ("губернатор заседание", '"губернатор открыл"', "заседание -школа", "заседание"):
        query = parse_query(text)
        bounded = [(hit.article_id, hit.rank) for hit in await repo.search(query, limit=20)]
        exhaustive = [
            (hit.article_id, hit.rank) for hit in await repo.search(query, limit=20, exhaustive=True)
        ]
        assert bounded, text
        if isinstance(storage, SqliteStorage):
            assert bounded == exhaustive, text
        else:
            assert sorted(i for i, _ in bounded) == sorted(i for i, _ in exhaustive), text


async def test_two_processes_ingesting_at_once_store_each_article_once(
    storage: Storage, clock: FixedClock
) -> None:
    """Two instances (two pools) ingest overlapping batches at the same moment: every article once, the token
    counts exact, and no deadlock whatever the order of the batches."""
    if not isinstance(storage, PostgresStorage):
        pytest.skip("one SQLite file has one writer")
    other = await PostgresStorage.open(
        postgres_test_url(), clock=clock, schema=storage.db.schema, migrate=False, pool_size=2
    )
    try:
        batch = [make(f"Новость номер {i}", url=f"https://a.ru/{i}") for i in range(60)]
        copies = [make(f"Копия номер {i}", url=f"https://a.ru/{i}/?utm_source=x") for i in range(0, 60, 3)]
        results = await asyncio.gather(
            storage.articles.add_many(batch[:40] + copies),
            other.articles.add_many(list(reversed(batch))),
            other.articles.add_many(batch[20:]),
        )
        new_ids = [article_id for result in results for article_id in result.new_ids]
        assert len(new_ids) == len(set(new_ids)) == 60
        assert sum(result.duplicates for result in results) == 40 + len(copies) + 60 + 40 - 60
        assert (await storage.articles.stats()).articles == 60
        # Which of an article and its copy (same normalized URL) is stored depends on who came first.
        stored = await storage.articles.get_many(new_ids)
        assert sorted(normalize_url(article.url or "") for article in stored) == sorted(
            normalize_url(article.url or "") for article in batch
        )
        originals = sum(article.title.startswith("Новость") for article in stored)
        news, number, copy = (stem_parts(word)[0] for word in ("новость", "номер", "копия"))
        frequencies = await storage.articles.document_frequencies([news, number, copy])
        expected = {news: originals, number: 60, copy: 60 - originals}
        assert frequencies == {token: docs for token, docs in expected.items() if docs}
        assert await storage.articles.count(parse_query("новость")) == originals
        assert await storage.articles.count(parse_query("копия")) == 60 - originals
    finally:
        await other.close()
