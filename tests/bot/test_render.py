from __future__ import annotations

import html
import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.archive.models import MARK_END, MARK_START, SearchHit, StoredArticle
from bot.telegram.callbacks import ArticleMore, SearchPage
from bot.telegram.limits import CALLBACK_DATA_LIMIT, MESSAGE_TEXT_LIMIT
from bot.telegram.render import (
    MAX_ARTICLE_MESSAGES,
    article_messages,
    fit_message,
    invalid_filters_note,
    marked_to_html,
    render_article,
    render_inline_message,
    render_search_page,
    safe_url,
    shorten,
    split_text,
    utf16_length,
    visible_length,
)
from bot.telegram.search_state import QueryStore

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


def well_formed(html_text: str) -> bool:
    """Tags balanced and properly nested (what Telegram's HTML parser demands)."""
    stack: list[str] = []
    for closing, name in re.findall(r"<(/?)([a-z]+)[^>]*>", html_text):
        if closing:
            if not stack or stack.pop() != name:
                return False
        else:
            stack.append(name)
    return not stack


# --- length and splitting ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("html_text", "length"),
    [
        ("abc", 3),
        ("<b>abc</b>", 3),
        ("&lt;&amp;&gt;&quot;", 4),
        ("&#128512;", 2),  # an emoji is two UTF-16 code units
        ("😀", 2),
        ('<a href="https://example.org/?a=1&amp;b=2">x</a>', 1),
        ("", 0),
    ],
)
def test_visible_length_counts_like_telegram(html_text: str, length: int) -> None:
    assert visible_length(html_text) == length


@pytest.mark.parametrize(
    ("unit", "count", "parts"),
    [
        ("a", MESSAGE_TEXT_LIMIT, 1),
        ("a", MESSAGE_TEXT_LIMIT + 1, 2),
        ("&amp;", MESSAGE_TEXT_LIMIT, 1),  # 5 raw characters, 1 after parsing
        ("&amp;", MESSAGE_TEXT_LIMIT + 1, 2),
        ("😀", MESSAGE_TEXT_LIMIT // 2, 1),  # 2 UTF-16 units each
        ("😀", MESSAGE_TEXT_LIMIT // 2 + 1, 2),
    ],
)
def test_split_at_the_exact_boundary(unit: str, count: int, parts: int) -> None:
    result = split_text(unit * count)
    assert len(result) == parts
    assert all(visible_length(part) <= MESSAGE_TEXT_LIMIT for part in result)
    assert sum(visible_length(part) for part in result) == visible_length(unit * count)


def test_split_prefers_paragraphs_then_sentences() -> None:
    first = "Первый абзац. " * 150  # ~2100 characters
    second = "Второй абзац. " * 150
    result = split_text(first.strip() + "\n\n" + second.strip())
    assert len(result) == 2
    assert result[0] == first.strip()
    assert result[1] == second.strip()

    sentences = " ".join(f"Предложение номер {i}." for i in range(400))  # one paragraph, ~9000 characters
    parts = split_text(sentences)
    assert len(parts) == 3
    assert all(part.endswith(".") for part in parts)
    assert " ".join(parts) == sentences


def test_split_never_breaks_tags_or_entities_and_reopens_formatting() -> None:
    text = "<b>" + "жирный &amp; текст " * 600 + "</b>"  # ~10,800 characters inside one <b>
    parts = split_text(text)
    assert len(parts) == 3
    for part in parts:
        assert part.startswith("<b>") and part.endswith("</b>")
        assert well_formed(part)
        assert visible_length(part) <= MESSAGE_TEXT_LIMIT
        assert not re.search(r"&[a-z]*$|&[a-z]*<", part)
    assert (
        html.unescape(re.sub("<[^>]+>", "", " ".join(parts)))
        == html.unescape(re.sub("<[^>]+>", "", text)).strip()
    )


def test_split_hard_cuts_a_word_longer_than_the_limit_between_code_points() -> None:
    word = "😀" * 3000  # 6000 UTF-16 units, no boundary anywhere
    parts = split_text(word)
    assert [visible_length(p) for p in parts] == [4096, 1904]
    assert "".join(parts) == word


@settings(max_examples=60, deadline=None)
@given(
    paragraphs=st.lists(
        st.text(alphabet=st.sampled_from("аб в.!?\n😀<&\"'"), min_size=0, max_size=300),
        min_size=1,
        max_size=12,
    ),
    limit=st.integers(min_value=20, max_value=400),
)
def test_split_properties(paragraphs: list[str], limit: int) -> None:
    source = "\n\n".join(f"<i>{html.escape(p, quote=False)}</i>" for p in paragraphs)
    parts = split_text(source, limit)
    for part in parts:
        assert 0 < visible_length(part) <= limit
        assert well_formed(part)
    visible = "".join(html.unescape(re.sub("<[^>]+>", "", p)) for p in parts)
    original = html.unescape(re.sub("<[^>]+>", "", source))
    assert re.sub(r"\s", "", visible) == re.sub(r"\s", "", original)


def test_fit_message_cuts_and_marks_the_cut() -> None:
    assert fit_message("short") == "short"
    long = "слово " * 2000
    fitted = fit_message(long)
    assert visible_length(fitted) <= MESSAGE_TEXT_LIMIT and fitted.endswith("…")


def test_utf16_length() -> None:
    assert utf16_length("a😀я") == 4


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


@pytest.mark.parametrize(
    ("url", "safe"),
    [
        ("https://example.org/a?b=1&c=2", True),
        ("http://example.org", True),
        ("javascript:alert(1)", False),
        ('https://example.org/"><script>', False),
        ("https://exa mple.org", False),
        ("", False),
        (None, False),
    ],
)
def test_safe_url(url: str | None, safe: bool) -> None:
    assert (safe_url(url) is not None) is safe


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
    store = QueryStore()
    key = store.put(query)
    for page in (0, 1, 199, 10**6):
        assert len(SearchPage(key=key, page=page).pack().encode()) <= CALLBACK_DATA_LIMIT
    assert len(ArticleMore(article_id=2**31 - 1).pack().encode()) <= CALLBACK_DATA_LIMIT
    assert store.get(key) == query


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
    ("value", "limit", "expected"),
    [
        ("abc", 5, "abc"),
        ("слово слово слово", 12, "слово слово…"),
        ("слово слово слово", 10, "слово…"),
        ("абвгдеёжзи", 5, "абвг…"),
    ],
)
def test_shorten(value: str, limit: int, expected: str) -> None:
    assert shorten(value, limit) == expected


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
