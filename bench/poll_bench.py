"""Poll N local feeds of 50 items each (default 200): wall time, items/s, CPU time, peak memory; then poll again,
unchanged, and check that 304s answer it and nothing is inserted.

Baseline in the same run: fetching the same feeds with plain aiohttp (same parallelism, no parsing, no storing),
so the figure to watch is the ratio poll / raw fetch. Feeds and article pages are served by
tests/bot/sources/feed_server.py on 8 loopback addresses (127.0.0.2-9), so the one-request-per-host rule still
allows 8 requests in flight; item links point there too, so the summary items' pages (about 8% of the items
have less than FULL_TEXT_MIN_CHARS of text) are really fetched and parsed, and nothing waits for DNS.
Item texts come from the real corpus (../shared/corpus/articles.jsonl, 808 articles; the 8 articles of
tests/fixtures/rss/corpus_articles.json when it is absent), each item made unique. With 10,000 items each corpus
story appears about 12 times with small changes: reposts, so the clustering works as it would in real life.

The machine is shared, so wall time depends on what else runs; the CPU seconds of the poll (this process and
its worker processes) do much less, and `first_items_per_s_on_2_idle_cores` is what they allow on 2 free cores.

    python bench/poll_bench.py            # 200 feeds x 50 items
    python bench/poll_bench.py --small    # 20 feeds x 50 items
    python bench/poll_bench.py --mode processes   # or thread: force where the first poll parses
"""

from __future__ import annotations

import argparse
import asyncio
import html
import json
import os
import resource
import sys
import tempfile
import time
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path

import aiohttp

from storage.sqlite import SqliteStorage

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.config import Settings
from bot.sources.feeds import parse_feed
from bot.sources.fetch import Fetcher, FetchLimits
from bot.sources.poller import poll_once
from bot.sources.records import NewSource
from bot.sources.work import processes_pay, worker_count
from storage.sqlite.articles import ArticleRepository
from storage.sqlite.database import Database
from storage.sqlite.sources import SourceRepository
from tests.bot.sources.feed_server import FeedServer
from tests.conftest import FIXTURES, SHARED

ITEMS_PER_FEED = 50
HOSTS = [f"127.0.0.{n}" for n in range(2, 10)]
PARALLEL = 8


def load_corpus() -> list[dict[str, object]]:
    path = SHARED / "corpus" / "articles.jsonl"
    if not path.is_file():
        return list(json.loads((FIXTURES / "rss" / "corpus_articles.json").read_text(encoding="utf-8")))
    corpus = []
    for line in path.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        paragraphs = [p.strip() for p in str(record["text"]).split("\n") if len(p.strip()) > 40][:6]
        if paragraphs:
            corpus.append({"title": record["title"], "paragraphs": paragraphs})
    return corpus


def item_text(feed_number: int, item_number: int, corpus: list[dict[str, object]]) -> tuple[str, list[str]]:
    """Title and paragraphs of one item, made unique by its numbers."""
    article = corpus[(feed_number * ITEMS_PER_FEED + item_number) % len(corpus)]
    paragraphs = [f"{p} ({feed_number}.{item_number})" for p in article["paragraphs"]]  # type: ignore[attr-defined]
    return f"{article['title']} — выпуск {feed_number}-{item_number}", paragraphs


def item_path(feed_number: int, item_number: int) -> str:
    return f"/news/{feed_number * 1000 + item_number}/"


def build_feed(feed_number: int, corpus: list[dict[str, object]], site: str) -> bytes:
    """A 50-item RSS feed with full text; item links point to pages on `site` (a local server)."""
    items = []
    for item_number in range(ITEMS_PER_FEED):
        title, paragraphs = item_text(feed_number, item_number, corpus)
        content = "".join(f"<p>{html.escape(p)}</p>" for p in paragraphs)
        minute = item_number % 60
        items.append(
            f"<item><title>{html.escape(title)}</title>"
            f"<link>{site}{item_path(feed_number, item_number)}</link>"
            f"<guid>site{feed_number}-{item_number}</guid>"
            f"<pubDate>Thu, 25 Sep 2025 12:{minute:02d}:00 +0300</pubDate>"
            f"<description>{html.escape(paragraphs[0][:200])}</description>"
            f"<content:encoded><![CDATA[{content}]]></content:encoded></item>"
        )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0" '
        'xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel>'
        f"<title>Лента {feed_number}</title>{''.join(items)}</channel></rss>"
    ).encode()


def build_page(feed_number: int, item_number: int, corpus: list[dict[str, object]]) -> bytes:
    """The article page of an item: fetched by the poller when the feed's text is short (a summary)."""
    title, paragraphs = item_text(feed_number, item_number, corpus)
    body = "".join(f"<p>{html.escape(p)}</p>" for p in paragraphs)
    published = f"2025-09-25T12:{item_number % 60:02d}:00+03:00"
    return (
        f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f'<meta property="article:published_time" content="{published}"></head><body>'
        f"<article><h1>{html.escape(title)}</h1>{body}</article></body></html>"
    ).encode()


