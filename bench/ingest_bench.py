"""Ingest throughput: `govdigest ingest` (parse + classify + stem + dedupe + store + index) of N text pages built
from the real corpus, beside a bare build of the same rows in the same run: the same stemmed text put into a plain
FTS5 table with executemany. Prints pages/s for both and the ratio.

    python bench/ingest_bench.py            # 100,000 pages
    python bench/ingest_bench.py --small    # 10,000 pages
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import shutil
import sqlite3
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.corpus import iter_pages
from bot.archive.ingest import Parsed as ParsedPage
from bot.archive.ingest import WorkItem, ingest_paths, iter_work, process_batch
from storage.sqlite.articles import ArticleRepository
from storage.sqlite.database import Database

PAGES_PER_FOLDER = 1000


# The ingest clock: relative dates and the "not in the future" check are read against it.
NOW = datetime(2026, 12, 1, tzinfo=UTC)


def write_pages(folder: Path, count: int) -> None:
    for number, page in enumerate(iter_pages(count, seed=7)):
        sub = folder / f"{number // PAGES_PER_FOLDER:04d}"
        if number % PAGES_PER_FOLDER == 0:
            sub.mkdir(parents=True, exist_ok=True)
        (sub / f"{number:06d}.txt").write_bytes(page)


async def pipeline(folder: Path, db_path: Path) -> tuple[float, int, int]:
    async with await Database.connect(db_path) as db:
        started = time.perf_counter()
        report = await ingest_paths(ArticleRepository(db), [folder], source="bench", now=NOW)
        elapsed = time.perf_counter() - started
    return elapsed, report.new, len(report.rejected)


def bare_rows(folder: Path) -> list[tuple[str, str, str]]:
    items = [item for item in iter_work([folder]) if isinstance(item, WorkItem)]
    rows: list[tuple[str, str, str]] = []
    for start in range(0, len(items), 1000):
        for result in process_batch(items[start : start + 1000], NOW):
            if isinstance(result, ParsedPage):
                rows.append((result.stemmed.title, result.stemmed.lead, result.stemmed.body))
    return rows


def bare_build(rows: list[tuple[str, str, str]], db_path: Path) -> float:
    conn = sqlite3.connect(db_path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("CREATE VIRTUAL TABLE bare USING fts5(title, lead, body)")
    started = time.perf_counter()
    for start in range(0, len(rows), 2000):
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO bare (title, lead, body) VALUES (?, ?, ?)", rows[start : start + 2000])
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - started
    conn.close()
    return elapsed


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def store_cpu(parsed: list[ParsedPage], db_path: Path) -> float:
    """CPU seconds of add_many alone (this process: event loop + aiosqlite thread) for pre-parsed pages."""
    async with await Database.connect(db_path) as db:
        archive = ArticleRepository(db)
        started = cpu_seconds()
        for start in range(0, len(parsed), 256):
            batch = parsed[start : start + 256]
            await archive.add_many([p.article for p in batch], [p.stemmed for p in batch])
        return cpu_seconds() - started


def cpu_breakdown(folder: Path, work: Path, sample: int = 5000) -> None:
    """Where a page's CPU goes, one process, on a sample: what two cores can do at best, and the floor of the
    pipeline/bare ratio (the bare build does none of parsing, stemming, dedupe or the articles table)."""
    items = [item for item in iter_work([folder]) if isinstance(item, WorkItem)][:sample]
    started = cpu_seconds()
    results = process_batch(items, NOW)
    parse_stem = (cpu_seconds() - started) / len(items)
    parsed = [r for r in results if isinstance(r, ParsedPage)]
    store = asyncio.run(store_cpu(parsed, work / "store.db")) / len(parsed)
    rows = [(p.stemmed.title, p.stemmed.lead, p.stemmed.body) for p in parsed]
    started = cpu_seconds()
    bare_build(rows, work / "bare-sample.db")
    bare = (cpu_seconds() - started) / len(rows)
    total = parse_stem + store
    print(
        f"CPU per page: parse+classify+stem {parse_stem * 1e3:.3f} ms, store+index {store * 1e3:.3f} ms; "
        f"bare FTS5 insert {bare * 1e3:.3f} ms"
    )
    print(
        f"2 cores at best: {2 / total:,.0f} pages/s; CPU floor of the pipeline/bare ratio: "
        f"{total / 2 / bare:.2f}x with both cores, {store / bare:.2f}x for storing alone"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=100_000)
    parser.add_argument("--small", action="store_true", help="10,000 pages")
    args = parser.parse_args()
    count = 10_000 if args.small else args.pages
    work = Path(tempfile.mkdtemp(prefix="govdigest-ingest-bench-"))
    try:
        pages = work / "pages"
        print(f"writing {count} pages …", flush=True)
        write_pages(pages, count)
        elapsed, new, rejected = asyncio.run(pipeline(pages, work / "pipeline.db"))
        pipeline_rate = count / elapsed
        print(
            f"pipeline: {count} pages in {elapsed:.1f} s = {pipeline_rate:,.0f} pages/s ({new} new, {rejected} rejected)"
        )
        rows = bare_rows(pages)
        bare_elapsed = bare_build(rows, work / "bare.db")
        bare_rate = len(rows) / bare_elapsed
        print(
            f"bare FTS5 executemany of the same stemmed rows: {bare_elapsed:.1f} s = {bare_rate:,.0f} rows/s"
        )
        print(f"ratio pipeline time / bare time: {elapsed / bare_elapsed:.2f}x")
        size = (work / "pipeline.db").stat().st_size + sum(
            p.stat().st_size for p in work.glob("pipeline.db-*") if p.is_file()
        )
        print(f"pipeline database: {size / 1e6:.1f} MB = {size / new * 1000 / 1e6:.2f} MB per 1,000 articles")
        cpu_breakdown(pages, work)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"peak RSS of the main process: {peak:.0f} MB")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
