"""Ingest pipeline: files and folders of news pages → parsed, classified, stemmed articles → the archive.

Parsing and stemming are CPU-bound and run in worker processes (both cores), in batches; the single database
connection stores one batch while the workers parse the next ones.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from bot.archive.dates import DateError, parse_date
from bot.archive.models import Article
from bot.archive.morphology import StemmedArticle, stem_article
from bot.archive.parsing import MAX_PAGE_BYTES, date_from_url, make_article, parse_page
from bot.archive.rejection import PageRejected
from storage.interfaces import ArticleStore

PAGE_SUFFIXES = frozenset({".txt", ".text", ".html", ".htm", ".xhtml"})
RECORD_SUFFIXES = frozenset({".jsonl", ".ndjson"})
BATCH_SIZE = 256
_BLANK_LINE = re.compile(r"\n[ \t]*\n")


@dataclass(frozen=True, slots=True)
class Rejected:
    """A page that could not become an article, and why."""

    where: str
    reason: str


@dataclass(frozen=True, slots=True)
class Parsed:
    where: str
    article: Article
    stemmed: StemmedArticle


@dataclass(slots=True)
class IngestReport:
    new: int = 0
    duplicates: int = 0
    rejected: list[Rejected] = field(default_factory=list)
    new_ids: list[int] = field(default_factory=list)

    @property
    def read(self) -> int:
        return self.new + self.duplicates + len(self.rejected)

    def summary(self) -> str:
        return f"{self.new} new, {self.duplicates} duplicates, {len(self.rejected)} rejected"


@dataclass(frozen=True, slots=True)
class WorkItem:
    """One unit for a worker: a page file, or one line of a JSONL file of article records."""

    where: str
    path: str
    source: str | None
    record: str | None = None


def shut_down(pool: Executor) -> None:
    """Shut a pool down, blocking (call it in a thread): steps not started are cancelled, those running
    finish. Worker processes that started while others failed to fork have no manager thread to stop them
    (they would keep the interpreter from exiting): they are killed."""
    # ProcessPoolExecutor's own record of its workers (private; shutdown() forgets it). Other executors have
    # no processes to kill.
    started = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=True, cancel_futures=True)
    for process in started:
        if process.is_alive():
            process.kill()  # not SIGTERM: a worker that has not run its initializer yet would pass it on
            process.join()


def reset_worker_signals() -> None:
    """Initializer of every worker process pool (this one, the poller's): a worker forked from `govdigest run`
    or `govdigest ingest` would keep the parent's signal handling. Under `run` that is a no-op handler plus
    the event loop's wakeup fd, so a SIGTERM or SIGINT sent to the worker alone would stop the whole bot and
    leave the worker running. A worker obeys signals as any process does: it dies, and its pool breaks."""
    signal.set_wakeup_fd(-1)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    # The poller forks with these two blocked (bot/sources/work.py): one sent before this point waited, and
    # now it is the worker's.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM, signal.SIGINT})


def iter_work(paths: Iterable[Path], source: str | None = None) -> Iterator[WorkItem | Rejected]:
    """Every page file under `paths` (folders recursively, hidden entries skipped), and every record line of
    `.jsonl` files. A path that does not exist or cannot be listed comes back as Rejected."""
    for path in paths:
        if path.is_dir():
            for root, dirs, files in os.walk(path, onerror=None):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                for name in sorted(files):
                    if not name.startswith("."):
                        yield from _work_for_file(Path(root, name), source or path.resolve().name)
        elif path.is_file():
            yield from _work_for_file(path, source)
        else:
            yield Rejected(str(path), "no such file or folder")


def _work_for_file(path: Path, source: str | None) -> Iterator[WorkItem | Rejected]:
    suffix = path.suffix.lower()
    if suffix in RECORD_SUFFIXES:
        try:
            with path.open(encoding="utf-8", errors="replace") as lines:
                for number, line in enumerate(lines, 1):
                    if line.strip():
                        yield WorkItem(f"{path}:{number}", str(path), source, line)
        except OSError as error:
            yield Rejected(str(path), f"cannot read: {error.strerror or error}")
    elif suffix in PAGE_SUFFIXES or not suffix:
        yield WorkItem(str(path), str(path), source)
    # Other files in a folder (images, archives) are not pages: skipped silently, as a user would expect.


def process_batch(items: Sequence[WorkItem], now: datetime) -> list[Parsed | Rejected]:
    """Parse and stem a batch (runs in a worker process). Never raises for one bad page."""
    results: list[Parsed | Rejected] = []
    for item in items:
        try:
            article = _record_article(item, now) if item.record is not None else _page_article(item, now)
            results.append(Parsed(item.where, article, stem_article(article)))
        except PageRejected as rejected:
            results.append(Rejected(item.where, rejected.reason))
        except Exception as error:  # a parser bug must not cost the other pages
            results.append(Rejected(item.where, f"unexpected error: {type(error).__name__}: {error}"))
    return results


def _page_article(item: WorkItem, now: datetime) -> Article:
    path = Path(item.path)
    try:
        size = path.stat().st_size
        if size > MAX_PAGE_BYTES:
            raise PageRejected(f"page too large ({size} bytes, limit {MAX_PAGE_BYTES})")
        data = path.read_bytes()
    except OSError as error:
        raise PageRejected(f"cannot read: {error.strerror or error}") from None
    return parse_page(data, source=item.source or path.parent.name or "local", filename=path.name, now=now)


def _record_article(item: WorkItem, now: datetime) -> Article:
    """One JSON record in the corpus schema: title, text (paragraphs split by blank lines), published, url,
    source."""
    try:
        record = json.loads(item.record or "")
    except json.JSONDecodeError as error:
        raise PageRejected(f"not a JSON record: {error.msg}") from None
    if not isinstance(record, dict):
        raise PageRejected("not a JSON object")
    title = str(record.get("title") or "").strip()
    text = str(record.get("text") or "").strip()
    if not title:
        raise PageRejected("no title")
    if not text:
        raise PageRejected("no text")
    url = str(record["url"]) if record.get("url") else None
    published = record.get("published")
    published_at = date_from_url(url) if url and not published else None
    if published_at is None:
        if not published:
            raise PageRejected("no publication date")
        try:
            published_at = parse_date(str(published), now=now)
        except DateError as error:
            raise PageRejected(f"bad date {published!r}: {error}") from None
    paragraphs = record_paragraphs(text)
    lead, body = (paragraphs[0], paragraphs[1:]) if len(paragraphs) > 1 else ("", paragraphs)
    article = make_article(
        title=title,
        lead=lead,
        body=body,
        published_at=published_at,
        views=None,
        source=str(record.get("source") or item.source or "local"),
        url=url,
    )
    if not article.lead and not article.body:
        raise PageRejected("no article text (only site navigation)")
    return article


def record_paragraphs(text: str) -> list[str]:
    """Paragraphs of a record's text: blocks between blank lines, their wrapped lines joined, when the text has
    blank lines; otherwise one paragraph a line."""
    text = text.replace("\r\n", "\n")
    blocks = _BLANK_LINE.split(text)
    if len(blocks) > 1:
        return [" ".join(block.split()) for block in blocks if block.strip()]
    return [line.strip() for line in text.split("\n") if line.strip()]


def _batched(
    items: Iterable[WorkItem | Rejected], size: int
) -> Iterator[tuple[list[WorkItem], list[Rejected]]]:
    work: list[WorkItem] = []
    rejected: list[Rejected] = []
    for item in items:
        if isinstance(item, Rejected):
            rejected.append(item)
        else:
            work.append(item)
        if len(work) >= size:
            yield work, rejected
            work, rejected = [], []
    if work or rejected:
        yield work, rejected


async def parse_parallel(
    items: Iterable[WorkItem | Rejected],
    *,
    executor: Executor | None = None,
    batch_size: int = BATCH_SIZE,
    now: datetime,
) -> AsyncIterator[list[Parsed | Rejected]]:
    """Batches of parsed pages in input order, with at most 2 batches per worker in flight."""
    loop = asyncio.get_running_loop()
    workers = max(1, min(os.cpu_count() or 1, 8))
    own_executor = executor is None
    pool = executor or ProcessPoolExecutor(max_workers=workers, initializer=reset_worker_signals)
    in_flight: list[tuple[asyncio.Future[list[Parsed | Rejected]], list[Rejected]]] = []
    try:
        for work, rejected in _batched(items, batch_size):
            in_flight.append((loop.run_in_executor(pool, process_batch, work, now), rejected))
            if len(in_flight) >= 2 * workers:
                future, early = in_flight.pop(0)
                yield [*early, *await future]
        for future, early in in_flight:
            yield [*early, *await future]
    finally:
        if own_executor:
            await asyncio.to_thread(shut_down, pool)


async def ingest_paths(
    archive: ArticleStore,
    paths: Sequence[Path],
    *,
    source: str | None = None,
    executor: Executor | None = None,
    now: datetime,
) -> IngestReport:
    """Parse every page under `paths` and store the new ones. One bad page never stops the others."""
    report = IngestReport()
    async for batch in parse_parallel(iter_work(paths, source), executor=executor, now=now):
        parsed = [result for result in batch if isinstance(result, Parsed)]
        report.rejected.extend(result for result in batch if isinstance(result, Rejected))
        if parsed:
            added = await archive.add_many([p.article for p in parsed], [p.stemmed for p in parsed])
            report.new += len(added.new_ids)
            report.duplicates += added.duplicates
            report.new_ids.extend(added.new_ids)
    return report
