"""Ingest throughput: `govdigest ingest` (parse + classify + stem + dedupe + store + index) of N text pages built
from the real corpus, beside a bare build of the same rows in the same run: the same stemmed text put into a plain
FTS5 table with executemany. Prints pages/s for both and the ratio.

    python bench/ingest_bench.py            # 100,000 pages
    python bench/ingest_bench.py --small    # 10,000 pages
    python bench/ingest_bench.py --database-url postgresql://user@host/db   # the pipeline on PostgreSQL

The pipeline stores through storage.open_storage: by default a SQLite file in a temporary folder; with a
`postgresql://` URL, databases of its own on that server (govdigest_bench_<hex>, dropped at the end WITH (FORCE)).
The bare build is SQLite's FTS5 on either backend (the reference of the ratio). On PostgreSQL the CPU of storing
counts the server's backends too (read from /proc when the server runs on this machine), not only this process.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import secrets
import shutil
import sqlite3
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.corpus import iter_pages
from bot.archive.ingest import Parsed as ParsedPage
from bot.archive.ingest import WorkItem, ingest_paths, iter_work, process_batch
from bot.clock import system_clock
from storage import open_storage, sqlite_path

PAGES_PER_FOLDER = 1000


# The ingest clock: relative dates and the "not in the future" check are read against it.
NOW = datetime(2026, 12, 1, tzinfo=UTC)


def write_pages(folder: Path, count: int) -> None:
    for number, page in enumerate(iter_pages(count, seed=7)):
        sub = folder / f"{number // PAGES_PER_FOLDER:04d}"
        if number % PAGES_PER_FOLDER == 0:
            sub.mkdir(parents=True, exist_ok=True)
        (sub / f"{number:06d}.txt").write_bytes(page)


class Target:
    """Where the pipeline stores: a SQLite file in the work folder (`url` None), or new databases on the
    PostgreSQL server of `url` (as tests/e2e/instances.py `fresh_database`; names are a fixed prefix and hex
    digits, so safe as identifiers), all dropped by `drop_all`."""

    def __init__(self, url: str | None, work: Path) -> None:
        if url is not None and sqlite_path(url) is not None:
            raise SystemExit(
                "--database-url: give a postgresql:// server; SQLite is the default (a temp file)"
            )
        self.server_url = url
        self.work = work
        self.names: list[str] = []

    @property
    def postgres(self) -> bool:
        return self.server_url is not None

    async def new(self, name: str) -> str:
        """The URL of a new, empty database (SQLite: the file `name`.db in the work folder)."""
        if self.server_url is None:
            return f"sqlite:///{self.work / f'{name}.db'}"
        database = f"govdigest_bench_{secrets.token_hex(6)}"
        conn = await asyncpg.connect(self.server_url)
        try:
            await conn.execute(f'CREATE DATABASE "{database}"')
        finally:
            await conn.close()
        self.names.append(database)
        return urlunsplit(urlsplit(self.server_url)._replace(path=f"/{database}"))

    async def drop_all(self) -> None:
        if self.server_url is None or not self.names:
            return
        conn = await asyncpg.connect(self.server_url)
        try:
            for database in self.names:
                await conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        finally:
            await conn.close()


async def pg_size(url: str) -> int:
    conn = await asyncpg.connect(url)
    try:
        return int(await conn.fetchval("SELECT pg_database_size(current_database())"))
    finally:
        await conn.close()


async def pipeline(folder: Path, url: str) -> tuple[float, int, int, int]:
    """(seconds, new, rejected, bytes the database grew by: SQLite file + WAL + ranking index, or
    pg_database_size)."""
    storage = await open_storage(url, clock=system_clock)
    try:
        path = sqlite_path(url)
        before = 0 if isinstance(path, Path) else await pg_size(url)
        started = time.perf_counter()
        report = await ingest_paths(storage.articles, [folder], source="bench", now=NOW)
        elapsed = time.perf_counter() - started
    finally:
        await storage.close()
    if isinstance(path, Path):
        # The database file, its WAL, and the ranking index folder beside it (`<file>-search/`).
        size = path.stat().st_size + sum(
            p.stat().st_size for p in path.parent.glob(f"{path.name}-*/**/*") if p.is_file()
        )
        size += sum(p.stat().st_size for p in path.parent.glob(f"{path.name}-*") if p.is_file())
    else:
        size = await pg_size(url) - before
    return elapsed, report.new, len(report.rejected), size


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


async def server_cpu(url: str) -> dict[int, float] | None:
    """CPU seconds so far of each server backend connected to the database of `url` (user + system, from
    /proc: the server on this machine); None when they cannot be read."""
    conn = await asyncpg.connect(url)
    try:
        pids = [
            int(row["pid"])
            for row in await conn.fetch(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        ]
    finally:
        await conn.close()
    return proc_cpu(pids)


def proc_cpu(pids: list[int]) -> dict[int, float] | None:
    """User + system CPU seconds of each process `pids` names, from /proc/PID/stat; None if one is unreadable."""
    ticks = os.sysconf("SC_CLK_TCK")
    seconds: dict[int, float] = {}
    try:
        for pid in pids:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            seconds[pid] = (int(fields[11]) + int(fields[12])) / ticks  # utime, stime
    except (OSError, IndexError, ValueError):
        return None
    return seconds


async def store_cpu(parsed: list[ParsedPage], url: str) -> tuple[float, float | None]:
    """CPU seconds of add_many alone for pre-parsed pages: this process (event loop + aiosqlite thread), and on
    PostgreSQL the server's backends (None on SQLite, or when /proc does not show them)."""
    storage = await open_storage(url, clock=system_clock)
    postgres = sqlite_path(url) is None
    try:
        archive = storage.articles
        await archive.add_many([parsed[0].article], [parsed[0].stemmed])  # the pool's first connection
        server_before = await server_cpu(url) if postgres else None
        started = cpu_seconds()
        for start in range(1, len(parsed), 256):
            batch = parsed[start : start + 256]
            await archive.add_many([p.article for p in batch], [p.stemmed for p in batch])
        own = cpu_seconds() - started
        server_after = await server_cpu(url) if postgres else None
    finally:
        await storage.close()
    if server_before is None or server_after is None:
        return own, None
    server = sum(spent - server_before.get(pid, 0.0) for pid, spent in server_after.items())
    return own, server


