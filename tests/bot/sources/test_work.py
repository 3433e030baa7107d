"""The poll's CPU-bound steps (bot/sources/work.py): the articles they make, that reusing the index's stems gives
the same clustering sketch, and where they run (a given executor, worker processes, a thread when a pool
cannot start or breaks), and that a signal sent to a worker stays with the worker."""

from __future__ import annotations

import asyncio
import errno
import json
import multiprocessing
import os
import signal
from collections.abc import Callable
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from datetime import UTC, datetime
from typing import Any

import pytest

from bot.archive.ingest import reset_worker_signals
from bot.archive.morphology import stem_article, stem_text
from bot.archive.parsing import make_article
from bot.sources.clustering import _shingles_of, shingles, sketch, sketch_from_stems
from bot.sources.feeds import FeedItem, parse_feed
from bot.sources.work import (
    Built,
    FetchedPage,
    ItemJob,
    Offload,
    feed_articles,
    needs_page,
    page_articles,
    prepare,
    processes_pay,
    sketch_of,
)
from tests.bot.sources.feed_server import page_html
from tests.bot.sources.pools import pids_limit
from tests.conftest import FIXTURES

RSS = FIXTURES / "rss"
CORPUS: list[dict[str, Any]] = json.loads((RSS / "corpus_articles.json").read_text(encoding="utf-8"))
NOW = datetime(2025, 11, 2, 9, 0, tzinfo=UTC)
SOURCE = "Пресс-служба"


def item(number: int, *, content: bool, title: str | None = None, link: str | None = "auto") -> FeedItem:
    article = CORPUS[number]
    return FeedItem(
        key=f"guid:{number}",
        guid=str(number),
        title=article["title"] if title is None else title,
        link=f"https://example.gov.ru/news/{number}/" if link == "auto" else link,
        summary=article["paragraphs"][0][:150],
        content=tuple(article["paragraphs"]) if content else (),
        published_at=datetime(2025, 10, 1, 12, number, tzinfo=UTC),
    )


def test_full_text_items_keep_the_feeds_text_and_drop_a_lead_that_repeats_it() -> None:
    full = item(0, content=True)
    assert not needs_page(full)
    (built,) = feed_articles([ItemJob(full)], SOURCE, NOW)
    assert built.warning is None and built.prepared is not None
    article = built.prepared.article
    assert (article.title, article.lead, article.body) == (full.title, "", full.content)
    assert (article.source, article.url, article.published_at) == (SOURCE, full.link, full.published_at)
    assert built.prepared.key == full.key


def test_summary_items_take_the_pages_text_and_the_feeds_title_and_date() -> None:
    summary = item(1, content=False)
    assert needs_page(summary) and not needs_page(item(1, content=False, link=None))
    page = FetchedPage(
        summary.link or "", "https://example.gov.ru/news/1/final/", page_html(CORPUS[1]).encode()
    )
    (built,) = feed_articles([ItemJob(summary, page)], SOURCE, NOW)
    assert built.prepared is not None and built.warning is None
    article = built.prepared.article
    assert article.title == summary.title and article.published_at == summary.published_at
    assert CORPUS[1]["paragraphs"][-1] in "\n".join((article.lead, *article.body))
    assert article.url == summary.link  # the feed's link, not where the page redirected


@pytest.mark.parametrize(
    ("job", "warning"),
    [
        (ItemJob(item(2, content=False), fetch_warning="https://x/2: HTTP 404 Not Found"), "HTTP 404"),
        (
            ItemJob(item(2, content=False), FetchedPage("https://x/2", "https://x/2", b"<html></html>")),
            "https://x/2: ",
        ),
    ],
    ids=["fetch failed", "not an article"],
)
def test_a_page_that_fails_leaves_the_summary_and_a_warning(job: ItemJob, warning: str) -> None:
    (built,) = feed_articles([job], SOURCE, NOW)
    assert built.warning is not None and warning in built.warning
    assert built.prepared is not None
    assert built.prepared.article.lead == job.item.summary and built.prepared.article.body == ()


