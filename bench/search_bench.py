"""Search latency of the archive at 100,000 and 1,000,000 articles, beside two baselines in the same run.

    python bench/search_bench.py [--small] [--sizes 100000,1000000] [--data-dir DIR] [--long] [--no-peer]

Archives are built once per size with bench/corpus.py (real paragraphs recombined) through
ArticleRepository.add_many, stored in --data-dir (outside the repository) and reused by later runs.
Queries: real two-word pairs from the corpus (neighbouring content words of titles and leads).
Measured per query, through the same Database connection, the methods interleaved query by query:
- archive: ArticleRepository.search(parse_query(q), limit=5) — the ranking index (tantivy: BM25 over every
  match + recency, exact) + fetching the 5 articles + snippets from the text;
- archive ranking: the ranking index's ranking alone (what replaces the bare SQL);
- tantivy: the peer the issue names, tantivy's own search of the same compiled query, top 5 by BM25 alone (no
  recency bonus, so no exactness work on top), through the same thread hop;
- bare bm25: the peer, SQLite's FTS5: the same stems in a bench-owned FTS5 table (`peer_fts`, rowid = the
  recency key published_at * 2**31 + id, written beside the archive at build time; the archive itself has no
  FTS5 table since migration 8), the same words (each word any stem of its family), `ORDER BY bm25(...)
  LIMIT 5` over all matches (SQL only, no snippets);
- window + bm25(): FTS5's bm25() over the newest SEARCH_WINDOW matches only (SQL) — the design the archive
  used before its ranking index, because bm25() first counts every match of every word in the whole index;
- LIKE: `LIKE '%word%'` on title and lead for both words (the body is stored compressed), newest 5 (a full
  scan; a sample of the queries).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.corpus import LONG_PARAGRAPHS, PARAGRAPHS, SPAN, START, iter_stemmed_articles, word_pairs
from bot.archive.morphology import stem_fields
from bot.archive.query import SearchQuery, parse_query, unit_families, unit_tokens
from bot.clock import FixedClock
from storage.search_index import compile_query
from storage.sqlite.articles import ArticleRepository
from storage.sqlite.body import unpack
from storage.sqlite.database import Database

ARCHIVE_NOW = START + SPAN
SEARCH_WINDOW = 200  # the window the archive ranked in before its ranking index (the baseline below)

BATCH = 2000
PEER_TABLE = (
    "CREATE VIRTUAL TABLE IF NOT EXISTS peer_fts USING fts5(title, lead, body, content='',"
    " tokenize='unicode61 remove_diacritics 0')"
)
PEER_INSERT = "INSERT INTO peer_fts (rowid, title, lead, body) VALUES (?, ?, ?, ?)"
BARE_SQL = (
    "SELECT rowid, bm25(peer_fts, 10.0, 3.0, 1.0) AS score FROM peer_fts"
    " WHERE peer_fts MATCH ? ORDER BY score LIMIT 5"
)
WINDOW_SQL = (
    "SELECT key, score FROM (SELECT rowid AS key, bm25(peer_fts, 10.0, 3.0, 1.0) AS score"
    " FROM peer_fts WHERE peer_fts MATCH ? ORDER BY rowid DESC LIMIT ?) ORDER BY score LIMIT 5"
)
RECENCY_SHIFT = 2**31


def peer_match(query: SearchQuery) -> str:
    """The FTS5 MATCH string of a query of plain words: each word any stem of its family."""
    units = []
    for tokens, family in zip(unit_tokens(query), unit_families(query), strict=True):
        stems = family or tuple(tokens)
        units.append("(" + " OR ".join('"' + stem + '"' for stem in stems) + ")")
    return " AND ".join(units) or '""'


LIKE_SQL = (
    "SELECT id FROM articles WHERE (title LIKE ?1 OR lead LIKE ?1)"
    " AND (title LIKE ?2 OR lead LIKE ?2) ORDER BY published_at DESC LIMIT 5"
)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def dir_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.glob("*") if f.is_file()) if path.exists() else 0


def file_bytes(path: Path) -> int:
    return sum(os.path.getsize(f"{path}{s}") for s in ("", "-wal") if os.path.exists(f"{path}{s}"))


async def build(path: Path, size: int, seed: int, paragraphs: tuple[int, int], peer: bool) -> float:
    """Create the archive at `path` (and its FTS5 peer) unless a complete one is there; returns the build rate
    (articles/s)."""
    if path.exists():  # noqa: ASYNC240 - a benchmark script, nothing else runs on the loop
        async with await Database.connect(path) as db:
            if await db.fetchval("SELECT count(*) FROM articles") == size:
                if peer:
                    await fill_peer(db)  # an archive built before the peer moved here
                return 0.0
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)  # noqa: ASYNC240
    path.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    async with await Database.connect(path) as db:
        await db.execute("PRAGMA synchronous = OFF")  # a scratch build; durability is not measured here
        repo = ArticleRepository(db)
        articles, stemmed = [], []
        done = 0
        for article, stems in iter_stemmed_articles(size, seed, paragraphs=paragraphs):
            articles.append(article)
            stemmed.append(stems)
            if len(articles) == BATCH:
                done += len((await repo.add_many(articles, stemmed)).new_ids)
                articles, stemmed = [], []
                if done % 100_000 < BATCH:
                    print(f"  built {done:,} articles", flush=True)
        if articles:
            done += len((await repo.add_many(articles, stemmed)).new_ids)
        rate = done / (time.perf_counter() - started)
        await db.search_index.flush()
        if peer:
            await fill_peer(db)
        await db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    if done != size:
        print(f"  note: {size - done} generated articles were duplicates", flush=True)
    return rate


async def fill_peer(db: Database) -> None:
    """The FTS5 peer: the archive's stems in `peer_fts` (module doc), from the table, unless it is there."""
    if await db.fetchval("SELECT 1 FROM sqlite_master WHERE name = 'peer_fts'"):
        return
    print("  writing the FTS5 peer table", flush=True)
    await db.execute(PEER_TABLE)
    after = 0
    while rows := await db.fetchall(
        "SELECT id, published_at, title, lead, body FROM articles WHERE id > ? ORDER BY id LIMIT ?",
        (after, BATCH),
    ):
        peer = []
        for article_id, published, title, lead, body in rows:
            stemmed = stem_fields(title, lead, unpack(body))
            peer.append((published * RECENCY_SHIFT + article_id, stemmed.title, stemmed.lead, stemmed.body))
        async with db.transaction() as conn:
            await conn.executemany(PEER_INSERT, peer)
        after = rows[-1][0]


