from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from bot.archive.models import MARK_END, MARK_START, SearchHit, StoredArticle
from bot.telegram.callbacks import ArticleMore, SearchPage
from bot.telegram.html_split import split_text, visible_length
from bot.telegram.limits import CALLBACK_DATA_LIMIT, MESSAGE_TEXT_LIMIT
from bot.telegram.render import (
    MAX_ARTICLE_MESSAGES,
    article_messages,
    invalid_filters_note,
    marked_to_html,
    render_article,
    render_inline_message,
    render_search_page,
)
from bot.telegram.search_state import search_key
from tests.bot.test_html_split import well_formed

MOSCOW = ZoneInfo("Europe/Moscow")
HOSTILE_TITLE = "Налог <script>alert(\"x\")</script> & «кавычки» '1' </b><i>"


def hit(
    article_id: int = 1,
    *,
    title: str = "Заголовок",
    url: str | None = "https://example.org/a?x=1&y=2",
    snippet: str = f"о {MARK_START}комиссии{MARK_END} по транспорту",
    source: str = "ТАСС",
) -> SearchHit:
    return SearchHit(
        article_id=article_id,
        title=title,
        lead="Лид статьи",
        source=source,
        url=url,
        published_at=datetime(2021, 10, 12, 22, 30, tzinfo=UTC),
        views=10,
        topics=frozenset(),
        snippet=snippet,
        rank=-1.0,
    )


def article(
    body: tuple[str, ...], *, title: str = "Заголовок", url: str | None = "https://example.org/a"
) -> StoredArticle:
    return StoredArticle(
        id=7,
        title=title,
        lead="Лид",
        body=body,
        published_at=datetime(2021, 10, 12, 9, 0, tzinfo=UTC),
        views=None,
        source="Источник",
        url=url,
        topics=frozenset(),
        is_gov_commission=True,
        content_hash="0" * 64,
        ingested_at=datetime(2021, 10, 12, 9, 0, tzinfo=UTC),
    )


# --- escaping ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("snippet", "expected"),
    [
        (f"a {MARK_START}b{MARK_END} c", "a <b>b</b> c"),
        (f"{MARK_START}<x>{MARK_END} & y", "<b>&lt;x&gt;</b> &amp; y"),
        (f"{MARK_START}open", "<b>open</b>"),  # unbalanced: closed
        (f"close{MARK_END} and {MARK_START}{MARK_START}twice{MARK_END}{MARK_END}", "close and <b>twice</b>"),
        (f"{MARK_START}{MARK_END}empty", "empty"),
        ("ctrl\x00\x07chars", "ctrlchars"),
    ],
)
def test_marked_to_html(snippet: str, expected: str) -> None:
    assert marked_to_html(snippet) == expected


@pytest.mark.parametrize("locale", ["ru", "en"])
def test_search_page_escapes_titles_and_queries(locale: str) -> None:
    hits = [hit(1, title=HOSTILE_TITLE), hit(2, url=None, title="<без ссылки>"), hit(3, url="javascript:x")]
    view = render_search_page(
        hits, query_text='<b>"запрос"</b> & -x', total=12, page=0, key="k" * 8, tz=MOSCOW, locale=locale
    )
    assert well_formed(view.text)
    assert "<script>" not in view.text and "&lt;script&gt;" in view.text
    assert "&lt;b&gt;" in view.text  # the query shows as written
    assert '<a href="https://example.org/a?x=1&amp;y=2">' in view.text
    assert "&lt;без ссылки&gt;" in view.text
    assert "№2" in view.text if locale == "ru" else "#2" in view.text
    assert "javascript" not in view.text
    assert "13.10.2021" in view.text  # 22:30 UTC is already the next day in Moscow
    assert "<b>комиссии</b>" in view.text
    assert view.keyboard is not None
    buttons = [b for row in view.keyboard.inline_keyboard for b in row]
    assert len([b for b in buttons if b.callback_data and b.callback_data.startswith("am:")]) == 3
    assert [b.callback_data for b in buttons if b.callback_data and b.callback_data.startswith("sp:")] == [
        SearchPage(key="k" * 8, page=1).pack()
    ]


def test_search_page_navigation_and_empty() -> None:
    middle = render_search_page([hit()], query_text="q", total=30, page=2, key="abc", tz=MOSCOW, locale="ru")
    assert middle.keyboard is not None
    nav = [b.callback_data for b in middle.keyboard.inline_keyboard[-1]]
    assert nav == [SearchPage(key="abc", page=1).pack(), SearchPage(key="abc", page=3).pack()]
    assert "Страница 3 из 6" in middle.text
    nothing = render_search_page([], query_text="<x>", total=0, page=0, key="abc", tz=MOSCOW, locale="ru")
    assert nothing.keyboard is None and "&lt;x&gt;" in nothing.text