def test_items_without_any_title_are_not_articles() -> None:
    untitled = FeedItem("hash:1", None, "", None, "", ("Только текст без заголовка.",), None)
    assert feed_articles([ItemJob(untitled)], SOURCE, NOW) == [Built(None)]


def test_pages_of_a_news_list_in_order_with_a_warning_for_a_non_article() -> None:
    good = FetchedPage("https://x/1", "https://x/1", page_html(CORPUS[3]).encode())
    bad = FetchedPage("https://x/2", "https://x/2", "<html><body>Раздел</body></html>".encode())
    first, second = page_articles([("link:1", good), ("link:2", bad)], SOURCE, NOW)
    assert first.prepared is not None and first.prepared.article.title == CORPUS[3]["title"]
    assert first.prepared.key == "link:1" and first.warning is None
    assert (
        second.prepared is None and second.warning is not None and second.warning.startswith("https://x/2: ")
    )


@pytest.mark.parametrize("number", range(len(CORPUS)))
@pytest.mark.parametrize("with_lead", [True, False])
def test_the_sketch_from_the_index_stems_equals_the_sketch_of_the_text(number: int, with_lead: bool) -> None:
    paragraphs = CORPUS[number]["paragraphs"]
    article = make_article(
        title=CORPUS[number]["title"],
        lead=paragraphs[0] if with_lead else "",
        body=paragraphs[1:],
        published_at=NOW,
        views=None,
        source=SOURCE,
        url=None,
    )
    stemmed = stem_article(article)
    assert sketch_of(article, stemmed) == sketch_of(article)
    assert prepare("k", article).sketch == sketch_of(article)


@pytest.mark.parametrize("number", range(len(CORPUS)))
def test_title_and_lead_stem_apart_as_they_stem_together(number: int) -> None:
    # sketch_from_stems relies on it: no stem spans the line break between title and lead.
    title, lead = CORPUS[number]["title"], " ".join(CORPUS[number]["paragraphs"][:2])
    together = stem_text(f"{title}\n{lead}").split()
    assert f"{stem_text(title)} {stem_text(lead)}".split() == together
    assert _shingles_of(together) == shingles(title, lead)
    assert sketch_from_stems(stem_text(title), stem_text(lead)) == sketch(title, lead)


def _feed_and_items() -> tuple[bytes, list[ItemJob]]:
    data = (RSS / "mos.ru_news_rss_2022-07-27.xml").read_bytes()
    return data, [ItemJob(i) for i in parse_feed(data).items]


async def test_offload_gives_the_same_results_in_worker_processes_and_in_a_thread() -> None:
    data, jobs = _feed_and_items()
    with ProcessPoolExecutor(max_workers=1) as processes, ThreadPoolExecutor(max_workers=1) as threads:
        in_process = Offload(processes)
        in_thread = Offload(threads)
        assert await in_process.run(parse_feed, data) == await in_thread.run(parse_feed, data)
        assert await in_process.run(feed_articles, jobs, SOURCE, NOW) == feed_articles(jobs, SOURCE, NOW)
        own = Offload(processes=True)
        try:
            assert await own.run(os.getpid) != os.getpid()  # its own worker process
            with pytest.raises(FileNotFoundError):  # the step's own OSError is not a pool that cannot start
                await own.run(os.stat, "/no/such/file")
            assert await own.run(os.getpid) != os.getpid()
        finally:
            await own.aclose()
        assert await Offload().run(os.getpid) == os.getpid()  # no processes: a thread of this one


async def test_a_broken_process_pool_falls_back_to_a_thread() -> None:
    _, jobs = _feed_and_items()
    pool = ProcessPoolExecutor(max_workers=1)
    try:
        with pytest.raises(BrokenProcessPool):  # the worker died
            pool.submit(os._exit, 1).result()
        offload = Offload(pool)
        assert await offload.run(os.getpid) == os.getpid()
        assert await offload.run(feed_articles, jobs, SOURCE, NOW) == feed_articles(jobs, SOURCE, NOW)
    finally:
        pool.shutdown()


