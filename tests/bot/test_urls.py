"""normalize_url: one canonical form for the links that reach the same article."""

from __future__ import annotations

import pytest

from bot.archive.urls import normalize_url


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://tass.ru/politika/24817039", "https://tass.ru/politika/24817039"),
        ("http://tass.ru/politika/24817039", "https://tass.ru/politika/24817039"),
        ("HTTPS://TASS.RU/politika/24817039", "https://tass.ru/politika/24817039"),
        (
            "https://www.gazeta.ru/news/2008/11/21/n_1298950.shtml",
            "https://gazeta.ru/news/2008/11/21/n_1298950.shtml",
        ),
        ("https://tass.ru/politika/24817039/", "https://tass.ru/politika/24817039"),
        ("https://tass.ru/", "https://tass.ru"),
        ("https://tass.ru:443/a", "https://tass.ru/a"),
        ("http://tass.ru:80/a", "https://tass.ru/a"),
        ("https://tass.ru:8443/a", "https://tass.ru:8443/a"),
        ("https://tass.ru/a#comments", "https://tass.ru/a"),
        ("https://tass.ru/a?utm_source=tg&utm_medium=social&utm_campaign=x", "https://tass.ru/a"),
        ("https://tass.ru/a?fbclid=1&gclid=2&yclid=3&_openstat=4&from=rss&ref=tg", "https://tass.ru/a"),
        ("https://tass.ru/a?UTM_Source=tg", "https://tass.ru/a"),
        ("https://rg.ru/news?page=2&id=5", "https://rg.ru/news?id=5&page=2"),
        ("https://rg.ru/news?id=5&utm_source=x&page=2", "https://rg.ru/news?id=5&page=2"),
        ("https://rg.ru/news?q=", "https://rg.ru/news?q="),
        (
            "https://rg.ru/%D0%BD%D0%BE%D0%B2%D0%BE%D1%81%D1%82%D0%B8",
            "https://rg.ru/%D0%BD%D0%BE%D0%B2%D0%BE%D1%81%D1%82%D0%B8",
        ),
        ("https://rg.ru/новости", "https://rg.ru/%D0%BD%D0%BE%D0%B2%D0%BE%D1%81%D1%82%D0%B8"),
        ("https://rg.ru/%d0%bd%d0%be", "https://rg.ru/%D0%BD%D0%BE"),
        ("https://правительство.рф/news", "https://xn--80aealotwbjpid2k.xn--p1ai/news"),
        ("  https://tass.ru/a  ", "https://tass.ru/a"),
        ("https://tass.ru./a", "https://tass.ru/a"),
        # not an http(s) URL: returned stripped and unchanged
        ("ftp://tass.ru/a", "ftp://tass.ru/a"),
        ("не ссылка", "не ссылка"),
        ("", ""),
        ("https://[broken/a", "https://[broken/a"),
        ("http://host:notaport/a", "http://host:notaport/a"),
    ],
)
def test_normalize_url(url: str, expected: str) -> None:
    assert normalize_url(url) == expected


@pytest.mark.parametrize(
    "url",
    [
        "https://tass.ru/politika/24817039",
        "http://www.tass.ru/politika/24817039/?utm_source=x#top",
        "https://rg.ru/news?b=2&a=1",
    ],
)
def test_normalize_url_is_idempotent(url: str) -> None:
    once = normalize_url(url)
    assert normalize_url(once) == once
