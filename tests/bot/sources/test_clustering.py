from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.sources.clustering import (
    THRESHOLD,
    ClusterIndex,
    Sketch,
    cluster_texts,
    similarity,
    sketch,
)
from bot.sources.feeds import parse_feed
from tests.conftest import FIXTURES

RSS = FIXTURES / "rss"

# A real government press release (government.ru, September 2025) and how other sites repost it.
ORIGINAL = (
    "Марат Хуснуллин провёл заседание президиума Правительственной комиссии по региональному развитию",
    "Заместитель Председателя Правительства Марат Хуснуллин провёл заседание президиума Правительственной "
    "комиссии по региональному развитию в Российской Федерации. Участники обсудили ход реализации "
    "инфраструктурных проектов в регионах и выделение бюджетных кредитов.",
)
REPOSTS = [
    (
        "Хуснуллин провел заседание президиума правкомиссии по региональному развитию",
        "МОСКВА, 25 сентября. /ТАСС/. Заместитель Председателя Правительства Марат Хуснуллин провел "
        "заседание президиума Правительственной комиссии по региональному развитию в Российской "
        "Федерации. Участники обсудили ход реализации инфраструктурных проектов в регионах и "
        "выделение бюджетных кредитов.",
    ),
    (
        "Марат Хуснуллин провёл заседание президиума Правительственной комиссии по региональному развитию",
        "Вице-премьер Марат Хуснуллин провёл заседание президиума Правительственной комиссии по "
        "региональному развитию в Российской Федерации. Участники обсудили ход реализации "
        "инфраструктурных проектов в регионах и выделение бюджетных кредитов, сообщает пресс-служба кабмина.",
    ),
]
# Same commission, same boilerplate, a different meeting: not the same story.
OTHER_MEETING = (
    "Марат Хуснуллин провёл встречу с губернатором Амурской области Василием Орловым",
    "Заместитель Председателя Правительства Марат Хуснуллин провёл рабочую встречу с губернатором Амурской "
    "области Василием Орловым. Обсуждались строительство жилья и восстановление дорог после паводка.",
)
BOILERPLATE = (
    "Поиск по сайту Введите запрос для поиска Все разделы сайта Все материалы Новости Документы Видео"
)


@pytest.mark.parametrize("repost", REPOSTS)
def test_reposts_of_one_release_are_similar(repost: tuple[str, str]) -> None:
    assert similarity(sketch(*ORIGINAL), sketch(*repost)) >= THRESHOLD


def test_different_meetings_are_not_similar() -> None:
    assert similarity(sketch(*ORIGINAL), sketch(*OTHER_MEETING)) < THRESHOLD


def test_shared_site_boilerplate_does_not_make_a_cluster() -> None:
    first = sketch("Денис Мантуров посетил образовательный центр «Сириус»", BOILERPLATE)
    second = sketch("Михаил Мишустин подписал постановление о выходных днях в 2026 году", BOILERPLATE)
    assert similarity(first, second) == 0.0


def test_identical_texts_have_similarity_one_and_similarity_is_symmetric() -> None:
    a, b = sketch(*ORIGINAL), sketch(*REPOSTS[0])
    assert similarity(a, a) == 1.0
    assert similarity(a, b) == similarity(b, a)


def test_sketch_survives_storage() -> None:
    original = sketch(*ORIGINAL)
    assert Sketch.from_bytes(original.to_bytes()) == original
    assert Sketch.from_bytes(Sketch((), ()).to_bytes()) == Sketch((), ())


def test_short_texts_never_cluster() -> None:
    index = ClusterIndex()
    assert index.assign(1, sketch("Новости", "")) == 1
    assert index.assign(2, sketch("Новости", "")) == 2
    assert len(index) == 0


def test_cluster_ids_name_the_first_article() -> None:
    texts = [(10, *ORIGINAL), (11, *OTHER_MEETING), (12, *REPOSTS[0]), (13, *REPOSTS[1])]
    assert cluster_texts(texts) == {10: 10, 11: 11, 12: 10, 13: 10}


def test_new_articles_join_known_clusters() -> None:
    known = [(5, 3, sketch(*ORIGINAL))]
    assert cluster_texts([(20, *REPOSTS[1]), (21, *OTHER_MEETING)], known) == {20: 3, 21: 21}


def _real_items(name: str) -> list[tuple[str, str]]:
    feed = parse_feed((RSS / name).read_bytes())
    return [(item.title, item.summary) for item in feed.items]


def test_real_feed_items_are_all_different_stories() -> None:
    # 122 real items of three outlets, no story twice: no false clusters.
    items = [
        item
        for name in (
            "tut.by_news_rss_2019-12-30.xml",
            "mos.ru_news_rss_2022-07-27.xml",
            "liga.net_rss_2021-08-22.xml",
        )
        for item in _real_items(name)
    ]
    clusters = cluster_texts([(number, title, lead) for number, (title, lead) in enumerate(items)])
    assert len(items) == 122
    assert sorted(clusters.values()) == list(range(122))


def test_real_items_reposted_with_a_dateline_cluster() -> None:
    items = _real_items("mos.ru_news_rss_2022-07-27.xml")
    texts = [(number, title, lead) for number, (title, lead) in enumerate(items)]
    reposts = [
        (100 + number, title, f"МОСКВА, 27 июля — РИА Новости. {lead}")
        for number, (title, lead) in enumerate(items)
    ]
    clusters = cluster_texts(texts + reposts)
    # The short mos.ru items whose summary is a single short sentence still match on title + lead.
    assert all(clusters[100 + number] == number for number in range(len(items)))


_WORDS = st.sampled_from(
    [
        "правительство",
        "комиссия",
        "заседание",
        "губернатор",
        "министр",
        "область",
        "проект",
        "бюджет",
        "решение",
        "совет",
        "развитие",
        "региональный",
        "кредит",
        "дорога",
        "школа",
        "программа",
        "москва",
        "тула",
        "жители",
        "новости",
    ]
)
_TEXT = st.lists(_WORDS, min_size=0, max_size=30).map(" ".join)


@settings(max_examples=60, deadline=None)
@given(_TEXT, _TEXT, _TEXT, _TEXT)
def test_similarity_is_a_symmetric_share(title_a: str, lead_a: str, title_b: str, lead_b: str) -> None:
    a, b = sketch(title_a, lead_a), sketch(title_b, lead_b)
    assert 0.0 <= similarity(a, b) <= 1.0
    assert similarity(a, b) == similarity(b, a)
    assert Sketch.from_bytes(a.to_bytes()) == a
    if a.hashes and a.title_words:
        assert similarity(a, a) == 1.0


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(_TEXT, _TEXT), min_size=1, max_size=12))
def test_cluster_ids_are_earlier_or_own_ids(texts: list[tuple[str, str]]) -> None:
    clusters = cluster_texts([(number, title, lead) for number, (title, lead) in enumerate(texts)])
    assert list(clusters) == list(range(len(texts)))
    for article_id, cluster_id in clusters.items():
        assert cluster_id <= article_id and clusters[cluster_id] == cluster_id
