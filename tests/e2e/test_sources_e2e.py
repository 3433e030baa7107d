"""Polling end to end: a local HTTP server (127.0.0.1) serves the real feeds, pages built from the corpus and
hostile responses; the poller stores into a real database; alerts and /sources go through the Bot API emulator.
No test touches the internet: feeds whose links point to real sites are polled with article_fetches=0."""

from __future__ import annotations

import asyncio
import errno
import html
import json
import multiprocessing
import os
import signal
import sqlite3
import threading
from collections import Counter
from collections.abc import AsyncIterator
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiogram import Bot, Dispatcher

from bot.archive.dates import parse_date
from bot.config import Settings
from bot.sources import poller, service, work
from bot.sources.alerts import send_alerts
from bot.sources.fetch import Fetcher
from bot.sources.poller import poll_once
from bot.sources.records import EMPTY_POLLS_ALERT, FAILURES_ALERT, NewSource, SourceKind
from bot.sources.report import PollReport, PollStatus
from bot.sources.service import polling_service
from bot.sources.work import Built, ItemJob
from bot.telegram.updates import InFlight, UpdateMiddleware
from handlers.sources import create_router
from storage.sqlite import SqliteStorage
from storage.sqlite.articles import ArticleRepository
from storage.sqlite.database import Database
from storage.sqlite.sources import SourceRepository
from tests.bot.sources.feed_server import QUICK_LIMITS, FeedServer, page_html
from tests.bot.sources.pools import pids_limit
from tests.bot.sources.stub_resolver import StubResolver
from tests.conftest import FIXTURES
from tests.emulator import BotAPIEmulator

RSS = FIXTURES / "rss"
MOS = (RSS / "mos.ru_news_rss_2022-07-27.xml").read_bytes()
TUT = (RSS / "tut.by_news_rss_2019-12-30.xml").read_bytes()
LIGA = (RSS / "liga.net_rss_2021-08-22.xml").read_bytes()
CORPUS: list[dict[str, Any]] = json.loads((RSS / "corpus_articles.json").read_text(encoding="utf-8"))
# After every date in the fixtures: article pages dated after "now" are rejected as impossible.
T0 = datetime(2025, 11, 2, 9, 0, tzinfo=UTC)
ADMIN = 1000


@pytest.fixture
async def server() -> AsyncIterator[FeedServer]:
    async with FeedServer() as running:
        yield running


@pytest.fixture
async def fetcher() -> AsyncIterator[Fetcher]:
    async with Fetcher(limits=QUICK_LIMITS) as client:
        yield client


@pytest.fixture
def repo(db: Database) -> SourceRepository:
    return SourceRepository(db)


def rss(items: list[dict[str, str]], *, encoding: str = "utf-8", title: str = "Лента") -> bytes:
    parts = []
    for item in items:
        fields = "".join(f"<{name}>{html.escape(value)}</{name}>" for name, value in item.items())
        parts.append(f"<item>{fields}</item>")
    document = (
        f'<?xml version="1.0" encoding="{encoding}"?><rss version="2.0"><channel><title>{title}</title>'
        f"{''.join(parts)}</channel></rss>"
    )
    return document.encode(encoding)


async def add_source(repo: SourceRepository, url: str, name: str, kind: SourceKind = SourceKind.RSS) -> int:
    return (await repo.add(NewSource(url=url, name=name, kind=kind), now=T0)).id


async def poll(
    db: Database, settings: Settings, fetcher: Fetcher, now: datetime, *, pages: int = 0
) -> PollReport:
    return await poll_once(SqliteStorage(db), settings, fetcher=fetcher, now=now, article_fetches=pages)


def by_name(report: PollReport) -> dict[str, Any]:
    return {outcome.name: outcome for outcome in report.outcomes}


async def test_real_feeds_new_then_304_then_only_the_new_item(
    db: Database, settings: Settings, server: FeedServer, fetcher: Fetcher, repo: SourceRepository
) -> None:
    await add_source(repo, server.add("/mos/rss", MOS, gzip=True), "Москва")
    await add_source(repo, server.add("/tut/rss", TUT), "TUT.BY")
    await add_source(repo, server.add("/liga/rss", LIGA), "ЛІГА")

    first = await poll(db, settings, fetcher, T0)
    outcomes = by_name(first)
    assert [
        (o.status, o.items, o.new) for o in (outcomes["Москва"], outcomes["TUT.BY"], outcomes["ЛІГА"])
    ] == [
        (PollStatus.OK, 10, 10),
        (PollStatus.OK, 100, 100),
        (PollStatus.OK, 12, 12),
    ]
    assert first.new == 122 and first.duplicates == 0 and first.errors == 0
    assert (await ArticleRepository(db).stats()).articles == 122
    stored = await ArticleRepository(db).latest(limit=200)
    assert {a.source for a in stored} == {"Москва", "TUT.BY", "ЛІГА"}

    # Unchanged feeds: conditional GET, 304, nothing parsed or inserted.
    second = await poll(db, settings, fetcher, T0 + timedelta(minutes=16))
    assert second.not_modified == 3 and second.new == 0 and second.items == 0
    assert all(request.headers.get("If-None-Match") for request in server.requests[3:])

    # One item added to a feed: only it is new; the others are known and skipped without storing.
    extra = (
        "<item><title>Собянин провел заседание Президиума правительства Москвы</title>"
        "<link>https://www.mos.ru/news/item/999/</link><description>Решения заседания.</description>"
        "<pubDate>Wed, 27 Jul 2022 12:00:00 +0300</pubDate></item>"
    )
    server.add("/mos/rss", MOS.replace(b"<item>", extra.encode() + b"<item>", 1))
    third = await poll(db, settings, fetcher, T0 + timedelta(minutes=32))
    mos = by_name(third)["Москва"]
    assert (mos.status, mos.items, mos.known, mos.new, mos.duplicates) == (PollStatus.OK, 11, 10, 1, 0)
    assert third.not_modified == 2
    source = await repo.get_by_url(server.url("/mos/rss"))
    assert source is not None and (source.items_last_poll, source.new_last_poll, source.total_new) == (
        11,
        1,
        11,
    )


