from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.archive.urls import normalize_url
from bot.sources.listing import article_links, looks_like_article
from bot.sources.manage import SourceUrlError, check_url, guess_kind, guess_name
from bot.sources.records import SourceKind

LISTING = "https://tularegion.ru/press_center/news/"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "https://tularegion.ru/press_center/news/obshchestvo/v-tulskoy-oblasti-proshlo-zasedanie-komissii/",
            True,
        ),
        ("https://www.tularegion.ru/press_center/news/12345/", True),  # www. is the same site
        ("https://tularegion.ru/news/2021/10/05/", True),
        ("https://tularegion.ru/news/detail.php?ID=55", True),
        ("https://tularegion.ru/press_center/news/?PAGEN_1=2", False),  # paging
        ("https://tularegion.ru/press_center/", False),  # a section
        ("https://tularegion.ru/upload/doc-2021-10-05.pdf", False),  # a file
        ("https://other.ru/news/12345/", False),  # another site
        ("https://tularegion.ru/tags/komissiya/", False),
        ("https://tularegion.ru/about/", False),
        ("ftp://tularegion.ru/news/12345/", False),
    ],
)
def test_looks_like_article(url: str, expected: bool) -> None:
    assert looks_like_article(url, LISTING) is expected


def test_article_links_in_page_order_once_each() -> None:
    page = """<html><body>
      <nav><a href="/">Главная</a><a href="/about/">О регионе</a>
        <a href="/press_center/news/">Новости</a></nav>
      <div class="news-list">
        <a href="/press_center/news/obshchestvo/gubernator-provel-zasedanie-komissii/">Губернатор</a>
        <a href="/press_center/news/123456/">Заседание правительства</a>
        <a href="https://www.tularegion.ru/press_center/news/123456/#comments">Комментарии</a>
        <a href="/press_center/news/123457/?utm_source=tg">Ещё новость</a>
        <a href="https://vk.com/tularegion/12345678">ВКонтакте</a>
        <a href="/press_center/news/?PAGEN_1=2">Следующая страница</a>
        <a href="javascript:void(0)">Печать</a>
      </div></body></html>"""
    assert article_links(page, LISTING) == [
        "https://tularegion.ru/press_center/news/obshchestvo/gubernator-provel-zasedanie-komissii/",
        "https://tularegion.ru/press_center/news/123456/",
        "https://tularegion.ru/press_center/news/123457/?utm_source=tg",
    ]
    assert len(article_links(page, LISTING, limit=2)) == 2


def test_base_href_is_honoured() -> None:
    page = (
        '<html><head><base href="https://tularegion.ru/press_center/news/"></head>'
        '<body><a href="654321/">x</a>'
    )
    assert article_links(page, "https://tularegion.ru/") == [
        "https://tularegion.ru/press_center/news/654321/"
    ]


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("http://government.ru/all/rss/", SourceKind.RSS),
        ("http://kremlin.ru/events/president/news/feed", SourceKind.RSS),
        ("https://minfin.gov.ru/ru/press-center/?rss=Y", SourceKind.RSS),
        ("https://x.gov.ru/news.xml", SourceKind.RSS),
        ("https://tularegion.ru/press_center/news/", SourceKind.HTML),
    ],
)
def test_guess_kind(url: str, kind: SourceKind) -> None:
    assert guess_kind(url) is kind


@pytest.mark.parametrize(
    "url",
    [
        "",
        "government.ru/all/rss/",
        "ftp://x.ru/",
        "http://",
        "http://a b.ru/",
        "javascript:alert(1)",
        "http://x.ru:99999/rss",
        "http://x.ru:port/rss",
    ],
)
def test_check_url_refuses(url: str) -> None:
    with pytest.raises(SourceUrlError):
        check_url(url)


def test_check_url_and_name() -> None:
    assert check_url("  https://www.mos.ru/rss \n") == "https://www.mos.ru/rss"
    assert guess_name("https://www.mos.ru/rss") == "mos.ru"


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [
                "/press_center/news/123456/",
                "https://other.ru/news/123456/",
                "//cdn.tularegion.ru/news/2021/10/05/",
                "https://www.tularegion.ru/news/detail.php?ID=5",
                "#top",
                "mailto:press@tularegion.ru",
                "/upload/file-2021-10-05.pdf",
                "relative/path/gubernator-provel-zasedanie/",
                "http://tularegion.ru:8080/news/777777/",
                "/press_center/news/?PAGEN_1=3",
            ]
        ),
        max_size=20,
    )
)
def test_links_stay_on_the_site_and_are_unique(hrefs: list[str]) -> None:
    page = "".join(f'<a href="{href}">x</a>' for href in hrefs)
    links = article_links(page, LISTING)
    assert len({normalize_url(link) for link in links}) == len(links)
    assert all(urlsplit(link).hostname in ("tularegion.ru", "www.tularegion.ru") for link in links)