def test_search_page_with_huge_fields_fits_one_message() -> None:
    monster = hit(title="Т" * 10_000, snippet="с" * 10_000, source="и" * 5000)
    view = render_search_page(
        [monster] * 5, query_text="q" * 5000, total=5, page=0, key="k", tz=MOSCOW, locale="ru"
    )
    assert visible_length(view.text) <= MESSAGE_TEXT_LIMIT
    assert well_formed(view.text)


@pytest.mark.parametrize("query", ["", "x" * 4096, "ъ" * 3000, '"' * 500 + ":" * 500])
def test_callback_data_stays_within_64_bytes(query: str) -> None:
    key = search_key(query)
    for page in (0, 1, 199, 10**6):
        assert len(SearchPage(key=key, page=page).pack().encode()) <= CALLBACK_DATA_LIMIT
    assert len(ArticleMore(article_id=2**31 - 1).pack().encode()) <= CALLBACK_DATA_LIMIT


def test_article_renders_and_splits_past_4096() -> None:
    body = tuple(f"Абзац {i}. " + "Текст & <теги> не теги. " * 40 for i in range(20))  # ~19,000 characters
    rendered = render_article(article(body, title=HOSTILE_TITLE), MOSCOW, "ru")
    parts = split_text(rendered)
    assert len(parts) >= 5
    for part in parts:
        assert visible_length(part) <= MESSAGE_TEXT_LIMIT
        assert well_formed(part)
    joined = "\n\n".join(parts)
    assert "&lt;теги&gt;" in joined and "<script>" not in joined
    assert all(f"Абзац {i}." in joined for i in range(20))


def test_inline_message_has_title_date_lead_and_link() -> None:
    message = render_inline_message(
        title=HOSTILE_TITLE,
        published_at=datetime(2021, 10, 12, 9, 0, tzinfo=UTC),
        lead="Лид & <лид>" * 2000,
        url="https://example.org/x",
        article_id=5,
        tz=MOSCOW,
        locale="ru",
    )
    assert visible_length(message) <= MESSAGE_TEXT_LIMIT
    assert well_formed(message)
    assert "12.10.2021" in message and "&lt;script&gt;" in message


@pytest.mark.parametrize(
    ("paragraphs", "url", "truncated"),
    [
        (("Короткий текст.",), "https://example.org/a", False),
        (tuple("Абзац " + "слово " * 600 for _ in range(3)), None, False),
        (tuple("Абзац " + "слово " * 600 for _ in range(500)), "https://example.org/a", True),  # ~1.8 MB
        (("Одно " + "очень длинное предложение " * 80_000,), None, True),
    ],
)
def test_article_messages_are_capped_with_a_closing_note(
    paragraphs: tuple[str, ...], url: str | None, truncated: bool
) -> None:
    parts = article_messages(article(paragraphs, url=url), UTC, "ru")
    assert 1 <= len(parts) <= MAX_ARTICLE_MESSAGES
    assert all(visible_length(part) <= MESSAGE_TEXT_LIMIT and well_formed(part) for part in parts)
    assert ("Показано начало статьи" in parts[-1]) is truncated
    if truncated:
        assert ("по ссылке выше" in parts[-1]) is (url is not None)
    else:
        assert parts == split_text(render_article(article(paragraphs, url=url), UTC, "ru"))


@pytest.mark.parametrize(
    ("tokens", "expected"),
    [
        ((), ""),
        (("с:31.02.2021",), "⚠️ Не понял: с:31.02.2021 — фильтр не применён."),
        (("тема:<b>&",), "⚠️ Не понял: тема:&lt;b&gt;&amp; — фильтр не применён."),
        (("с:1", "по:2"), "⚠️ Не понял: с:1, по:2 — фильтры не применены."),
        (tuple(f"с:{n}" for n in range(7)), "⚠️ Не понял: с:0, с:1, с:2, с:3, с:4, … — фильтры не применены."),
        (("тема:" + "я" * 100,), "⚠️ Не понял: тема:" + "я" * 34 + "… — фильтр не применён."),
    ],
)
def test_invalid_filters_note(tokens: tuple[str, ...], expected: str) -> None:
    assert invalid_filters_note(tokens, "ru") == expected
    if tokens:
        assert invalid_filters_note(tokens, "ru", hint=True).startswith(expected + " ")