async def test_the_same_feed_from_two_sources_is_stored_once_and_linked_to_both(
    db: Database, settings: Settings, server: FeedServer, fetcher: Fetcher, repo: SourceRepository
) -> None:
    first = await add_source(repo, server.add("/a/rss", MOS), "Москва")
    await poll(db, settings, fetcher, T0)
    second = await add_source(repo, server.add("/b/rss?utm_source=x", MOS, conditional=False), "Агрегатор")
    report = await poll(db, settings, fetcher, T0 + timedelta(minutes=1), pages=0)
    outcome = by_name(report)["Агрегатор"]
    assert (outcome.items, outcome.new, outcome.duplicates) == (10, 0, 10)
    first_ids = await repo.articles_of(first)
    assert len(first_ids) == 10 and await repo.articles_of(second) == first_ids
    clusters = await repo.clusters_for(first_ids[:1])
    assert clusters[first_ids[0]].other_sources == ("Агрегатор",)


async def test_reworded_reposts_on_another_site_are_one_cluster(
    db: Database, settings: Settings, server: FeedServer, fetcher: Fetcher, repo: SourceRepository
) -> None:
    await add_source(repo, server.add("/mos/rss", MOS), "Москва")
    repost = MOS.replace(b"<description>", "<description>МОСКВА, 27 июля — РИА Новости. ".encode())
    repost = repost.replace(b"https://www.mos.ru/news/item/", b"https://ria.ru/20220727/")
    await add_source(repo, server.add("/ria/rss", repost), "РИА Новости")
    report = await poll(db, settings, fetcher, T0)
    # Items whose description is empty repost identically (same content hash): stored once, linked twice.
    assert report.new + report.duplicates == 20 and report.new > 10
    mos_ids = await repo.articles_of(report.outcomes[0].source_id)
    clusters = await repo.clusters_for(mos_ids)
    assert len(clusters) == 10
    # Both sources are polled at once: an identical repost is stored under whichever got there first.
    own_source = {a.id: a.source for a in await ArticleRepository(db).get_many(mos_ids)}
    assert all(
        {own_source[article_id], *cluster.other_sources} == {"Москва", "РИА Новости"}
        and cluster.other_source_count == 1
        for article_id, cluster in clusters.items()
    )
    # Reworded reposts are separate articles in one cluster; exact reposts are one article with two sources.
    pairs = [cluster for cluster in clusters.values() if len(cluster.article_ids) == 2]
    assert len(pairs) == report.new - 10


async def test_summary_feed_gets_full_text_from_article_pages_within_the_budget(
    db: Database, settings: Settings, server: FeedServer, fetcher: Fetcher, repo: SourceRepository
) -> None:
    items = []
    for number, article in enumerate(CORPUS[:5]):
        link = server.add(
            f"/news/{number + 1000}/", page_html(article), content_type="text/html; charset=utf-8"
        )
        items.append(
            {
                "title": article["title"],
                "link": link,
                "description": article["paragraphs"][0][:150],
                "guid": f"news-{number}",
            }
        )
    await add_source(repo, server.add("/rss", rss(items)), "Пресс-служба")
    report = await poll(db, settings, fetcher, T0, pages=3)
    outcome = by_name(report)["Пресс-служба"]
    assert (outcome.new, outcome.pages_fetched) == (5, 3)
    stored = sorted(await ArticleRepository(db).get_many(report.new_article_ids), key=lambda a: a.id)
    # The first three have the page's paragraphs; the other two (over the budget) keep the feed's summary.
    for stored_article, original in zip(stored[:3], CORPUS[:3], strict=True):
        assert stored_article.title == original["title"]
        assert len(stored_article.body) >= 2 and original["paragraphs"][-1] in "\n".join(
            (stored_article.lead, *stored_article.body)
        )
    assert all(stored_article.body == () for stored_article in stored[3:])
    # Items without a date in the feed take the page's date when it was fetched, else the poll time.
    assert stored[0].published_at == parse_date(CORPUS[0]["published"], now=T0)
    assert stored[4].published_at == T0