def cpu_seconds(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def raw_fetch(urls: list[str]) -> tuple[float, int]:
    """Baseline: GET every feed with plain aiohttp, same parallelism, nothing else."""
    limit = asyncio.Semaphore(PARALLEL)
    total = 0

    async def one(session: aiohttp.ClientSession, url: str) -> None:
        nonlocal total
        async with limit, session.get(url) as response:
            total += len(await response.read())

    started = time.perf_counter()
    async with aiohttp.ClientSession() as session:
        await asyncio.gather(*(one(session, url) for url in urls))
    return time.perf_counter() - started, total


def first_poll_executor(mode: str) -> Executor | None:
    """`auto`: let the poller choose (bot/sources/work.py: processes_pay); `processes`: 2 worker processes (or
    one per core); `thread`: one thread beside the event loop, as on a busy or 1-core machine."""
    if mode == "processes":
        return ProcessPoolExecutor(max_workers=worker_count())
    if mode == "thread":
        return ThreadPoolExecutor(max_workers=1)
    return None


async def run(feeds: int, mode: str = "auto") -> dict[str, float | str]:
    corpus = load_corpus()
    servers = [await FeedServer(host=host).start() for host in HOSTS]
    urls = []
    for number in range(feeds):
        server = servers[number % len(servers)]
        urls.append(server.add(f"/feed{number}.xml", build_feed(number, corpus, server.url(""))))
        for item_number in range(ITEMS_PER_FEED):
            page = build_page(number, item_number, corpus)
            server.add(item_path(number, item_number), page, content_type="text/html; charset=utf-8")
    sample = servers[0].documents["/feed0.xml"].body
    started = time.perf_counter()
    for _ in range(10):
        parse_feed(sample)
    feedparser_ms = (time.perf_counter() - started) / 10 * 1000

    with tempfile.TemporaryDirectory() as folder:
        db = await Database.connect(Path(folder) / "bench.db")
        repo = SourceRepository(db)
        for number, url in enumerate(urls):
            await repo.add(NewSource(url=url, name=f"Лента {number}"))
        settings = Settings(database_url=f"sqlite:///{folder}/bench.db")
        raw_seconds, raw_bytes = await raw_fetch(urls)
        load_before = os.getloadavg()[0]
        rss_before = rss_mib()
        cpu_before = cpu_seconds(resource.RUSAGE_SELF), cpu_seconds(resource.RUSAGE_CHILDREN)
        chosen = mode if mode != "auto" else ("processes" if processes_pay(feeds) else "thread")
        executor = first_poll_executor(mode)
        # The bench's feed servers listen on loopback, which a deployment's fetcher refuses.
        limits = FetchLimits(max_parallel=PARALLEL, allow_private_addresses=True)
        async with Fetcher(limits=limits) as fetcher:
            first = await poll_once(
                SqliteStorage(db),
                settings,
                fetcher=fetcher,
                source_ids=[s.id for s in await repo.list_all()],
                executor=executor,
            )
            if executor is not None:
                executor.shutdown()
            rss_after_first = rss_mib()
            # The poll's worker processes have ended (and are counted as children) when poll_once returns.
            cpu_main = cpu_seconds(resource.RUSAGE_SELF) - cpu_before[0]
            cpu_workers = cpu_seconds(resource.RUSAGE_CHILDREN) - cpu_before[1]
            hits_before = sum(server.hits.total() for server in servers)
            second = await poll_once(
                SqliteStorage(db), settings, fetcher=fetcher, source_ids=[s.id for s in await repo.list_all()]
            )
        stored = (await ArticleRepository(db).stats()).articles
        await db.close()
    for server in servers:
        await server.stop()
    assert first.errors == 0, [o.error for o in first.outcomes if o.error]
    # Every summary item's page was served: a warning would mean a page fetch failed (time spent elsewhere).
    assert not any(o.warnings for o in first.outcomes), [o.warnings for o in first.outcomes if o.warnings][:3]
    assert second.new == 0 and second.not_modified == feeds, (second.new, second.not_modified)
    assert sum(server.hits.total() for server in servers) - hits_before == feeds
    items = feeds * ITEMS_PER_FEED
    return {
        "feeds": feeds,
        "items": items,
        "stored": stored,
        "first_poll_ran_in": chosen,
        "load_average_before": load_before,
        "first_new": first.new,
        "first_pages_fetched": sum(o.pages_fetched for o in first.outcomes),
        "first_seconds": first.elapsed_seconds,
        "items_per_second": items / first.elapsed_seconds,
        "first_cpu_seconds_main_process": cpu_main,
        "first_cpu_seconds_worker_processes": cpu_workers,
        "first_cpu_ms_per_item": (cpu_main + cpu_workers) / items * 1000,
        # What 2 idle cores would allow: the main process is one core at most, the whole needs its CPU time.
        "first_items_per_s_on_2_idle_cores": items / max(cpu_main, (cpu_main + cpu_workers) / 2),
        "second_seconds": second.elapsed_seconds,
        "second_new": second.new,
        "second_not_modified": second.not_modified,
        "raw_fetch_seconds": raw_seconds,
        "raw_fetch_mib": raw_bytes / 1024 / 1024,
        "ratio_poll_to_raw_fetch": first.elapsed_seconds / raw_seconds,
        "ratio_second_poll_to_raw_fetch": second.elapsed_seconds / raw_seconds,
        "feedparser_ms_per_50_item_feed": feedparser_ms,
        "peak_rss_mib": rss_after_first,
        "peak_rss_growth_mib": rss_after_first - rss_before,
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--small", action="store_true", help="20 feeds instead of 200")
    parser.add_argument("--feeds", type=int, help="number of feeds (overrides --small)")
    parser.add_argument(
        "--mode",
        choices=("auto", "processes", "thread"),
        default="auto",
        help="where the first poll parses: as the poller chooses (default), worker processes, a thread",
    )
    args = parser.parse_args()
    feeds = args.feeds or (20 if args.small else 200)
    figures = asyncio.run(run(feeds, args.mode))
    for name, value in figures.items():
        if isinstance(value, str):
            print(f"{name:34} {value}")
        else:
            print(f"{name:34} {value:,.3f}" if isinstance(value, float) else f"{name:34} {value:,}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
