"""Search on the PostgreSQL backend at 100,000 (and 1,000,000) articles, beside the SQLite archive of the same
articles in the same run.

    GOVDIGEST_BENCH_POSTGRES_URL=postgresql://postgres@127.0.0.1:5432/test \\
        python bench/pg_search_bench.py [--sizes 100000,1000000] [--queries 200] [--sqlite-dir DIR]

Archives are built once per size with bench/corpus.py (real paragraphs recombined, as bench/search_bench.py)
through storage.postgres ArticleRepository.add_many, in schema `bench_<size>` of that database, and reused;
the instance's ranking index is kept in --index-dir (as SEARCH_INDEX_DIR would keep it) and caught up at open.
Measured per query (interleaved, the same queries for every method; "now" is the end of the generated dates):
- archive: ArticleRepository.search(parse_query(q), limit=5): the freshness probe (one statement), this
  instance's ranking index (BM25 over every match + recency, exact), fetching the 5 rows, snippets;
- sqlite archive: the same call on the SQLite archive of the same articles (bench/search_bench.py's build, same
  size and seed, in --sqlite-dir, reused): the two backends side by side;
- count: ArticleRepository.count (the index, exact, capped at 1,000);
- df vocab: document frequencies of the query words from article_vocab ("did you mean");
- exhaustive (a sample, --exhaustive-queries): search(exhaustive=True), PostgreSQL's own matching and BM25F in
  SQL over every match (the tsvector GIN index): what the ranking index replaced as the default.
Queries: real two-word pairs (bench.corpus.word_pairs), then single frequent and rare words of the corpus. Every
pair is searched once by every method before the timed pass (a warm-up, not counted).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import search_bench
from bench.corpus import PARAGRAPHS, iter_stemmed_articles, word_pairs
from bot.archive.query import parse_query, unit_tokens
from bot.clock import FixedClock
from storage.postgres import PostgresStorage
from storage.sqlite.articles import ArticleRepository as SqliteArticles
from storage.sqlite.database import Database

CLOCK = FixedClock(search_bench.ARCHIVE_NOW)

BATCH = 2000
INDEX_DIRS: list[Path] = []


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


async def open_archive(url: str, size: int) -> PostgresStorage:
    index_dir = INDEX_DIRS[0] / f"pg-index-{size}"
    return await PostgresStorage.open(
        url, clock=CLOCK, schema=f"bench_{size}", pool_size=4, search_index_dir=index_dir
    )


async def build(url: str, size: int, seed: int) -> None:
    storage = await open_archive(url, size)
    try:
        have = int(await storage.db.fetchval("SELECT articles FROM article_count"))
        if have >= size:
            print(f"bench_{size}: reused ({have:,} articles)", flush=True)
            return
        if have:
            raise SystemExit(f"bench_{size} holds {have} of {size} articles: drop the schema and rebuild")
        started = time.perf_counter()
        articles, stemmed, done = [], [], 0
        for article, stems in iter_stemmed_articles(size, seed):
            articles.append(article)
            stemmed.append(stems)
            if len(articles) == BATCH:
                done += len((await storage.articles.add_many(articles, stemmed)).new_ids)
                articles, stemmed = [], []
                if done % 100_000 < BATCH:
                    print(f"  built {done:,} articles", flush=True)
        if articles:
            done += len((await storage.articles.add_many(articles, stemmed)).new_ids)
        rate = done / (time.perf_counter() - started)
        await storage.db.execute("VACUUM ANALYZE articles")
        await storage.db.execute("VACUUM ANALYZE article_vocab")
        print(f"bench_{size}: built {done:,} articles at {rate:,.0f} articles/s", flush=True)
    finally:
        await storage.close()


async def timed(call: Callable[[], Awaitable[object]]) -> float:
    started = time.perf_counter()
    await call()
    return (time.perf_counter() - started) * 1000


async def single_words(storage: PostgresStorage) -> tuple[list[str], list[str]]:
    """Frequent words (in 5-50 % of the articles) and the rarest ones, from the vocabulary."""
    size = int(await storage.db.fetchval("SELECT articles FROM article_count"))
    frequent = await storage.db.fetch(
        "SELECT token FROM article_vocab WHERE docs BETWEEN $1 AND $2 AND token ~ '^[а-я]{5,}$'"
        " ORDER BY md5(token) LIMIT 40",
        size // 20,
        size // 2,
    )
    rare = await storage.db.fetch(
        "SELECT token FROM article_vocab WHERE docs >= 5 AND token ~ '^[а-я]{5,}$'"
        " ORDER BY docs, md5(token) LIMIT 40"
    )
    return [r["token"] for r in frequent], [r["token"] for r in rare]


async def measure(
    storage: PostgresStorage,
    name: str,
    queries: list[str],
    sqlite: SqliteArticles | None,
    *,
    exhaustive_queries: int = 0,
    report: bool = True,
) -> dict[str, list[float]]:
    repo = storage.articles
    parsed = {q: parse_query(q) for q in queries}
    times: dict[str, list[float]] = {}
    for number, q in enumerate(queries):

        async def archive(q: str = q) -> None:
            await repo.search(parsed[q], limit=5)

        async def count(q: str = q) -> None:
            await repo.count(parsed[q])

        async def df_vocab(q: str = q) -> None:
            await repo.document_frequencies([t for tokens in unit_tokens(parsed[q]) for t in tokens])

        methods: dict[str, Callable[[], Awaitable[None]]] = {"archive": archive, "count": count}
        methods["df vocab"] = df_vocab
        if sqlite is not None:

            async def sqlite_archive(q: str = q, sqlite: SqliteArticles = sqlite) -> None:
                await sqlite.search(parsed[q], limit=5)

            methods["sqlite archive"] = sqlite_archive
        if number < exhaustive_queries:

            async def exhaustive(q: str = q) -> None:
                await repo.search(parsed[q], limit=5, exhaustive=True)

            methods["exhaustive (SQL)"] = exhaustive
        names = list(methods)
        for method in names[number % len(names) :] + names[: number % len(names)]:
            times.setdefault(method, []).append(await timed(methods[method]))
    if not report:
        return times
    counts = [await repo.count(parsed[q], cap=10**9) for q in queries]
    print(
        f"\n  {name}: {len(queries)} queries, matches median {statistics.median(counts):,.0f},"
        f" p95 {percentile([float(c) for c in counts], 0.95):,.0f}, max {max(counts):,}"
    )
    for method, values in times.items():
        print(
            f"    {method:<18} p50 {percentile(values, 0.5):8.2f} ms   p95 {percentile(values, 0.95):8.2f} ms"
            + (f"   ({len(values)} queries)" if len(values) != len(queries) else "")
        )
    if "sqlite archive" in times:
        ratio = percentile(times["archive"], 0.95) / percentile(times["sqlite archive"], 0.95)
        print(f"    PostgreSQL / SQLite archive search at p95: {ratio:.2f}x")
    return times


async def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="100000")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--build-only", action="store_true")
    parser.add_argument(
        "--sqlite-dir",
        type=Path,
        help="measure the SQLite archive beside (archive-<size>.db, built if missing)",
    )
    parser.add_argument(
        "--index-dir",
        type=Path,
        default=Path(tempfile.gettempdir()) / "govdigest-bench-data",
        help="where the PostgreSQL instance keeps its ranking index (pg-index-<size>)",
    )
    parser.add_argument(
        "--exhaustive-queries", type=int, default=20, help="pairs also timed with exhaustive=True (SQL)"
    )
    args = parser.parse_args()
    INDEX_DIRS[:] = [args.index_dir]
    url = os.environ.get("GOVDIGEST_BENCH_POSTGRES_URL", "").strip()
    if not url:
        print("set GOVDIGEST_BENCH_POSTGRES_URL (a database the bench may fill)", file=sys.stderr)
        return 2
    pairs = [f"{a} {b}" for a, b in word_pairs(args.queries, args.seed)]
    for size in [int(s) for s in args.sizes.split(",")]:
        await build(url, size, args.seed)
        sqlite_path = None if args.sqlite_dir is None else args.sqlite_dir / f"archive-{size}.db"
        if sqlite_path is not None:
            rate = await search_bench.build(sqlite_path, size, args.seed, PARAGRAPHS, peer=False)
            print(f"{sqlite_path}: " + (f"built at {rate:,.0f} articles/s" if rate else "reused"), flush=True)
        if args.build_only:
            continue
        storage = await open_archive(url, size)
        db = None if sqlite_path is None else await Database.connect(sqlite_path, clock=CLOCK)
        sqlite = None if db is None else SqliteArticles(db)
        try:
            frequent, rare = await single_words(storage)
            print(f"\n{size:,} articles (load average {os.getloadavg()[0]:.1f})")
            # Every query once, not counted: both archives' pages in the OS cache (the build left them cold).
            await measure(storage, "warm-up", pairs, sqlite, report=False)
            await measure(
                storage, "two-word pairs", pairs, sqlite, exhaustive_queries=args.exhaustive_queries
            )
            await measure(storage, "frequent single words", frequent, sqlite)
            await measure(storage, "rare single words", rare, sqlite)
        finally:
            await storage.close()
            if db is not None:
                await db.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
