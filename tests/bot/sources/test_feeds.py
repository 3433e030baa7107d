from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.sources.feeds import (
    FeedError,
    html_paragraphs,
    html_to_text,
    looks_like_feed,
    looks_like_html,
    parse_feed,
)
from tests.conftest import FIXTURES

RSS = FIXTURES / "rss"
MOS = (RSS / "mos.ru_news_rss_2022-07-27.xml").read_bytes()


@pytest.mark.parametrize(
    ("name", "count", "first_title"),
    [
        (
            "mos.ru_news_rss_2022-07-27.xml",
            10,
            "«Моспром вдохновляет»: открыта регистрация на первые бесплатные спектакли",
        ),
        (
            "tut.by_news_rss_2019-12-30.xml",
            100,
            "Гороскоп наоборот. Давайте проверим, случилось ли с вами то, что звезды обещали в этом году",
        ),
        (
            "liga.net_rss_2021-08-22.xml",
            12,
            'Футбол. "Арсенал" – "Челси": где и когда смотреть матч английской Премьер-лиги',
        ),
    ],
)
def test_real_feeds(name: str, count: int, first_title: str) -> None:
    feed = parse_feed((RSS / name).read_bytes())
    assert len(feed.items) == count
    assert feed.duplicate_items == 0 and feed.warning is None
    assert feed.items[0].title == first_title
    assert all(item.published_at is not None and item.published_at.tzinfo is not None for item in feed.items)
    assert len({item.key for item in feed.items}) == count


def test_item_without_guid_is_keyed_by_link_and_dates_are_utc() -> None:
    item = parse_feed(MOS).items[0]
    assert item.guid is None
    assert item.key == "link:https://www.mos.ru/news/item/110547073/"
    assert item.published_at == datetime(2022, 7, 27, 8, 1, 1, tzinfo=UTC)  # 11:01:01 +0300
    assert item.summary.startswith("Постановку по пьесе Николая Гоголя")
    assert item.content == ()


def test_escaped_html_in_descriptions_becomes_text() -> None:
    item = parse_feed((RSS / "tut.by_news_rss_2019-12-30.xml").read_bytes()).items[0]
    assert item.summary == "Давайте проверим, сбылся ли ваш гороскоп на 2019 год."
    assert item.key.startswith("guid:https://news.tut.by/go/666242.html")


def _rss(items: str, encoding: str = "utf-8") -> str:
    return (
        f'<?xml version="1.0" encoding="{encoding}"?><rss version="2.0"><channel><title>Лента</title>'
        f"{items}</channel></rss>"
    )


def test_duplicate_guids_are_counted_once() -> None:
    item = "<item><guid>id-1</guid><title>Заседание комиссии</title><link>https://x.ru/1</link></item>"
    other = "<item><guid>id-2</guid><title>Второе</title><link>https://x.ru/2</link></item>"
    feed = parse_feed(_rss(item + other + item + item).encode())
    assert [i.key for i in feed.items] == ["guid:id-1", "guid:id-2"]
    assert feed.duplicate_items == 2


def test_items_without_guid_link_or_date_get_a_stable_key() -> None:
    data = _rss("<item><title>Только заголовок</title><description>Текст</description></item>").encode()
    first, second = parse_feed(data).items[0], parse_feed(data).items[0]
    assert first.guid is None and first.link is None and first.published_at is None
    assert first.key == second.key and first.key.startswith("hash:")


def test_cp1251_feed_is_decoded() -> None:
    data = _rss(
        "<item><title>Губернатор провёл совещание</title><link>https://x.ru/1</link></item>", "windows-1251"
    )
    feed = parse_feed(data.encode("cp1251"))
    assert feed.items[0].title == "Губернатор провёл совещание"


def test_atom_full_content_keeps_paragraphs() -> None:
    atom = (
        '<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom"><title>A</title>'
        "<entry><id>urn:1</id><title>Заголовок</title><link href='https://x.ru/a'/>"
        "<updated>2025-09-25T20:05:00+03:00</updated><summary>Кратко</summary>"
        "<content type='html'>&lt;p&gt;Первый абзац.&lt;/p&gt;"
        "&lt;p&gt;Второй &lt;b&gt;абзац&lt;/b&gt;.&lt;/p&gt;</content>"
        "</entry></feed>"
    )
    item = parse_feed(atom.encode()).items[0]
    assert item.content == ("Первый абзац.", "Второй абзац.")
    assert item.published_at == datetime(2025, 9, 25, 17, 5, tzinfo=UTC)
    assert item.link == "https://x.ru/a"


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty response"),
        (b"<!DOCTYPE html><html><head><title>News</title></head><body><p>hi</p></body></html>", "HTML page"),
        (b"<html><body><a href='/rss'>RSS</a></body></html>", "HTML page"),
        (b"just some text, no XML at all", "not an RSS/Atom feed"),
        (b"<?xml version='1.0'?><rss version='2.0'><channel><title>x</ti", "malformed XML"),
        (
            b"<?xml version='1.0'?><rss version='2.0'><channel><title>x</title><item></channel>",
            "malformed XML",
        ),
    ],
)
def test_unusable_documents_raise_readable_errors(data: bytes, reason: str) -> None:
    with pytest.raises(FeedError, match=reason):
        parse_feed(data)


def test_damaged_feed_keeps_what_was_recovered() -> None:
    damaged = MOS.replace(b"</item>", b"</itm>", 1)
    feed = parse_feed(damaged)
    assert feed.warning is not None and "damaged" in feed.warning
    assert len(feed.items) >= 1


def test_empty_valid_feed_has_no_items() -> None:
    feed = parse_feed(_rss("").encode())
    assert feed.items == () and feed.title == "Лента"


def test_html_helpers() -> None:
    assert html_to_text("a &amp; <b>b</b>\n c") == "a & b c"
    assert html_paragraphs("<p>one</p><p>two<br>three</p>") == ("one", "two", "three")
    assert looks_like_html(b"  <!doctype html><html>") and not looks_like_html(b"<?xml?><rss>")


def test_relative_links_are_resolved_against_the_feed_url() -> None:
    data = _rss("<item><title>Новость</title><link>/news/1/</link></item>").encode()
    assert parse_feed(data, url="https://region.gov.ru/rss/").items[0].link == "https://region.gov.ru/news/1/"


def test_markup_in_titles_never_survives() -> None:
    data = _rss(
        "<item><title>&lt;script&gt;alert(1)&lt;/script&gt;Заседание</title><link>https://x.ru/1</link></item>"
    )
    assert parse_feed(data.encode()).items[0].title == "alert(1)Заседание"


@pytest.mark.parametrize(
    ("data", "content_type", "expected"),
    [
        (MOS, None, True),
        (b"<?xml version='1.0'?><feed xmlns='http://www.w3.org/2005/Atom'>", "text/xml", True),
        (b"anything", "application/rss+xml", True),
        (b"<!DOCTYPE html><html><body><a href='/rss'>RSS</a></body></html>", "text/html", False),
        (b"<html><head><link rel='alternate' type='application/rss+xml'></head>", "text/html", False),
    ],
)
def test_looks_like_feed(data: bytes, content_type: str | None, expected: bool) -> None:
    assert looks_like_feed(data, content_type) is expected