REPEAT = 1


async def timed(coro_factory: Callable[[str], Awaitable[None]], queries: list[str]) -> list[float]:
    """Milliseconds per query; with --repeat N the best of N runs (filters out other processes' bursts)."""
    times = []
    for query in queries:
        best = float("inf")
        for _ in range(REPEAT):
            started = time.perf_counter()
            await coro_factory(query)
            best = min(best, time.perf_counter() - started)
        times.append(best * 1000)
    return times


async def measure(path: Path, size: int, queries: list[str], like_queries: int) -> dict[str, object]:
    # "Now" is the end of the generated dates, as for an archive whose newest news is today's: the recency
    # bonus then weighs as much as it can (with the wall clock, years after the newest article, it hardly would).
    async with await Database.connect(path, clock=FixedClock(ARCHIVE_NOW)) as db:
        repo = ArticleRepository(db)
        started = time.perf_counter()
        indexed = await repo.prepare_search()  # an archive built before the ranking index: indexed now, once
        if indexed:
            print(f"  ranking index: {indexed:,} articles indexed in {time.perf_counter() - started:.1f} s")
        parsed = {q: parse_query(q) for q in queries}
        compiled = {q: compile_query(parsed[q]) for q in queries}
        now = int(ARCHIVE_NOW.timestamp())
        matches = {q: peer_match(parsed[q]) for q in queries}

        async def archive(q: str) -> None:
            await repo.search(parsed[q], limit=5)

        async def bare(q: str) -> None:
            await db.fetchall(BARE_SQL, (matches[q],))

        async def window(q: str) -> None:
            await db.fetchall(WINDOW_SQL, (matches[q], SEARCH_WINDOW))

        async def ranking(q: str) -> None:  # the ranking index alone, no fetch, no snippets
            query = compiled[q]
            if query is not None:
                await db.search_index.search(query, 5, now)

        async def tantivy_bm25(q: str) -> None:  # the peer: tantivy's own top 5 by BM25, no recency
            query = compiled[q]
            if query is not None:
                index = db.search_index
                await asyncio.to_thread(lambda: index.searcher().search(query, 5, count=False))

        async def like(q: str) -> None:
            first, second = q.split(" ")
            await db.fetchall(LIKE_SQL, (f"%{first}%", f"%{second}%"))

        counts = [await repo.count(parsed[q], cap=10**9) for q in queries]
        peer_bytes = int(
            await db.fetchval("SELECT coalesce(sum(pgsize), 0) FROM dbstat WHERE name LIKE 'peer_fts%'") or 0
        )
        peer = bool(await db.fetchval("SELECT 1 FROM sqlite_master WHERE name = 'peer_fts'"))
        # Interleaved per query (each method sees the same cache state), the order rotating between queries.
        methods: dict[str, Callable[[str], Awaitable[None]]] = {
            "archive": archive,
            "ranking": ranking,
            "tantivy": tantivy_bm25,
        }
        if peer:
            methods |= {"bare": bare, "window": window}
        for q in queries[:20]:  # warm-up
            for method in methods.values():
                await method(q)
        times: dict[str, list[float]] = {name: [] for name in methods}
        names = list(methods)
        for number, q in enumerate(queries):
            for name in names[number % len(names) :] + names[: number % len(names)]:
                times[name] += await timed(methods[name], [q])
        archive_ms, ranking_ms = times["archive"], times["ranking"]
        like_ms = await timed(like, queries[:like_queries]) if like_queries else []
    result: dict[str, object] = {
        "articles": size,
        "queries": len(queries),
        "matches_median": statistics.median(counts),
        "matches_p95": percentile([float(c) for c in counts], 0.95),
        "matches_max": max(counts),
        "archive_p50_ms": percentile(archive_ms, 0.5),
        "archive_p95_ms": percentile(archive_ms, 0.95),
        "ranking_p50_ms": percentile(ranking_ms, 0.5),
        "ranking_p95_ms": percentile(ranking_ms, 0.95),
        "db_bytes_per_1000": (file_bytes(path) - peer_bytes) / size * 1000,
        "peer_bytes_per_1000": peer_bytes / size * 1000,
        "index_bytes_per_1000": dir_bytes(Path(f"{path}-search")) / size * 1000,
        "load_average": os.getloadavg(),
        "repeat": REPEAT,
        "search_window": SEARCH_WINDOW,
    }
    for name in ("bare", "window", "tantivy"):
        if times.get(name):
            result |= {
                f"{name}_p50_ms": percentile(times[name], 0.5),
                f"{name}_p95_ms": percentile(times[name], 0.95),
            }
    if like_ms:
        result |= {
            "like_queries": len(like_ms),
            "like_p50_ms": percentile(like_ms, 0.5),
            "like_p95_ms": percentile(like_ms, 0.95),
        }
    return result


