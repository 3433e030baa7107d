"""The CPU-bound steps of a poll, as plain functions of picklable values, and where they run.

Parsing a feed (feedparser), and turning new items and fetched article pages into articles ready for the
archive (cleaned, classified, hashed, stemmed for the index, sketched for clustering) take about a millisecond
per item (bench/poll_bench.py). A big poll runs them in worker processes, the ingest pipeline's pattern, so both
cores work and the event loop (which also serves the bot's updates) only fetches and stores; a small poll runs
them in a thread, where starting processes would cost more than it saves. This module imports nothing of the
Telegram side, so it stays light to import.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import TypeVar

from bot.archive.encodings import decode_bytes
from bot.archive.ingest import reset_worker_signals, shut_down
from bot.archive.models import Article
from bot.archive.morphology import StemmedArticle, stem_article, stem_text
from bot.archive.parsing import make_article, parse_page
from bot.archive.rejection import PageRejected
from bot.sources.clustering import Sketch, sketch, sketch_from_stems
from bot.sources.feeds import FeedItem, ParsedFeed, parse_feed
from bot.sources.listing import article_links

log = logging.getLogger(__name__)

# A feed item with less text than this is a summary: the article page is fetched for the full text.
FULL_TEXT_MIN_CHARS = 600
# Polls of at least this many sources get worker processes (the first poll, a big list of sources); smaller
# ones (a source added by hand, a few due at once) run the same steps in a thread.
PROCESS_POOL_MIN_SOURCES = 8
MAX_WORKERS = 4

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class FetchedPage:
    """An article page as fetched: `url` as asked (warnings name it), `final_url` after redirects."""

    url: str
    final_url: str
    body: bytes


@dataclass(frozen=True, slots=True)
class ItemJob:
    """A new feed item, with its article page when one was fetched, or why the fetch failed."""

    item: FeedItem
    page: FetchedPage | None = None
    fetch_warning: str | None = None


@dataclass(frozen=True, slots=True)
class Prepared:
    """An article ready for the archive: what add_many, the source's bookkeeping and clustering need."""

    key: str
    article: Article
    stemmed: StemmedArticle
    sketch: Sketch


@dataclass(frozen=True, slots=True)
class Built:
    """The outcome of one item or page: the article (None: not an article), and a warning for the source."""

    prepared: Prepared | None
    warning: str | None = None


def item_title(item: FeedItem) -> str:
    """The title an item's article gets: its own, else the head of its summary ('' = not an article)."""
    return item.title or item.summary[:120]


def needs_page(item: FeedItem) -> bool:
    """Whether an item carries only a summary, so its article page has the text."""
    return bool(item.link) and sum(len(paragraph) for paragraph in item.content) < FULL_TEXT_MIN_CHARS


def sketch_of(article: Article, stemmed: StemmedArticle | None = None) -> Sketch:
    """The clustering sketch of an article: its title and lead (or first paragraph), reusing the stems the
    index gets when given (stemming is most of a sketch's cost)."""
    if stemmed is None:
        return sketch(article.title, article.lead or " ".join(article.body[:1]))
    lead = stemmed.lead if article.lead else stem_text(" ".join(article.body[:1]))
    return sketch_from_stems(stemmed.title, lead)


def prepare(key: str, article: Article) -> Prepared:
    stemmed = stem_article(article)
    return Prepared(key, article, stemmed, sketch_of(article, stemmed))


def parse_feed_job(data: bytes, url: str | None, content_type: str | None) -> ParsedFeed:
    return parse_feed(data, url=url, content_type=content_type)


def listing_links(data: bytes, url: str) -> list[str]:
    """Article links of a news-list page."""
    return article_links(decode_bytes(data), url)


def _page_article(page: FetchedPage, source: str, now: datetime) -> Article:
    return parse_page(page.body, source=source, url=page.final_url, now=now)