def pid_unless_a_worker_signals_itself(signum: int) -> int:
    """The pid of the process running the step; a worker process first sends itself `signum`, as an
    operator's `kill <worker pid>` does."""
    if multiprocessing.parent_process() is not None:
        os.kill(os.getpid(), signum)
    return os.getpid()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
async def test_a_signal_sent_to_a_worker_kills_the_worker_and_not_the_bot(signum: signal.Signals) -> None:
    # The bot's handling, as `govdigest run` installs it before any worker is forked.
    loop = asyncio.get_running_loop()
    handled: list[int] = []
    loop.add_signal_handler(signum, handled.append, signum)
    offload = Offload(processes=True)
    try:
        # The worker died of it (it did not carry on and return its own pid): the step ran in a thread.
        assert await offload.run(pid_unless_a_worker_signals_itself, signum) == os.getpid()
        assert await offload.run(os.getpid) == os.getpid()  # and so does the rest of the poll
    finally:
        await offload.aclose()
        loop.remove_signal_handler(signum)
    assert handled == []


def signalled_before_its_initializer() -> None:
    """A worker that gets SIGTERM before it has its own signal handling (the pool terminating the other
    workers when one dies, just after they forked)."""
    os.kill(os.getpid(), signal.SIGTERM)
    reset_worker_signals()


async def test_a_signal_reaching_a_worker_before_its_initializer_is_still_the_workers() -> None:
    loop = asyncio.get_running_loop()
    handled: list[int] = []
    loop.add_signal_handler(signal.SIGTERM, handled.append, signal.SIGTERM)
    pool = ProcessPoolExecutor(max_workers=1, initializer=signalled_before_its_initializer)
    offload = Offload(processes=True, start_processes=lambda: pool)
    try:
        assert await offload.run(os.getpid) == os.getpid()  # the worker died of it: the step ran in a thread
    finally:
        await offload.aclose()
        loop.remove_signal_handler(signal.SIGTERM)
    assert handled == []


def no_pool() -> Executor:
    raise OSError(errno.EMFILE, "Too many open files")


@pytest.mark.parametrize(
    ("allowed", "workers"), [(None, 2), (0, 1), (1, 2)], ids=["no pool", "no fork", "second fork fails"]
)
async def test_worker_processes_that_cannot_start_leave_the_poll_to_a_thread(
    allowed: int | None, workers: int
) -> None:
    _, jobs = _feed_and_items()
    context, started = pids_limit(allowed or 0)
    start: Callable[[], Executor] = no_pool
    if allowed is not None:
        start = lambda: ProcessPoolExecutor(max_workers=workers, mp_context=context)  # noqa: E731
    offload = Offload(processes=True, start_processes=start)
    try:
        assert await offload.run(os.getpid) == os.getpid()
        assert await offload.run(feed_articles, jobs, SOURCE, NOW) == feed_articles(jobs, SOURCE, NOW)
    finally:
        await offload.aclose()
    assert len(started) == (allowed or 0)
    # A worker that did start has no manager thread to stop it: left alive, it would hang the bot's exit.
    assert not any(process.is_alive() for process in started)


@pytest.mark.parametrize(
    ("sources", "cores", "expected"),
    [
        (200, 2, True),  # the first poll of many sources: worker processes
        (8, 4, True),
        (7, 8, False),  # a few sources: starting processes costs more than it saves
        (200, 1, False),  # one core: nothing to run them on beside the event loop
    ],
)
def test_worker_processes_only_for_many_sources_and_more_than_one_core(
    monkeypatch: pytest.MonkeyPatch, sources: int, cores: int, expected: bool
) -> None:
    monkeypatch.setattr(os, "cpu_count", lambda: cores)
    assert processes_pay(sources) is expected