async def test_news_list_page_is_followed_to_its_articles(
    db: Database, settings: Settings, server: FeedServer, fetcher: Fetcher, repo: SourceRepository
) -> None:
    links = []
    for number, article in enumerate(CORPUS[:6]):
        server.add(
            f"/press/news/{number + 500}/", page_html(article), content_type="text/html; charset=utf-8"
        )
        links.append(f'<li><a href="/press/news/{number + 500}/">{html.escape(article["title"])}</a></li>')
    listing = (
        '<html><body><nav><a href="/">Главная</a><a href="/about/">О нас</a></nav>'
        f'<ul class="news">{"".join(links)}</ul><a href="/press/news/?PAGEN_1=2">Дальше</a></body></html>'
    )
    url = server.add(
        "/press/news/", listing, content_type="text/html; charset=windows-1251", conditional=False
    )
    server.documents["/press/news/"].body = listing.encode("cp1251")
    await add_source(repo, url, "Правительство области", SourceKind.HTML)
    first = await poll(db, settings, fetcher, T0, pages=4)
    outcome = by_name(first)["Правительство области"]
    assert (outcome.items, outcome.new, outcome.pages_fetched) == (6, 4, 4)
    second = await poll(db, settings, fetcher, T0 + timedelta(minutes=31), pages=4)
    outcome = by_name(second)["Правительство области"]
    assert (outcome.items, outcome.known, outcome.new, outcome.pages_fetched) == (6, 4, 2, 2)
    third = await poll(db, settings, fetcher, T0 + timedelta(minutes=62), pages=4)
    outcome = by_name(third)["Правительство области"]
    assert (outcome.known, outcome.new, outcome.pages_fetched) == (6, 0, 0)
    titles = {a.title for a in await ArticleRepository(db).latest(limit=10)}
    assert titles == {a["title"] for a in CORPUS[:6]}


async def _poll_snapshot(
    db: Database, settings: Settings, fetcher: Fetcher, **options: Any
) -> dict[str, Any]:
    """Everything a poll leaves behind, by content: ids and the order in which concurrent sources finish
    differ between two runs."""
    report = await poll_once(
        SqliteStorage(db), settings, fetcher=fetcher, now=T0, article_fetches=3, **options
    )
    repo = SourceRepository(db)
    stored = await ArticleRepository(db).get_many(report.new_article_ids)
    hashes = {a.id: a.content_hash for a in stored}
    clusters = await repo.clusters_for(hashes)
    return {
        "outcomes": sorted(
            (o.name, o.status, o.items, o.known, o.new, o.duplicates, o.pages_fetched, o.error, o.warnings)
            for o in report.outcomes
        ),
        "articles": sorted(
            (a.content_hash, a.title, a.lead, a.body, a.published_at, a.source, a.url, sorted(a.topics))
            for a in stored
        ),
        "links": {
            s.name: sorted(hashes[i] for i in await repo.articles_of(s.id)) for s in await repo.list_all()
        },
        "clusters": {
            hashes[i]: (sorted(hashes[m] for m in c.article_ids), c.other_sources)
            for i, c in clusters.items()
        },
        "items": await db.fetchval("SELECT count(*) FROM source_items"),
    }


