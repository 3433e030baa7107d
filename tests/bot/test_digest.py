"""Digest composition: grouping, ranking, escaping, paging and splitting at Telegram's 4096 limit."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.archive.models import StoredArticle
from bot.digest.layout import (
    GROUPS,
    Candidate,
    collapse_clusters,
    group_of,
    merge_candidates,
    pack_blocks,
    plural_key,
    query_relevance,
    rank,
    render_digest,
    render_nothing_new,
)
from bot.telegram.html_split import visible_length
from bot.telegram.limits import MESSAGE_TEXT_LIMIT
from tests.emulator.entities import parse_html, utf16_len

END = datetime(2026, 11, 26, 6, 0, tzinfo=UTC)  # 09:00 Moscow
START = END - timedelta(hours=24)


def article(
    article_id: int,
    *,
    title: str = "Заголовок",
    lead: str = "Первая строка лида.\nВторая строка.",
    hours_ago: float = 1.0,
    views: int | None = None,
    topics: frozenset[str] = frozenset({"commission"}),
    source: str = "gov.ru",
    url: str | None = "https://gov.ru/news/1",
    gov: bool = True,
) -> StoredArticle:
    published = END - timedelta(hours=hours_ago)
    return StoredArticle(
        id=article_id,
        title=title,
        lead=lead,
        body=("Текст.",),
        published_at=published,
        views=views,
        source=source,
        url=url,
        topics=topics,
        is_gov_commission=gov,
        content_hash=f"h{article_id}",
        ingested_at=published,
    )


@dataclass(frozen=True)
class Cluster:
    other_sources: tuple[str, ...]
    cluster_id: int = 0


def render(candidates: list[Candidate], **kwargs: object) -> list[str]:
    options: dict[str, object] = {
        "period_start": START,
        "period_end": END,
        "timezone": "Europe/Moscow",
        "locale": "ru",
        "max_items": None,
    }
    options.update(kwargs)
    return render_digest(candidates, **options).messages  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("topics", "gov", "expected"),
    [
        (frozenset({"commission", "ministry"}), True, "commission"),
        (frozenset({"state_council"}), False, "state_council"),
        (frozenset({"ministry", "governor"}), False, "ministry"),
        (frozenset({"governor"}), False, "governor"),
        (frozenset({"meeting"}), True, "commission"),
        (frozenset({"parliament"}), False, "other"),
    ],
)
def test_group_of(topics: frozenset[str], gov: bool, expected: str) -> None:
    assert group_of(article(1, topics=topics, gov=gov)) == expected


@pytest.mark.parametrize(
    ("count", "key"),
    [
        (1, "one"),
        (2, "few"),
        (4, "few"),
        (5, "many"),
        (11, "many"),
        (12, "many"),
        (21, "one"),
        (22, "few"),
        (111, "many"),
        (0, "many"),
    ],
)
def test_plural_key(count: int, key: str) -> None:
    assert plural_key(count) == key


def test_rank_relevance_then_recency_then_views() -> None:
    fresh = Candidate(article(1, hours_ago=1), 1.0)
    old = Candidate(article(2, hours_ago=23), 1.0)
    query_hit = Candidate(article(3, hours_ago=0.5), 0.5)
    viewed = Candidate(article(4, hours_ago=23, views=100_000), 1.0)
    ranked = rank([query_hit, old, fresh, viewed], period_start=START, period_end=END)
    assert [c.article.id for c in ranked] == [1, 4, 2, 3]


def test_merge_keeps_best_relevance_once() -> None:
    a = article(1)
    merged = merge_candidates([[Candidate(a, 0.5)], [Candidate(a, 1.0), Candidate(article(2), 0.7)]])
    assert sorted((c.article.id, c.relevance) for c in merged) == [(1, 1.0), (2, 0.7)]
    assert query_relevance(0, 10) == pytest.approx(0.9)
    assert query_relevance(9, 10) == pytest.approx(0.5)


def test_layout_groups_newest_first_time_link_source_lead() -> None:
    items = [
        Candidate(article(1, title="Комиссия A", hours_ago=5), 1.0),
        Candidate(
            article(2, title="Губернатор B", hours_ago=1, topics=frozenset({"governor"}), gov=False), 0.9
        ),
        Candidate(article(3, title="Комиссия C", hours_ago=2), 1.0),
        Candidate(article(4, title="Госсовет D", hours_ago=3, topics=frozenset({"state_council"})), 1.0),
    ]
    [message] = render(items)
    plain = parse_html(message).text
    order = [
        plain.index(word) for word in ("Комиссии", "Комиссия C", "Комиссия A", "Госсовет", "Губернаторы")
    ]
    assert order == sorted(order)
    assert "4 материала" in plain
    # 2 hours before 09:00 Moscow
    assert '<b>07:00</b> <a href="https://gov.ru/news/1">Комиссия C</a> · <i>gov.ru</i>' in message
    assert "Первая строка лида." in plain and "Вторая строка" not in plain


def test_everything_from_articles_is_escaped() -> None:
    evil = article(
        1,
        title='<script>alert("x")</script> & co',
        lead="<b>not bold</b> & <i>",
        source="<evil>",
        url='https://x.ru/"onclick="alert(1)',
    )
    [message] = render([Candidate(evil, 1.0)])
    formatted = parse_html(message)  # Telegram would accept it
    assert '<script>alert("x")</script> & co' in formatted.text
    assert "<b>not bold</b> & <i>" in formatted.text
    assert "<evil>" in formatted.text
    assert "onclick" not in message  # an unsafe URL is not linked


def test_clusters_show_other_sources() -> None:
    [message] = render(
        [Candidate(article(1), 1.0)],
        clusters={1: Cluster(("ria.ru", "tass.ru", "rbc.ru", "interfax.ru"))},
    )
    assert "ещё 4 источника: ria.ru, tass.ru, rbc.ru, …" in parse_html(message).text


def story_clusters(*stories: dict[int, str]) -> dict[int, Cluster]:
    """Cluster entries as storage.sources.SourceRepository.clusters_for gives them: for each member its story's
    cluster id and the sources of the other members (`stories`: article id -> source, one dict per story)."""
    entries = {}
    for members in stories:
        cluster_id = min(members)
        for article_id, source in members.items():
            others = tuple(dict.fromkeys(s for i, s in members.items() if i != article_id and s != source))
            entries[article_id] = Cluster(others, cluster_id)
    return entries


def test_reposts_of_one_story_are_one_item_with_the_other_sources() -> None:
    official = Candidate(article(10, title="Постановление", hours_ago=5, source="government.ru"), 1.0)
    repost = Candidate(article(11, title="Постановление", hours_ago=4, source="ria.ru"), 1.0)
    another = Candidate(article(12, title="Постановление", hours_ago=3, source="tass.ru"), 1.0)
    alone = Candidate(article(13, title="Другое", hours_ago=2), 1.0)
    clusters = story_clusters({10: "government.ru", 11: "ria.ru", 12: "tass.ru"})
    # Whatever order the candidates come in, the earliest publication stands for the story.
    for order in ([official, repost, another, alone], [another, alone, repost, official]):
        collapsed = collapse_clusters(order, clusters)
        assert sorted(c.article.id for c in collapsed) == [10, 13]
    ranked = rank(
        collapse_clusters([repost, alone, official, another], clusters), period_start=START, period_end=END
    )
    [message] = render(ranked, clusters=clusters)
    plain = parse_html(message).text
    assert plain.count("Постановление") == 1 and "government.ru" in plain
    assert "ещё 2 источника: ria.ru, tass.ru" in plain
    assert "2 материала" in plain  # counted once per story


@pytest.mark.parametrize(
    ("relevances", "expected"),
    [((1.0, 0.6), 1.0), ((0.6, 0.9), 0.9), ((0.5, 0.5), 0.5)],
)
def test_a_collapsed_story_keeps_its_best_relevance(relevances: tuple[float, float], expected: float) -> None:
    first = Candidate(article(1, hours_ago=2, source="a.ru"), relevances[0])
    second = Candidate(article(2, hours_ago=1, source="b.ru"), relevances[1])
    [story] = collapse_clusters([second, first], story_clusters({1: "a.ru", 2: "b.ru"}))
    assert (story.article.id, story.relevance) == (1, expected)


def test_same_time_reposts_keep_the_lower_id_and_unclustered_articles_stay_apart() -> None:
    a = Candidate(article(7, hours_ago=1, source="a.ru"), 1.0)
    b = Candidate(article(5, hours_ago=1, source="b.ru"), 1.0)
    c = Candidate(article(6, hours_ago=1, source="c.ru"), 1.0)
    # 7 and 5 are one story; 6 has no cluster entry (no near-duplicates), even though its id collides with
    # nothing it must never be merged into another story.
    collapsed = collapse_clusters([a, b, c], story_clusters({7: "a.ru", 5: "b.ru"}))
    assert sorted(x.article.id for x in collapsed) == [5, 6]
    assert collapse_clusters([a, b, c], {}) == [a, b, c]


def test_cap_pages_and_more_line() -> None:
    items = rank(
        [Candidate(article(i, title=f"Новость {i}", hours_ago=i), 1.0) for i in range(1, 8)],
        period_start=START,
        period_end=END,
    )
    first = render_digest(
        items, period_start=START, period_end=END, timezone="Europe/Moscow", locale="ru", max_items=3
    )
    assert (first.shown, first.remaining) == (3, 4)
    text = parse_html(first.messages[-1]).text
    assert "И ещё 4 материала" in text and "Новость 4" not in text
    second = render_digest(
        items, period_start=START, period_end=END, timezone="Europe/Moscow", locale="en", max_items=3, page=1
    )
    text = parse_html("\n".join(second.messages)).text
    assert "Новость 4" in text and "Новость 3" not in text and "And 1 more" in text and "continued" in text
    last = render_digest(
        items, period_start=START, period_end=END, timezone="Europe/Moscow", locale="ru", max_items=3, page=2
    )
    assert (last.shown, last.remaining) == (1, 0)
    assert (
        render_digest(
            items,
            period_start=START,
            period_end=END,
            timezone="Europe/Moscow",
            locale="ru",
            max_items=3,
            page=3,
        ).messages
        == []
    )


def test_nothing_new_and_multi_day_period() -> None:
    text = render_nothing_new(
        period_start=START - timedelta(days=2), period_end=END, timezone="Europe/Moscow", locale="ru"
    )
    assert "Ничего нового" in text and "23.11–26.11.2026" in text
    [message] = render([Candidate(article(1, hours_ago=30), 1.0)], period_start=START - timedelta(days=2))
    assert "25.11 03:00" in message  # items of a multi-day digest carry their date


def _blocks(widths: list[int]) -> list[tuple[str | None, str]]:
    # Blocks of exact visible widths (escaped characters count once, as Telegram counts them).
    return [("commission", "&amp;" * (w // 2) + "я" * (w - w // 2)) for w in widths]


def test_pack_exactly_at_the_limit() -> None:
    heading = visible_length("<b>Комиссии</b>")
    # heading + sep + a + sep + b == limit exactly → one message; one more character → two.
    a = 1000
    b = MESSAGE_TEXT_LIMIT - heading - 2 - a - 2
    [one] = pack_blocks(_blocks([a, b]), locale="ru", limit=MESSAGE_TEXT_LIMIT)
    assert visible_length(one) == MESSAGE_TEXT_LIMIT == parse_html(one).length
    two = pack_blocks(_blocks([a, b + 1]), locale="ru", limit=MESSAGE_TEXT_LIMIT)
    assert len(two) == 2
    assert all(parse_html(m).length <= MESSAGE_TEXT_LIMIT for m in two)
    assert parse_html(two[1]).text.startswith("Комиссии (продолжение)")


def test_long_digest_splits_between_items_only() -> None:
    items = [
        Candidate(
            article(
                i, title=f"Новость номер {i} " + "🙂" * 40, lead="Лид " + "слово " * 60, hours_ago=i / 10
            ),
            1.0,
        )
        for i in range(1, 80)
    ]
    messages = render(items)
    assert len(messages) > 3
    texts = [parse_html(m).text for m in messages]
    for message, text in zip(messages, texts, strict=True):
        assert utf16_len(text) <= MESSAGE_TEXT_LIMIT
        assert visible_length(message) == utf16_len(text)
    for i in range(1, 80):
        holders = [t for t in texts if f"Новость номер {i} " in t]
        assert len(holders) == 1  # every item whole, in exactly one message


@settings(max_examples=40, deadline=None)
@given(
    titles=st.lists(st.text(min_size=1, max_size=300), min_size=1, max_size=40),
    limit=st.integers(min_value=700, max_value=MESSAGE_TEXT_LIMIT),
)
def test_any_titles_fit_and_parse(titles: list[str], limit: int) -> None:
    items = [Candidate(article(i, title=t, lead=t, hours_ago=i / 7), 1.0) for i, t in enumerate(titles, 1)]
    messages = render(items, limit=limit)
    assert messages
    for message in messages:
        assert parse_html(message).length <= limit


def test_groups_constant_matches_texts() -> None:
    from bot.telegram.texts import text

    for locale in ("ru", "en"):
        assert all(text(f"digest.group.{group}", locale) for group in GROUPS)


@settings(max_examples=60, deadline=None)
@given(title=st.text(max_size=200), lead=st.text(max_size=300), source=st.text(max_size=40))
def test_block_width_counts_like_telegram(title: str, lead: str, source: str) -> None:
    from zoneinfo import ZoneInfo

    from bot.digest.layout import block_width, render_item

    item = render_item(
        article(1, title=title, lead=lead, source=source),
        zone=ZoneInfo("Europe/Moscow"),
        locale="ru",
        with_date=True,
        cluster=Cluster((source, "<b>&amp;</b>")),
    )
    assert block_width(item) == visible_length(item) == parse_html(item).length
