"""prepare_source: the one check-and-guess step behind `govdigest sources add` and /addsource."""

from __future__ import annotations

import pytest

from bot.sources.manage import NotPublicUrlError, SourceUrlError, prepare_source
from bot.sources.records import NewSource, SourceKind
from tests.bot.sources.stub_resolver import StubResolver


@pytest.mark.parametrize(
    ("url", "options", "expected"),
    [
        (
            " http://www.government.ru/all/rss/ ",
            {},
            NewSource(url="http://www.government.ru/all/rss/", name="government.ru", kind=SourceKind.RSS),
        ),
        (
            "https://tularegion.ru/press_center/news/",
            {"poll_interval_seconds": 1800, "enabled": False},
            NewSource(
                url="https://tularegion.ru/press_center/news/",
                name="tularegion.ru",
                kind=SourceKind.HTML,
                poll_interval_seconds=1800,
                enabled=False,
            ),
        ),
        (
            "https://example.ru/news",
            {"name": "  Пример ", "kind": SourceKind.RSS},
            NewSource(url="https://example.ru/news", name="Пример", kind=SourceKind.RSS),
        ),
        (
            "https://example.ru/news",
            {"name": "   "},
            NewSource(url="https://example.ru/news", name="example.ru", kind=SourceKind.HTML),
        ),
    ],
)
async def test_prepared_source(url: str, options: dict[str, object], expected: NewSource) -> None:
    resolver = StubResolver({"www.government.ru": ["95.173.128.1"], "tularegion.ru": ["95.173.128.2"]})
    resolver.table["example.ru"] = ["95.173.128.3"]
    assert await prepare_source(url, allow_private=False, resolver=resolver, **options) == expected


@pytest.mark.parametrize(
    "url", ["government.ru/rss", "ftp://example.ru/", "http://exa mple.ru/", "http://h:99999/"]
)
async def test_not_a_url(url: str) -> None:
    with pytest.raises(SourceUrlError):
        await prepare_source(url, allow_private=True)


async def test_private_host_refused_unless_allowed() -> None:
    resolver = StubResolver({"intranet.example": ["10.0.0.5"]})
    with pytest.raises(NotPublicUrlError) as refused:
        await prepare_source("http://intranet.example/feed", allow_private=False, resolver=resolver)
    assert refused.value.url == "http://intranet.example/feed"
    assert refused.value.addresses == ["10.0.0.5"]
    allowed = await prepare_source("http://intranet.example/feed", allow_private=True, resolver=resolver)
    assert allowed.url == "http://intranet.example/feed"