async def test_a_big_poll_in_worker_processes_stores_exactly_what_a_poll_in_a_thread_stores(
    db: Database,
    settings: Settings,
    server: FeedServer,
    fetcher: Fetcher,
    tmp_path: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    items = []
    for number, article in enumerate(CORPUS[:5]):
        link = server.url(f"/news/{number}/")
        if number != 1:  # the second page is missing: a warning, and the summary is kept
            server.add(f"/news/{number}/", page_html(article), content_type="text/html; charset=utf-8")
        items.append({"title": article["title"], "link": link, "description": article["paragraphs"][0][:150]})
    for number in range(5, 8):
        server.add(
            f"/list/{number + 500}/", page_html(CORPUS[number]), content_type="text/html; charset=utf-8"
        )
    # The first link's page is missing (a warning, remembered); the budget of 3 pages leaves the last one.
    links = '<li><a href="/list/508/">Заседание правительства области</a></li>' + "".join(
        f'<li><a href="/list/{n + 500}/">{html.escape(CORPUS[n]["title"])}</a></li>' for n in range(5, 8)
    )
    # Reworded reposts of every item (no two sources carry the same text, so no race decides which stores it).
    repost = MOS.replace(b"<title>", "<title>Москва: ".encode()).replace(b"www.mos.ru/news/item/", b"ria.ru/")
    repost = repost.replace(b"<description>", "<description>МОСКВА, 27 июля — РИА Новости. ".encode())
    sources = [
        (server.add("/mos/rss", MOS), "Москва", SourceKind.RSS),
        (server.add("/tut/rss", TUT), "TUT.BY", SourceKind.RSS),
        (server.add("/liga/rss", LIGA), "ЛІГА", SourceKind.RSS),
        (server.add("/ria/rss", repost), "РИА", SourceKind.RSS),
        (server.add("/summary/rss", rss(items)), "Пресс-служба", SourceKind.RSS),
        (
            server.add("/list/", f"<html><body><ul>{links}</ul></body></html>", content_type="text/html"),
            "Список",
            SourceKind.HTML,
        ),
        (
            server.add("/bad/rss", b"<?xml version='1.0'?><rss><channel><title>x</ti"),
            "Сломанный",
            SourceKind.RSS,
        ),
        (server.url("/missing/rss"), "Пропавший", SourceKind.RSS),
    ]
    started: list[int] = []

    class RecordingPool(ProcessPoolExecutor):
        def __init__(self, max_workers: int, **options: Any) -> None:
            started.append(max_workers)
            super().__init__(max_workers=max_workers, **options)

    monkeypatch.setattr("bot.sources.work.ProcessPoolExecutor", RecordingPool)
    monkeypatch.setattr("bot.sources.work.worker_count", lambda: 2)  # on a 1-core test machine too
    other = await Database.connect(tmp_path / "thread.db")
    try:
        for database in (db, other):
            for url, name, kind in sources:
                await SourceRepository(database).add(NewSource(url=url, name=name, kind=kind), now=T0)
        assert len(sources) >= work.PROCESS_POOL_MIN_SOURCES
        in_processes = await _poll_snapshot(db, settings, fetcher)
        assert started == [work.worker_count()]  # the poll started worker processes of its own
        with ThreadPoolExecutor(max_workers=2) as threads:
            in_a_thread = await _poll_snapshot(other, settings, fetcher, executor=threads)
        assert started == [work.worker_count()]
    finally:
        await other.close()
    assert in_processes == in_a_thread
    outcomes = {o[0]: o for o in in_processes["outcomes"]}
    assert outcomes["Сломанный"][1] is PollStatus.ERROR and outcomes["Пропавший"][7] == "HTTP 404 Not Found"
    assert outcomes["Пресс-служба"][4:7] == (5, 0, 3) and len(outcomes["Пресс-служба"][8]) == 1
    assert outcomes["Список"][2:7] == (4, 0, 2, 0, 3) and len(outcomes["Список"][8]) == 1
    assert in_processes["links"]["РИА"] and len(in_processes["clusters"]) >= 2  # the reworded reposts cluster
    assert in_processes["items"] == 10 + 100 + 12 + 10 + 5 + 3


async def test_hostile_sources_are_recorded_and_never_stop_the_good_ones(
    db: Database, settings: Settings, server: FeedServer, fetcher: Fetcher, repo: SourceRepository
) -> None:
    cp1251 = rss(
        [
            {
                "title": "Губернатор провёл заседание комиссии",
                "link": "https://x.ru/1",
                "guid": "1",
                "pubDate": "Wed, 27 Jul 2022 11:01:01 +0300",
            }
        ],
        encoding="windows-1251",
    )
    duplicate_guids = rss(
        [
            {"title": f"Новость {n % 2}", "link": f"https://y.ru/{n % 2}", "guid": f"g{n % 2}"}
            for n in range(5)
        ]
    )
    no_guid_no_date = rss([{"title": "Заседание без даты", "description": "Текст без ссылки и даты."}])
    server.redirect("/loop/a", "/loop/b")
    server.redirect("/loop/b", "/loop/a")
    sources = {
        "good": server.add("/good/rss", MOS),
        "malformed": server.add("/bad/rss", b"<?xml version='1.0'?><rss version='2.0'><channel><title>x</ti"),
        "html": server.add(
            "/html/rss", "<!DOCTYPE html><html><body>Страница</body></html>", content_type="text/html"
        ),
        "endless": server.url("/endless"),
        "trickle": server.url("/trickle"),
        "loop": server.url("/loop/a"),
        "missing": server.url("/nothing/here"),
        "cp1251": server.add("/cp/rss", cp1251, content_type="application/rss+xml; charset=windows-1251"),
        "dupes": server.add("/dupes/rss", duplicate_guids),
        "bare": server.add("/bare/rss", no_guid_no_date),
    }
    for name, url in sources.items():
        await add_source(repo, url, name)
    report = await poll(db, settings, fetcher, T0)
    outcomes = by_name(report)
    errors = {
        name: outcomes[name].error for name in ("malformed", "html", "endless", "trickle", "loop", "missing")
    }
    assert errors["html"] == "not a feed: the server sent an HTML page"
    assert errors["missing"] == "HTTP 404 Not Found"
    assert errors["malformed"] is not None and errors["malformed"].startswith("malformed XML")
    assert errors["endless"] is not None and "too large" in errors["endless"]
    assert errors["trickle"] is not None and "timed out" in errors["trickle"]
    assert errors["loop"] is not None and errors["loop"].startswith("redirect loop")
    assert (outcomes["good"].status, outcomes["good"].new) == (PollStatus.OK, 10)
    assert (outcomes["cp1251"].new, outcomes["dupes"].items, outcomes["dupes"].new) == (1, 5, 2)
    assert outcomes["dupes"].duplicates == 3
    assert outcomes["bare"].new == 1
    stored = {a.title: a for a in await ArticleRepository(db).latest(limit=50)}
    assert "Губернатор провёл заседание комиссии" in stored
    assert stored["Заседание без даты"].published_at == T0 and stored["Заседание без даты"].url is None
    health = {s.name: s for s in await repo.list_all()}
    assert health["trickle"].consecutive_failures == 1 and health["trickle"].last_error == errors["trickle"]
    assert health["good"].consecutive_failures == 0 and health["good"].last_success_at == T0
    # Backoff: the failed ones are due after twice the interval, the good ones after the interval.
    assert health["missing"].next_poll_at == T0 + timedelta(minutes=30)
    later = await poll(db, settings, fetcher, T0 + timedelta(minutes=16))
    assert "missing" not in by_name(later) and by_name(later)["good"].status is PollStatus.NOT_MODIFIED


async def test_a_page_source_that_serves_a_feed_is_read_as_a_feed(
    db: Database, settings: Settings, server: FeedServer, fetcher: Fetcher, repo: SourceRepository
) -> None:
    await add_source(repo, server.add("/export", MOS), "Москва", SourceKind.HTML)
    report = await poll(db, settings, fetcher, T0)
    assert (report.outcomes[0].status, report.outcomes[0].new) == (PollStatus.OK, 10)


async def test_redirect_is_followed_and_recorded(
    db: Database, settings: Settings, server: FeedServer, fetcher: Fetcher, repo: SourceRepository
) -> None:
    target = server.add("/new/rss", MOS)
    source_id = await add_source(repo, server.redirect("/old/rss", "/new/rss"), "Москва")
    report = await poll(db, settings, fetcher, T0)
    assert report.new == 10 and report.outcomes[0].final_url == target
    source = await repo.get(source_id)
    assert source is not None and source.redirect_url == target


async def test_health_alerts_reach_the_admin_once(
    db: Database,
    settings: Settings,
    server: FeedServer,
    fetcher: Fetcher,
    repo: SourceRepository,
    emulator: BotAPIEmulator,
    bot: Bot,
) -> None:
    emulator.add_chat(ADMIN)  # the admin has started the bot
    await add_source(repo, server.add("/empty/rss", rss([]), conditional=False), "Пустая лента")
    await add_source(repo, server.url("/gone/rss"), "Пропавший сайт")
    moment = T0
    sent = 0
    for _ in range(FAILURES_ALERT + 2):
        # Every source is polled explicitly, so backoff does not stretch the test over days.
        ids = [source.id for source in await repo.list_all()]
        report = await poll_once(
            SqliteStorage(db), settings, fetcher=fetcher, now=moment, source_ids=ids, article_fetches=0
        )
        sent += await send_alerts(bot, settings, repo, report.alerts)
        moment += timedelta(minutes=15)
    messages = emulator.messages_to(ADMIN)
    assert sent == 2 and len(messages) == 2
    assert "Пустая лента" in messages[0].text and str(EMPTY_POLLS_ALERT) in messages[0].text
    assert "Пропавший сайт" in messages[1].text and "HTTP 404" in messages[1].text
    # Recovery resets the flag: the next episode is reported again.
    server.add("/empty/rss", MOS, conditional=False)
    ids = [source.id for source in await repo.list_all()]
    await poll_once(
        SqliteStorage(db), settings, fetcher=fetcher, now=moment, source_ids=ids, article_fetches=0
    )
    empty = await repo.get_by_url(server.url("/empty/rss"))
    assert empty is not None and not empty.alerted_empty and empty.consecutive_empty == 0
    assert [a.kind for a in await repo.pending_alerts()] == []
    assert (await repo.get_by_url(server.url("/gone/rss"))).alerted_failing  # type: ignore[union-attr]


async def add_local_mos(repo: SourceRepository, server: FeedServer) -> None:
    """The mos.ru feed as a source, its links pointing to the feed server: the polling service fetches the
    article pages of summary-only items, and they must come from here, not from mos.ru."""
    local = MOS.replace(b"https://www.mos.ru/", server.url("/").encode())
    await add_source(repo, server.add("/mos/rss", local), "Москва")


async def wait_for_articles(db: Database, count: int) -> int:
    """How many articles the archive has once it has `count`, or after 20 s (a loaded machine)."""
    for _ in range(400):
        stored = (await ArticleRepository(db).stats()).articles
        if stored == count:
            break
        await asyncio.sleep(0.05)
    return stored


async def test_polling_service_polls_and_stops_promptly(
    db: Database, settings: Settings, server: FeedServer, repo: SourceRepository, bot: Bot
) -> None:
    await add_local_mos(repo, server)
    settings = replace(settings, allow_private_fetch=True)  # the feed server is on loopback
    stop = asyncio.Event()
    task = asyncio.create_task(polling_service(bot, SqliteStorage(db), settings, stop))
    try:
        assert await wait_for_articles(db, 10) == 10
        assert await repo.count() == 1  # sources existed: the defaults were not loaded
        stop.set()
        await asyncio.wait_for(task, timeout=2)
    finally:
        if not task.done():
            task.cancel()


def feed_articles_in_a_worker_that_is_sent_sigterm(
    jobs: list[ItemJob], source: str, now: datetime
) -> list[Built]:
    """feed_articles, in a worker process that first gets an operator's `kill <worker pid>` (SIGTERM)."""
    if multiprocessing.parent_process() is not None:
        os.kill(os.getpid(), signal.SIGTERM)
    return work.feed_articles(jobs, source, now)


async def test_sigterm_to_a_poll_worker_kills_the_worker_and_the_bot_polls_on(
    db: Database,
    settings: Settings,
    server: FeedServer,
    repo: SourceRepository,
    bot: Bot,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    await add_local_mos(repo, server)
    settings = replace(settings, allow_private_fetch=True)  # the feed server is on loopback
    monkeypatch.setattr(poller, "processes_pay", lambda sources: True)  # worker processes for one source
    monkeypatch.setattr(poller, "feed_articles", feed_articles_in_a_worker_that_is_sent_sigterm)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)  # as `govdigest run`: SIGTERM drains and stops the bot
    task = asyncio.create_task(polling_service(bot, SqliteStorage(db), settings, stop))
    try:
        assert await wait_for_articles(db, 10) == 10  # the poll completed
        # The worker died of the signal (it did not carry on): the poll's step ran again in a thread.
        assert "poll worker processes broke" in caplog.text
        assert not stop.is_set() and not task.done()  # the bot did not take the worker's signal for its own
        stop.set()
        await asyncio.wait_for(task, timeout=2)
    finally:
        loop.remove_signal_handler(signal.SIGTERM)
        if not task.done():
            task.cancel()


@pytest.mark.parametrize("allowed", [None, 0, 1], ids=["no pool", "no fork", "second fork fails"])
async def test_worker_processes_that_cannot_start_are_not_the_sources_fault(
    db: Database,
    settings: Settings,
    server: FeedServer,
    fetcher: Fetcher,
    repo: SourceRepository,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    allowed: int | None,
) -> None:
    for number, feed in enumerate((MOS, TUT, LIGA)):
        await add_source(repo, server.add(f"/{number}/rss", feed), f"Лента {number}")
    context, started = pids_limit(allowed or 0)

    def start(**options: Any) -> ProcessPoolExecutor:
        if allowed is None:
            raise OSError(errno.EMFILE, "Too many open files")
        return ProcessPoolExecutor(mp_context=context, **options)

    monkeypatch.setattr(work, "ProcessPoolExecutor", start)
    monkeypatch.setattr(work, "worker_count", lambda: 2)
    monkeypatch.setattr(poller, "processes_pay", lambda sources: True)
    report = await poll(db, settings, fetcher, T0)
    assert [outcome.status for outcome in report.outcomes] == [PollStatus.OK] * 3
    assert report.new == 10 + 100 + 12
    assert [source.consecutive_failures for source in await repo.list_all()] == [0, 0, 0]
    assert "poll worker processes could not start" in caplog.text
    assert len(started) == (allowed or 0) and not any(process.is_alive() for process in started)


async def test_the_event_loop_keeps_serving_while_a_polls_worker_processes_shut_down(
    db: Database,
    settings: Settings,
    server: FeedServer,
    fetcher: Fetcher,
    repo: SourceRepository,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await add_source(repo, server.add("/mos/rss", MOS), "Москва")
    loop = asyncio.get_running_loop()
    closing = asyncio.Event()
    answered = threading.Event()
    answered_by_the_loop: list[bool] = []

    class SlowToClosePool(ProcessPoolExecutor):
        """Its shutdown lasts until the event loop answers: at once when it runs elsewhere; a loop blocked
        by it cannot answer, so the shutdown gives up after 10 s."""

        def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
            loop.call_soon_threadsafe(closing.set)
            answered_by_the_loop.append(answered.wait(timeout=10))
            super().shutdown(wait=wait, cancel_futures=cancel_futures)

    async def ticker() -> None:  # the bot's other work: updates, the digest fan-out
        await closing.wait()
        answered.set()

    monkeypatch.setattr(work, "ProcessPoolExecutor", SlowToClosePool)
    monkeypatch.setattr(poller, "processes_pay", lambda sources: True)
    ticking = asyncio.create_task(ticker())
    try:
        report = await poll(db, settings, fetcher, T0)
    finally:
        ticking.cancel()
    assert report.errors == 0 and report.new == 10
    assert answered_by_the_loop == [True]


async def test_defaults_are_loaded_on_first_start(db: Database, settings: Settings, bot: Bot) -> None:
    repo = SourceRepository(db)
    stop = asyncio.Event()
    stop.set()  # returns before polling: only the first-start loading runs
    # stop is set before the first poll: the defaults are loaded, none of those real sites is fetched
    settings = replace(settings, load_default_sources=True)
    await asyncio.wait_for(polling_service(bot, SqliteStorage(db), settings, stop), timeout=2)
    names = {source.name for source in await repo.list_all()}
    assert {"Правительство России", "Президент России: новости", "Мэр и Правительство Москвы"} <= names


async def test_polling_service_survives_database_errors_and_keeps_polling(
    db: Database,
    settings: Settings,
    server: FeedServer,
    repo: SourceRepository,
    bot: Bot,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Each repository method the service's loop calls fails once, "database is locked": every failure is
    logged with its traceback, the loop backs off and goes on, and the source is polled all the same."""
    await add_local_mos(repo, server)
    # the feed server is on loopback; the shipped defaults load (their sites fail at the test network guard)
    settings = replace(settings, allow_private_fetch=True, load_default_sources=True)
    monkeypatch.setattr(service, "ERROR_BACKOFF_FIRST_SECONDS", 0.01)  # 5 s in production
    calls: Counter[str] = Counter()

    def fail_once(name: str) -> None:
        original = getattr(SourceRepository, name)

        async def flaky(self: SourceRepository, *args: Any, **kwargs: Any) -> Any:
            calls[name] += 1
            if calls[name] == 1:
                raise sqlite3.OperationalError(f"database is locked ({name})")
            return await original(self, *args, **kwargs)

        monkeypatch.setattr(SourceRepository, name, flaky)

    for name in ("add_defaults", "due", "next_due_at"):
        fail_once(name)
    stop = asyncio.Event()
    task = asyncio.create_task(polling_service(bot, SqliteStorage(db), settings, stop))
    try:
        for _ in range(400):  # up to 20 s on a loaded machine; usually well under a second
            if calls["next_due_at"] >= 2:
                break
            await asyncio.sleep(0.05)
        # Polled after its own failure and the others': the loop went on each time.
        assert calls["next_due_at"] >= 2 and calls["due"] >= 2 and calls["add_defaults"] >= 2
        assert (await ArticleRepository(db).stats()).articles == 10
        assert not task.done()
        stop.set()
        await asyncio.wait_for(task, timeout=2)  # promptly, though the next poll is minutes away
    finally:
        if not task.done():
            task.cancel()
    failures = [
        record
        for record in caplog.records
        if record.exc_info and "database is locked" in str(record.exc_info[1])
    ]
    assert sorted(str(record.exc_info[1]) for record in failures if record.exc_info) == [
        "database is locked (add_defaults)",
        "database is locked (due)",
        "database is locked (next_due_at)",
    ]


@pytest.mark.parametrize(
    ("failures", "seconds"), [(0, 5.0), (1, 5.0), (2, 10.0), (4, 40.0), (7, 300.0), (10_000, 300.0)]
)
def test_error_backoff_grows_and_is_bounded(failures: int, seconds: float) -> None:
    assert service.error_backoff(failures) == seconds


# --- public addresses only (SSRF) ------------------------------------------------------------------------------
# The test server plays a public site: only 127.0.0.1 counts as public here. A second server on 127.0.0.2 and
# names resolved by StubResolver to 10.0.0.5 / 169.254.169.254 play the private network; none may be reached.


@pytest.fixture
async def inside() -> AsyncIterator[FeedServer]:
    async with FeedServer(host="127.0.0.2") as running:
        yield running


@pytest.fixture
async def guarded() -> AsyncIterator[Fetcher]:
    resolver = StubResolver({"intranet.example": ["10.0.0.5"], "metadata.example": ["169.254.169.254"]})
    limits = replace(QUICK_LIMITS, allow_private_addresses=False)
    async with Fetcher(
        limits=limits, resolver=resolver, address_allowed=lambda address: str(address) == "127.0.0.1"
    ) as client:
        yield client


async def test_a_source_in_the_private_network_is_refused_and_the_reason_recorded(
    db: Database,
    settings: Settings,
    server: FeedServer,
    inside: FeedServer,
    guarded: Fetcher,
    repo: SourceRepository,
) -> None:
    refused = {
        "Интранет": (
            "http://intranet.example/news/rss",
            "address 10.0.0.5 of intranet.example is not public",
        ),
        "Метаданные": ("http://169.254.169.254/latest/meta-data/", "address 169.254.169.254 is not public"),
        "Петля": (inside.add("/rss", MOS), "address 127.0.0.2 is not public"),
        "Перенаправление": (
            server.redirect("/moved/rss", "http://metadata.example/rss"),
            "address 169.254.169.254 of metadata.example is not public",
        ),
    }
    for name, (url, _) in refused.items():
        await add_source(repo, url, name)
    await add_source(repo, server.add("/mos/rss", MOS), "Москва")
    report = await poll(db, settings, guarded, T0)
    outcomes = by_name(report)
    assert (outcomes["Москва"].status, outcomes["Москва"].new) == (PollStatus.OK, 10)
    health = {source.name: source for source in await repo.list_all()}
    for name, (_, reason) in refused.items():
        assert (outcomes[name].status, outcomes[name].error) == (PollStatus.ERROR, reason)
        assert (health[name].last_error, health[name].consecutive_failures) == (reason, 1)
    assert inside.hits.total() == 0


async def test_article_links_into_the_private_network_are_not_fetched(
    db: Database,
    settings: Settings,
    server: FeedServer,
    inside: FeedServer,
    guarded: Fetcher,
    repo: SourceRepository,
) -> None:
    secret = [inside.add(f"/secret/{n}/", page_html(CORPUS[n]), content_type="text/html") for n in range(2)]
    links = [*secret, "http://metadata.example/latest/", "http://10.0.0.5/admin/"]
    # A summary feed (the poller would fetch each item's page) and a news-list page, both linking inside.
    items = [
        {"title": CORPUS[n]["title"], "link": link, "description": CORPUS[n]["paragraphs"][0][:150]}
        for n, link in enumerate(links)
    ]
    await add_source(repo, server.add("/rss", rss(items)), "Лента")
    # A news list links to its own site only; these links redirect inside.
    for n, link in enumerate(links):
        server.redirect(f"/news/item/{1000 + n}/", link)
    listing = "".join(
        f'<li><a href="/news/item/{1000 + n}/">{html.escape(CORPUS[n]["title"])}</a></li>'
        for n in range(len(links))
    )
    await add_source(
        repo,
        server.add(
            "/news/", f"<html><body><ul class='news'>{listing}</ul></body></html>", content_type="text/html"
        ),
        "Список",
        SourceKind.HTML,
    )
    report = await poll(db, settings, guarded, T0, pages=10)
    outcomes = by_name(report)
    feed, page_list = outcomes["Лента"], outcomes["Список"]
    # The feed's items are stored with the feed's own text; every page fetch was refused, with the reason.
    assert (feed.status, feed.new, feed.pages_fetched) == (PollStatus.OK, 4, 4)
    assert len(feed.warnings) == 4 and all("is not public" in warning for warning in feed.warnings)
    assert any("address 169.254.169.254 of metadata.example is not public" in w for w in feed.warnings)
    # The list's links redirect nowhere it may go: nothing stored from them.
    assert (page_list.status, page_list.new, page_list.pages_fetched) == (PollStatus.OK, 0, 4)
    assert len(page_list.warnings) == 4 and all("is not public" in warning for warning in page_list.warnings)
    assert inside.hits.total() == 0
    stored = await ArticleRepository(db).latest(limit=10)
    assert all(article.body == () for article in stored)  # no page text made it into the archive


# --- /sources, /addsource, /removesource through the emulator ------------------------------------------------


async def _dispatch(
    emulator: BotAPIEmulator, bot: Bot, dispatcher: Dispatcher, text: str, user_id: int
) -> list[str]:
    before = len(emulator.messages_to(user_id))
    await dispatcher.feed_raw_update(bot, emulator.message(text, user_id=user_id, chat_id=user_id))
    return [message.text for message in emulator.messages_to(user_id)[before:]]


async def test_source_commands_for_admins_only(
    db: Database, settings: Settings, emulator: BotAPIEmulator, bot: Bot
) -> None:
    emulator.set_flood_limits(None)  # a dozen commands in a second is a test, not a flood
    repo = SourceRepository(db)
    resolver = StubResolver({"government.ru": ["95.173.136.70"], "intranet.example": ["10.0.0.5"]})
    dispatcher = Dispatcher(settings=settings, sources=repo, address_resolver=resolver)
    dispatcher.update.outer_middleware(UpdateMiddleware(InFlight()))  # the locale, as in the app
    dispatcher.include_router(create_router())

    # Non-admins get silence, as with /stats (handlers/sources.py).
    assert await _dispatch(emulator, bot, dispatcher, "/sources", 2000) == []
    assert await _dispatch(emulator, bot, dispatcher, "/addsource http://government.ru/all/rss/", 2000) == []
    assert await repo.count() == 0

    (reply,) = await _dispatch(emulator, bot, dispatcher, "/addsource http://government.ru/all/rss/", ADMIN)
    assert "government.ru" in reply and "rss" in reply
    (again,) = await _dispatch(emulator, bot, dispatcher, "/addsource http://government.ru/all/rss/", ADMIN)
    assert "уже есть" in again
    (bad,) = await _dispatch(emulator, bot, dispatcher, "/addsource <script>alert(1)</script>", ADMIN)
    assert "&lt;script&gt;" not in bad and "<script>" in bad  # escaped in HTML, shown as written
    (usage,) = await _dispatch(emulator, bot, dispatcher, "/addsource", ADMIN)
    assert "/addsource" in usage
    # An address inside the bot's own network is refused, with the reason.
    (inner,) = await _dispatch(emulator, bot, dispatcher, "/addsource http://intranet.example/rss", ADMIN)
    assert "непубличные адреса (10.0.0.5)" in inner and "intranet.example" in inner
    (metadata,) = await _dispatch(
        emulator, bot, dispatcher, "/addsource http://169.254.169.254/latest/", ADMIN
    )
    assert "169.254.169.254" in metadata and "непубличные" in metadata
    assert await repo.count() == 1

    source = await repo.get_by_url("http://government.ru/all/rss/")
    assert source is not None
    await repo.record_failure(source, now=T0, error="HTTP 503 Service Unavailable")
    (listing,) = await _dispatch(emulator, bot, dispatcher, "/sources", ADMIN)
    assert "government.ru" in listing and "HTTP 503" in listing and "🔴" in listing

    assert await _dispatch(emulator, bot, dispatcher, "/removesource abc", ADMIN) == [
        "Напишите ID источника из /sources: /removesource 3"
    ]
    (missing,) = await _dispatch(emulator, bot, dispatcher, "/removesource 999", ADMIN)
    assert "999" in missing
    (removed,) = await _dispatch(emulator, bot, dispatcher, f"/removesource {source.id}", ADMIN)
    assert "government.ru" in removed and await repo.count() == 0
    (empty,) = await _dispatch(emulator, bot, dispatcher, "/sources", ADMIN)
    assert "/addsource" in empty