def feed_articles(jobs: Sequence[ItemJob], source: str, now: datetime) -> list[Built]:
    """Articles of new feed items, in order: the article page's text when one was fetched and parses, else
    the feed's own text (full content, or the summary)."""
    results: list[Built] = []
    for job in jobs:
        item = job.item
        title = item_title(item)
        warning = job.fetch_warning
        if not title:
            results.append(Built(None, warning))
            continue
        if job.page is not None:
            try:
                page = _page_article(job.page, source, now)
            except PageRejected as error:
                warning = f"{job.page.url}: {error.reason}"
            else:
                # The feed knows the title and the date for sure; the page adds the text.
                article = make_article(
                    title=title,
                    lead=page.lead or item.summary,
                    body=page.body,
                    published_at=item.published_at or page.published_at,
                    views=page.views,
                    source=source,
                    url=item.link,
                )
                results.append(Built(prepare(item.key, article), warning))
                continue
        lead = item.summary
        body = item.content
        if body and lead and body[0].startswith(lead[:80]):
            lead = ""
        article = make_article(
            title=title,
            lead=lead,
            body=body,
            published_at=item.published_at or now,
            views=None,
            source=source,
            url=item.link,
        )
        results.append(Built(prepare(item.key, article), warning))
    return results


def page_articles(pages: Sequence[tuple[str, FetchedPage]], source: str, now: datetime) -> list[Built]:
    """Articles of (item key, fetched page) pairs from a news-list page, in order; a page that is not an
    article comes back as a warning."""
    results: list[Built] = []
    for key, page in pages:
        try:
            article = _page_article(page, source, now)
        except PageRejected as error:
            results.append(Built(None, f"{page.url}: {error.reason}"))
        else:
            results.append(Built(prepare(key, article)))
    return results


def worker_count() -> int:
    return max(1, min(os.cpu_count() or 1, MAX_WORKERS))


def processes_pay(sources: int) -> bool:
    """Whether a poll of `sources` sources should get worker processes. They cost CPU of their own (pickling
    every feed and article across: about 8% more CPU per item, bench/poll_bench.py), which pays when there are
    many items and another core to run them; a few sources, or one core, parse in a thread for less."""
    return sources >= PROCESS_POOL_MIN_SOURCES and worker_count() > 1


def worker_processes() -> Executor:
    """A poll's worker processes (forked at its first step, as the ingest pipeline's), with the signal
    handling of any process rather than the bot's (bot/archive/ingest.py reset_worker_signals)."""
    return ProcessPoolExecutor(max_workers=worker_count(), initializer=reset_worker_signals)


@contextmanager
def signals_held_for_workers() -> Iterator[None]:
    """Processes forked inside start with SIGTERM and SIGINT blocked, until their initializer has given them
    a process's own handling (bot/archive/ingest.py reset_worker_signals). Without it, a signal reaching a worker
    that has just forked (the pool terminates the others when one dies) would go through the inherited
    wakeup fd to the bot. The bot's other threads still take its own signals meanwhile."""
    held = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, held)


class Offload:
    """Runs the steps above for one poll: in the given executor, else in worker processes of its own when
    `processes` (started at the first step by `start_processes`, shut down by `aclose`), else in the loop's
    default thread pool.

    Worker processes that cannot start (a pids or memory limit: OSError) or that break (a worker killed, out
    of memory) are not the sources' fault: the step is run in a thread and so is the rest of the poll. An
    error of the step itself, OSError included, is the step's and is raised."""

    def __init__(
        self,
        executor: Executor | None = None,
        *,
        processes: bool = False,
        start_processes: Callable[[], Executor] = worker_processes,
    ) -> None:
        self._executor = executor
        self._own = executor is None and processes
        self._start_processes = start_processes
        self._broken = False

    async def run(self, function: Callable[..., T], *args: object) -> T:
        call = partial(function, *args)
        loop = asyncio.get_running_loop()
        if self._broken or (self._executor is None and not self._own):
            return await loop.run_in_executor(None, call)
        try:
            # With fork, the first submit starts every worker: a failed fork raises here.
            with signals_held_for_workers():
                if self._executor is None:
                    self._executor = self._start_processes()
                pending = loop.run_in_executor(self._executor, call)
        except (OSError, BrokenProcessPool) as error:
            return await self._in_thread(call, f"could not start ({error.__class__.__name__}: {error})")
        try:
            return await pending
        except BrokenProcessPool:
            return await self._in_thread(call, "broke")

    async def _in_thread(self, call: Callable[[], T], what: str) -> T:
        if not self._broken:
            log.warning("poll worker processes %s; the rest of this poll parses in a thread", what)
        self._broken = True
        return await asyncio.get_running_loop().run_in_executor(None, call)

    async def aclose(self) -> None:
        """Shut our own worker processes down in a thread, so the event loop goes on serving updates while
        the steps in flight finish."""
        if not self._own or self._executor is None:
            return
        pool, self._executor = self._executor, None
        await asyncio.to_thread(shut_down, pool)