def cpu_breakdown(folder: Path, work: Path, target: Target, sample: int = 5000) -> None:
    """Where a page's CPU goes, one process, on a sample: what two cores can do at best, and the floor of the
    pipeline/bare ratio (the bare build does none of parsing, stemming, dedupe or the articles table)."""
    items = [item for item in iter_work([folder]) if isinstance(item, WorkItem)][:sample]
    started = cpu_seconds()
    results = process_batch(items, NOW)
    parse_stem = (cpu_seconds() - started) / len(items)
    parsed = [r for r in results if isinstance(r, ParsedPage)]
    own, server = asyncio.run(store_cpu(parsed, asyncio.run(target.new("store"))))
    store = (own + (server or 0.0)) / (len(parsed) - 1)
    rows = [(p.stemmed.title, p.stemmed.lead, p.stemmed.body) for p in parsed]
    started = cpu_seconds()
    bare_build(rows, work / "bare-sample.db")
    bare = (cpu_seconds() - started) / len(rows)
    total = parse_stem + store
    split = ""
    if target.postgres:
        split = f" (this process {own / (len(parsed) - 1) * 1e3:.3f} ms + server " + (
            f"{server / (len(parsed) - 1) * 1e3:.3f} ms)" if server is not None else "not readable)"
        )
    print(
        f"CPU per page: parse+classify+stem {parse_stem * 1e3:.3f} ms, store+index {store * 1e3:.3f} ms{split}; "
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
    parser.add_argument(
        "--database-url",
        metavar="URL",
        help="postgresql://user@host/db: run the pipeline on that server (in databases of its own, dropped "
        "afterwards); default: a SQLite file in a temporary folder",
    )
    args = parser.parse_args()
    count = 10_000 if args.small else args.pages
    work = Path(tempfile.mkdtemp(prefix="govdigest-ingest-bench-"))
    target = Target(args.database_url, work)
    try:
        print(f"backend: {'PostgreSQL' if target.postgres else 'SQLite'}")
        pages = work / "pages"
        print(f"writing {count} pages …", flush=True)
        write_pages(pages, count)
        url = asyncio.run(target.new("pipeline"))
        elapsed, new, rejected, size = asyncio.run(pipeline(pages, url))
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
        grown = " (grown by, from the migrated empty database)" if target.postgres else ""
        print(
            f"pipeline database{grown}: {size / 1e6:.1f} MB = {size / new * 1000 / 1e6:.2f} MB per 1,000 articles"
        )
        cpu_breakdown(pages, work, target)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"peak RSS of the main process: {peak:.0f} MB")
    finally:
        asyncio.run(target.drop_all())
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