def report(result: dict[str, object]) -> None:
    def line(label: str, key: str, versus: str | None = None) -> None:
        p50, p95 = float(result[f"{key}_p50_ms"]), float(result[f"{key}_p95_ms"])  # type: ignore[arg-type]
        ratio = ""
        if versus:
            other = float(result[f"{versus}_p95_ms"])  # type: ignore[arg-type]
            ratio = f"   p95 ratio {p95 / other:6.1f}x of {versus}"
        print(f"  {label:<28} p50 {p50:8.2f} ms   p95 {p95:8.2f} ms{ratio}")

    print(
        f"\n{result['articles']:,} articles, {result['queries']} two-word queries "
        f"(matches: median {result['matches_median']}, p95 {result['matches_p95']},"
        f" max {result['matches_max']})"
    )
    line("archive search", "archive")
    line("archive ranking (index)", "ranking")
    line("peer: tantivy BM25 top 5", "tantivy", "ranking")
    if "bare_p50_ms" in result:
        line("peer: FTS5 MATCH + bm25()", "bare", "ranking")
        line("window + bm25() (SQL)", "window", "ranking")
    if "like_p50_ms" in result:
        line(f"LIKE scan ({result['like_queries']} queries)", "like", "archive")
    print(
        f"  archive database size: {float(result['db_bytes_per_1000']) / 1e6:.2f} MB per 1,000 articles (the peer's FTS5 table beside it: {float(result['peer_bytes_per_1000']) / 1e6:.2f} MB)"
    )  # type: ignore[arg-type]
    print(f"  ranking index size: {float(result['index_bytes_per_1000']) / 1e6:.2f} MB per 1,000 articles")  # type: ignore[arg-type]
    print(
        f"  load average during the run: {result['load_average']}; best of {result['repeat']} runs per query;"
        f" SEARCH_WINDOW {result['search_window']}"
    )


async def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data-dir", type=Path, default=Path(tempfile.gettempdir()) / "govdigest-bench-data")
    parser.add_argument("--sizes", default="100000,1000000", help="comma-separated archive sizes")
    parser.add_argument("--small", action="store_true", help="one archive of 20,000 articles")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument(
        "--like-queries", type=int, default=None, help="LIKE sample (default 20, 10 above 200k)"
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--long", action="store_true", help="articles of ~2,600 characters (issue 10's size), not ~1,000"
    )
    parser.add_argument("--no-peer", action="store_true", help="no FTS5 peer table (a long build)")
    parser.add_argument("--repeat", type=int, default=1, help="time each query N times, keep the best")
    parser.add_argument(
        "--build-only", action="store_true", help="build (or check) the archives, measure nothing"
    )
    args = parser.parse_args()
    global REPEAT  # noqa: PLW0603 - a script-wide setting
    REPEAT = max(1, args.repeat)
    sizes = [20_000] if args.small else [int(s) for s in args.sizes.split(",")]
    queries = [f"{a} {b}" for a, b in word_pairs(args.queries, args.seed)]
    results = []
    for size in sizes:
        paragraphs = LONG_PARAGRAPHS if args.long else PARAGRAPHS
        path = args.data_dir / (f"archive-{size}-long.db" if args.long else f"archive-{size}.db")
        rate = await build(path, size, args.seed, paragraphs, peer=not args.no_peer)
        print(f"{path}: " + (f"built at {rate:,.0f} articles/s" if rate else "reused"), flush=True)
        if args.build_only:
            continue
        like = args.like_queries if args.like_queries is not None else (20 if size <= 200_000 else 10)
        result = await measure(path, size, queries, like)
        report(result)
        results.append(result)
    if results:
        (args.data_dir / "search-results.json").write_text(json.dumps(results, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
