"""HTML article pages: title, date, lead, body and views, with menus, scripts and sidebars dropped."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.archive.html import extract_html, looks_like_html
from bot.archive.parsing import parse_page
from bot.archive.rejection import PageRejected
from tests.conftest import FIXTURES

PAGES = FIXTURES / "pages"
NOW = datetime(2026, 1, 1, tzinfo=UTC)
BODY = "Губернатор провел заседание комиссии по предупреждению чрезвычайных ситуаций. Решения приняты."


def page(head: str = "", body: str = "") -> bytes:
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'>{head}</head><body>{body}</body></html>".encode()
    )


def test_bitrix_regional_page_in_cp1251() -> None:
    data = (PAGES / "tularegion-bitrix-2024.html").read_bytes()
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")
    article = parse_page(data, source="tularegion.ru", filename="tularegion-bitrix-2024.html", now=NOW)
    assert (
        article.title == "Денис Мантуров и Алексей Дюмин обсудили развитие промышленности в Тульской области"
    )
    # the article's own date (10.01.2024 20:51 MSK), not the page header's "today" nor a sidebar item's date
    assert article.published_at == datetime(2024, 1, 10, 17, 51, tzinfo=UTC)
    assert article.views == 711
    assert len(article.body) == 4
    assert article.body[0].startswith("Сегодня, 10 января, заместитель Председателя Правительства")
    text = "\n".join(article.body)
    for noise in (
        "Поиск по сайту",
        "Документы",
        "Другие новости",
        "Все права защищены",
        "BX.message",
        "Поделиться",
        "В Туле открылся новый центр госуслуг",
        "metrika",
    ):
        assert noise not in text
    assert {"government", "governor", "ministry"} <= article.topics
    assert article.is_gov_commission


def test_news_agency_page_with_meta_and_article() -> None:
    data = (PAGES / "tass-article-2025.html").read_bytes()
    article = parse_page(data, source="tass.ru", url="https://tass.ru/politika/24817039", now=NOW)
    assert article.title.startswith("Шапша: Госсовет стал одной из основных площадок")
    assert article.published_at == datetime(2025, 8, 19, 6, 15, tzinfo=UTC)
    assert article.lead.startswith("Губернатор Калужской области отметил")
    assert article.body[0].startswith("МОСКВА, 19 августа. /ТАСС/. Государственный Совет РФ")
    assert len(article.body) == 2
    text = "\n".join(article.body)
    for noise in (
        "Читайте также",
        "Политика",
        "dataLayer",
        "NewsArticle",
        "Информационное агентство",
        "Калужская область ",
    ):
        assert noise not in text
    assert article.lead not in article.body
    assert "state_council" in article.topics


@pytest.mark.parametrize(
    ("head", "body", "title"),
    [
        pytest.param(
            "<meta property='og:title' content='Из og:title'><title>Из title | Сайт</title>",
            f"<h1>Из h1</h1><p>{BODY}</p>",
            "Из og:title",
            id="og-title-first",
        ),
        pytest.param(
            "<title>Из title | Сайт</title>", f"<h1>Из <b>h1</b></h1><p>{BODY}</p>", "Из h1", id="h1"
        ),
        pytest.param(
            "<title>Новость дня | Правительство области</title>",
            f"<p>{BODY}</p>",
            "Новость дня",
            id="title-tail",
        ),
    ],
)
def test_title_preference(head: str, body: str, title: str) -> None:
    date = "<meta property='article:published_time' content='2021-10-27T22:29:00+03:00'>"
    assert parse_page(page(date + head, body), source="t", now=NOW).title == title


@pytest.mark.parametrize(
    ("head", "body", "expected"),
    [
        pytest.param(
            "<meta property='article:published_time' content='2021-10-27T22:29:00+03:00'>",
            "<span class='date'>01.01.2020</span>",
            datetime(2021, 10, 27, 19, 29, tzinfo=UTC),
            id="og-published",
        ),
        pytest.param(
            "",
            "<time datetime='2021-10-27T19:29:00Z'>вчера</time>",
            datetime(2021, 10, 27, 19, 29, tzinfo=UTC),
            id="time-datetime",
        ),
        pytest.param(
            "",
            "<span itemprop='datePublished' content='2021-10-27'>27 октября</span>",
            datetime(2021, 10, 26, 21, 0, tzinfo=UTC),
            id="itemprop",
        ),
        pytest.param(
            "",
            "<div class='news-date-time'>27 октября 2021, 22:29</div>",
            datetime(2021, 10, 27, 19, 29, tzinfo=UTC),
            id="date-class-text",
        ),
        pytest.param(
            "",
            "<div class='meta'>Опубликовано 27.10.2021 в 22:29</div>",
            datetime(2021, 10, 27, 19, 29, tzinfo=UTC),
            id="text-pattern",
        ),
    ],
)
def test_date_preference(head: str, body: str, expected: datetime) -> None:
    markup = page(
        "<meta property='og:title' content='Заголовок новости'>" + head,
        f"{body}<article><p>{BODY}</p></article>",
    )
    assert parse_page(markup, source="t", now=NOW).published_at == expected


def test_body_from_the_largest_block_of_paragraphs() -> None:
    markup = page(
        "<meta property='og:title' content='Заголовок'><meta name='date' content='2021-10-27 22:29'>",
        "<div class='promo'><p>Реклама.</p></div>"
        f"<div class='content'><p>{BODY}</p><p>Второй абзац статьи.</p><p>Третий абзац.</p></div>"
        "<div class='menu'><p>Главная</p><p>Контакты</p></div>"
        "<script>var p = '<p>не текст</p>';</script><style>p {color: red}</style>",
    )
    article = parse_page(markup, source="t", now=NOW)
    assert article.body == (BODY, "Второй абзац статьи.", "Третий абзац.")


def test_body_with_br_lines_instead_of_paragraphs() -> None:
    markup = page(
        "<meta property='og:title' content='Заголовок'><meta name='date' content='2021-10-27 22:29'>",
        f"<div class='news-detail'>{BODY}<br><br>Второй абзац статьи.<br/>Третий абзац.</div>",
    )
    article = parse_page(markup, source="t", now=NOW)
    assert article.body == (BODY, "Второй абзац статьи.", "Третий абзац.")


@pytest.mark.parametrize(
    ("block", "lead"),
    [
        (
            "<div class='article__lead'>Губернатор подвел итоги года на заседании.</div>",
            "Губернатор подвел итоги года на заседании.",
        ),
        (
            "<p class='anons'>Губернатор подвел итоги года на заседании.</p>",
            "Губернатор подвел итоги года на заседании.",
        ),
        ("<div class='leaders-list'>Лидеры рейтинга губернаторов за год</div>", ""),
        ("<div class='lead'>Коротко</div>", ""),
    ],
)
def test_lead(block: str, lead: str) -> None:
    markup = page(
        "<meta property='og:title' content='Заголовок'><meta name='date' content='2021-10-27 22:29'>",
        f"<article>{block}<p>{BODY}</p></article>",
    )
    assert parse_page(markup, source="t", now=NOW).lead == lead


@pytest.mark.parametrize(
    ("counter", "views"),
    [
        ("<span class='views'>1 204</span>", 1204),
        ("<div class='news-detail__views'>Просмотров: 711</div>", 711),
        ("<div class='stat'>Просмотров: 35</div>", 35),
        ("<div class='preview-text'>В 2024 году открыто 15 центров</div>", None),
        ("<span class='comments-count'>12</span>", None),
    ],
)
def test_views(counter: str, views: int | None) -> None:
    markup = page(
        "<meta property='og:title' content='Заголовок'><meta name='date' content='2021-10-27 22:29'>",
        f"<article><p>{BODY}</p>{counter}</article>",
    )
    assert parse_page(markup, source="t", now=NOW).views == views


def test_html_detected_without_a_filename() -> None:
    assert looks_like_html("<!DOCTYPE html><html><body></body></html>")
    assert looks_like_html("  <div class='x'><p>текст</p></div>")
    assert not looks_like_html("Заголовок\nЛид\n22:29, 27 октября 2021 154\nТекст с символом < внутри")


@pytest.mark.parametrize(
    ("markup", "reason"),
    [
        pytest.param(page("", f"<p>{BODY}</p>"), "no title", id="no-title"),
        pytest.param(
            page("<title>Заголовок</title>", f"<p>{BODY}</p>"), "no recognizable date", id="no-date"
        ),
        pytest.param(
            page(
                "<title>Заголовок</title>"
                "<meta property='article:published_time' content='2021-02-31T10:00:00'>",
                f"<p>{BODY}</p>",
            ),
            "impossible date",
            id="impossible-date",
        ),
        pytest.param(
            page(
                "<title>Заголовок</title>"
                "<meta property='article:published_time' content='2021-10-27T10:00:00'>"
            ),
            "no article text",
            id="no-text",
        ),
    ],
)
def test_html_rejections(markup: bytes, reason: str) -> None:
    with pytest.raises(PageRejected, match=reason):
        parse_page(markup, source="t", filename="x.html", now=NOW)


def test_extract_html_on_broken_markup_does_not_raise() -> None:
    for markup in ("", "<", "<html><body><p>", "<p>" * 500, "</div></div><article><h1>Т</h1>", "\x00<html>"):
        extracted = extract_html(markup)
        assert isinstance(extracted.paragraphs, tuple)


def test_html_page_furniture_and_publisher_suffix_go_through_the_same_cleaning() -> None:
    """Furniture without telltale class names stays in the DOM; make_article's rules remove it."""
    markup = page(
        "<meta property='og:title' content='Губернатор провел заседание комиссии | РИА Новости'>"
        "<meta property='article:published_time' content='2021-10-27T22:29:00+03:00'>",
        "<div><p>• ВЕРСИЯ ДЛЯ СЛАБОВИДЯЩИХ</p><p>Поиск</p><p>Новости Документы Заседания Найти</p>"
        "<p>Губернатор провел заседание комиссии</p>"
        f"<p>{BODY}</p><p>Второй абзац о решениях комиссии.</p><p>DMCA</p></div>",
    )
    article = parse_page(markup, source="ria.ru", filename="x.html", now=NOW)
    assert article.title == "Губернатор провел заседание комиссии"
    assert (article.lead, article.body) == ("", (BODY, "Второй абзац о решениях комиссии."))
