"""What "did you mean" costs: bot.archive.spelling.suggest_query on a query that finds nothing.

    python bench/spelling_bench.py [--size 100000] [--data-dir DIR] [--words 30]

The archive is bench/search_bench.py's (built once with bench/corpus.py into --data-dir, reused; an archive
from before migration m0004 gets the vocabulary table when opened). Queries: real 16-letter words of the
archive, each with one letter replaced (a typo), and `импортозамищение`. Measured per query (best of 3):
- candidates: generating and stemming the one-edit neighbours (pure Python, no database);
- frequencies: ArticleStore.document_frequencies of all their tokens (term dictionary lookups);
- total: suggest_query end to end (the above, the choice, and the count that checks the suggestion);
- baseline: the empty search itself, as the bot runs it before asking for a suggestion (count + search).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.corpus import load_pool
from bench.search_bench import build
from bot.archive.morphology import tokenize
from bot.archive.query import SearchQuery, parse_query
from bot.archive.spelling import CYRILLIC, plan_corrections, suggest_query, tokens_to_look_up
from storage.sqlite.articles import ArticleRepository
from storage.sqlite.database import Database

WORD_CHARS = 16


def typo_queries(count: int, seed: int) -> list[str]:
    """`count` real 16-letter words of the corpus, one letter of each replaced."""
    pool = load_pool()
    words = sorted({w for t in pool.titles for w in tokenize(t) if len(w) == WORD_CHARS and w.isalpha()})
    rng = random.Random(seed)
    chosen = rng.sample(words, min(count, len(words)))
    typos = []
    for word in chosen:
        at = rng.randrange(1, WORD_CHARS - 1)
        typos.append(word[:at] + rng.choice([c for c in CYRILLIC if c != word[at]]) + word[at + 1 :])
    return ["импортозамищение", *typos]


async def best_ms(action: Callable[[], Awaitable[object]]) -> float:
    times = []
    for _ in range(3):
        started = time.perf_counter()
        await action()
        times.append((time.perf_counter() - started) * 1000)
    return min(times)


async def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data-dir", type=Path, default=Path(tempfile.gettempdir()) / "govdigest-bench-data")
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--words", type=int, default=30)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    path = args.data_dir / f"archive-{args.size}.db"
    await build(path, args.size, args.seed)
    queries = typo_queries(args.words, args.seed)
    rows: list[tuple[float, float, float, int, str | None, float]] = []
    async with await Database.connect(path) as db:
        repo = ArticleRepository(db)
        for query in queries:

            async def candidates(query: str = query) -> object:
                return plan_corrections(query)

            tokens = tokens_to_look_up(plan_corrections(query))

            async def frequencies(tokens: list[str] = tokens) -> object:
                return await repo.document_frequencies(tokens)

            async def total(query: str = query) -> object:
                return await suggest_query(repo, query)

            parsed = parse_query(query)

            async def baseline(parsed: SearchQuery = parsed) -> object:
                return (await repo.count(parsed), await repo.search(parsed, limit=5))

            rows.append(
                (
                    await best_ms(candidates),
                    await best_ms(frequencies),
                    await best_ms(total),
                    len(tokens),
                    await suggest_query(repo, query),
                    await best_ms(baseline),
                )
            )
    for query, (cand, freq, whole, tokens, suggestion, _) in zip(queries, rows, strict=True):
        print(
            f"{query:>18}  {tokens:5d} tokens  {cand:6.2f} + {freq:6.2f} ms  total {whole:6.2f} ms  → {suggestion}"
        )
    for label, index in (("candidates", 0), ("frequencies", 1), ("total", 2), ("baseline (empty search)", 5)):
        values = sorted(float(row[index] or 0) for row in rows)
        p95 = values[min(len(values) - 1, round(0.95 * (len(values) - 1)))]
        print(
            f"{label}: median {statistics.median(values):.2f} ms, p95 {p95:.2f} ms, max {values[-1]:.2f} ms"
        )
    found = sum(row[4] is not None for row in rows)
    print(f"{args.size:,} articles, {len(rows)} queries of {WORD_CHARS} letters: {found} got a suggestion")
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
