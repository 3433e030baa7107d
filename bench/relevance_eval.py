"""Search relevance on the project's own query set: stems alone, pymorphy3 lemmas instead, and what ships.

    python bench/relevance_eval.py [--corpus PATH] [--queries PATH] [--hidden-among 100000[,1000000]]

Queries: bench/relevance_queries.jsonl, written from the real corpus (../shared/corpus/articles.jsonl), each
with the ids of the corpus articles judged relevant and a class (name, place, body_phrase, word_form, number,
two_word, three_word, old_article). The whole corpus goes through the ingest's own record path
(bot.archive.ingest.process_batch: JSON record → parsed, classified, stemmed article) into a temporary SQLite
archive (ArticleRepository.add_many). Records with no date (none given, none in the URL), which `govdigest ingest` rejects, get a fixed
placeholder date (PLACEHOLDER_DATE) so that every article can be found. Each query runs through the bot's
search: ArticleRepository.search(parse_query(q), limit=10). Reported: top-1, top-3 and MRR@10, overall and per
class, for
- stems: the shipped search without stem families (PyStemmer Snowball stems only: what shipped before);
- lemmas: stems replaced by lemmas: bot.archive.morphology patched so that every Cyrillic index word becomes
  all its pymorphy3 normal forms (homonyms: every lemma), every Cyrillic query word its most probable normal
  form (other words keep the stemmer), no stem families;
- shipped: stems, a query word matching its stem family (bot.archive.morphology module doc).
A fresh archive is built for each from the same records.

`--hidden-among N`: the shipped search only, with the corpus hidden among N generated articles (bench/corpus.py,
seed 7: real titles, leads and paragraphs recombined, dated 2019-2024), stored first, then the corpus. The pool
the generated articles are made of leaves out every article some query judges relevant, so no generated
article repeats a relevant one's title or text and the relevant article stays the right answer; the other
corpus articles' text is in the pool, so the query words are everywhere. Reported: top-1, top-3, top-5 and
MRR@10 per class, and the queries whose relevant article fell out of the top 5.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import bot.archive.ingest as ingest_module
import bot.archive.morphology as morphology
import storage.sqlite.articles as articles_module
from bench.corpus import iter_stemmed_articles, load_pool
from bot.archive.ingest import Parsed, WorkItem, process_batch
from bot.archive.models import Article
from bot.archive.parsing import date_from_url
from bot.archive.query import parse_query
from storage.sqlite.articles import ArticleRepository
from storage.sqlite.database import Database

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpus" / "articles.jsonl"
QUERIES = ROOT / "bench" / "relevance_queries.jsonl"
PLACEHOLDER_DATE = "2000-01-01T12:00:00+03:00"
CLASSES = (
    "name",
    "place",
    "body_phrase",
    "word_form",
    "number",
    "two_word",
    "three_word",
    "old_article",
    "conflation",
)
NOW = datetime(2026, 1, 1, tzinfo=UTC)


# --- the lemma variant ------------------------------------------------------------------------------------


def lemma_functions() -> tuple[Callable[[str], str], Callable[[str], str]]:
    """(query part → its most probable lemma, index part → all its lemmas joined by spaces)."""
    import pymorphy3

    analyzer = pymorphy3.MorphAnalyzer()
    stem_part = morphology._stem_part

    @lru_cache(maxsize=262144)
    def lemmas(part: str) -> tuple[str, ...]:
        if not morphology._CYRILLIC_RE.search(part):
            return (stem_part(part),)
        forms: list[str] = []
        for parse in analyzer.parse(part):
            form = morphology.normalize(parse.normal_form)
            if form not in forms:
                forms.append(form)
        return tuple(forms) or (part,)

    def query_part(part: str) -> str:
        return lemmas(part)[0]

    def index_part(part: str) -> str:
        return " ".join(lemmas(part))

    return query_part, index_part


@contextmanager
def stems_only() -> Iterator[None]:
    """The shipped search without stem families: a word matches its own stem only (what shipped before)."""
    import bot.archive.query as query_module

    def own_stem(part: str) -> tuple[str, ...]:
        return (morphology._stem_part(part),)

    saved = query_module.stem_family
    query_module.stem_family = own_stem
    try:
        yield
    finally:
        query_module.stem_family = saved


@contextmanager
def lemmas_instead_of_stems() -> Iterator[None]:
    with stems_only(), lemma_morphology():
        yield


@contextmanager
def lemma_morphology() -> Iterator[None]:
    """Patch the functions index and query share: `_stem_part` (stem_parts/stem_text/stem_word, the query
    side and snippets) gives the top lemma; `stem_article` (the index) gives every lemma of every word."""
    query_part, index_part = lemma_functions()

    def index_text(text: str) -> str:
        return " ".join(index_part(part) for part in morphology._PART_RE.findall(morphology.normalize(text)))

    def stem_article(article: Article) -> morphology.StemmedArticle:
        return morphology.StemmedArticle(
            title=index_text(article.title),
            lead=index_text(article.lead),
            body=index_text("\n".join(article.body)),
        )

    saved = (
        morphology._stem_part,
        morphology.stem_article,
        ingest_module.stem_article,
        articles_module.stem_article,
    )
    morphology._stem_part = query_part  # type: ignore[assignment]
    morphology.stem_article = stem_article
    ingest_module.stem_article = stem_article
    articles_module.stem_article = stem_article
    try:
        yield
    finally:
        (
            morphology._stem_part,
            morphology.stem_article,
            ingest_module.stem_article,
            articles_module.stem_article,
        ) = saved


@contextmanager
def shipped_morphology() -> Iterator[None]:
    yield


VARIANTS: tuple[tuple[str, Callable[[], AbstractContextManager[None]]], ...] = (
    ("stems", stems_only),
    ("lemmas", lemmas_instead_of_stems),
    ("shipped", shipped_morphology),
)


# --- archive and evaluation -------------------------------------------------------------------------------


def corpus_items(corpus: Path) -> tuple[list[str], list[WorkItem]]:
    ids, items = [], []
    with corpus.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            record = json.loads(line)
            if not record.get("published") and not (record.get("url") and date_from_url(str(record["url"]))):
                record["published"] = PLACEHOLDER_DATE
            ids.append(record["id"])
            items.append(
                WorkItem(f"{corpus}:{number}", str(corpus), None, json.dumps(record, ensure_ascii=False))
            )
    return ids, items


async def build_archive(
    db: Database, ids: list[str], items: list[WorkItem]
) -> tuple[dict[str, int], list[str]]:
    """Ingest every record; returns corpus id → archive id (a duplicate maps to the stored copy) and rejects."""
    results = process_batch(items, NOW)
    repo = ArticleRepository(db)
    mapping: dict[str, int] = {}
    rejected: list[str] = []
    for corpus_id, result in zip(ids, results, strict=True):
        if not isinstance(result, Parsed):
            rejected.append(f"{corpus_id}: {result.reason}")
            continue
        added = await repo.add_many([result.article], [result.stemmed])
        if added.new_ids:
            mapping[corpus_id] = added.new_ids[0]
        else:
            row = await db.fetchall(
                "SELECT id FROM articles WHERE content_hash = ? ORDER BY id LIMIT 1",
                (result.article.content_hash,),
            )
            if row:
                mapping[corpus_id] = int(row[0][0])
            else:  # a duplicate by URL
                rejected.append(f"{corpus_id}: duplicate by URL")
    return mapping, rejected


async def add_hidden_among(db: Database, count: int, corpus: Path, queries: list[dict[str, Any]]) -> None:
    """`count` generated articles made of the corpus minus every article judged relevant (module doc)."""
    relevant = frozenset(i for query in queries for i in query["relevant"])
    pool = load_pool(corpus, exclude=relevant)
    repo = ArticleRepository(db)
    batch: list[tuple[Article, morphology.StemmedArticle]] = []
    for pair in iter_stemmed_articles(count, seed=7, pool=pool):
        batch.append(pair)
        if len(batch) == 2000:
            await repo.add_many([a for a, _ in batch], [s for _, s in batch])
            batch = []
    if batch:
        await repo.add_many([a for a, _ in batch], [s for _, s in batch])


async def evaluate(
    name: str, corpus: Path, queries: list[dict[str, Any]], hidden_among: int = 0
) -> dict[str, Any]:
    ids, items = corpus_items(corpus)
    with tempfile.TemporaryDirectory() as folder:
        db = await Database.connect(Path(folder) / "archive.db")
        try:
            started = time.perf_counter()
            if hidden_among:
                await add_hidden_among(db, hidden_among, corpus, queries)
            mapping, rejected = await build_archive(db, ids, items)
            build_seconds = time.perf_counter() - started
            repo = ArticleRepository(db)
            ranks: list[tuple[str, int | None]] = []
            started = time.perf_counter()
            for query in queries:
                wanted = {mapping[i] for i in query["relevant"] if i in mapping}
                hits = await repo.search(parse_query(query["query"]), limit=10)
                rank = next((n for n, hit in enumerate(hits, 1) if hit.article_id in wanted), None)
                ranks.append((query["class"], rank))
            search_seconds = time.perf_counter() - started
        finally:
            await db.close()
    return {
        "name": name,
        "ranks": ranks,
        "rejected": rejected,
        "build": build_seconds,
        "search": search_seconds,
    }


def scores(ranks: list[int | None]) -> tuple[float, float, float]:
    n = len(ranks) or 1
    top1 = sum(1 for r in ranks if r == 1) / n
    top3 = sum(1 for r in ranks if r is not None and r <= 3) / n
    mrr = sum(1 / r for r in ranks if r is not None) / n
    return top1, top3, mrr


def report_hidden(result: dict[str, Any], queries: list[dict[str, Any]], count: int) -> None:
    print(f"\nthe corpus hidden among {count:,} generated articles ({result['name']})")
    print("| class | queries | top-1 | top-3 | top-5 | MRR@10 |")
    print("|---|---|---|---|---|---|")
    groups = [("all", None)] + [(c, c) for c in CLASSES if any(q["class"] == c for q in queries)]
    for label, cls in groups:
        ranks = [r for c, r in result["ranks"] if cls is None or c == cls]
        top1, top3, mrr = scores(ranks)
        top5 = sum(1 for r in ranks if r is not None and r <= 5) / (len(ranks) or 1)
        print(f"| {label} | {len(ranks)} | {top1:.3f} | {top3:.3f} | {top5:.3f} | {mrr:.3f} |")
    lost = [q["query"] for q, (_, r) in zip(queries, result["ranks"], strict=True) if r is None or r > 5]
    print(f"not in the top 5 ({len(lost)}): {lost}")
    print(f"archive built in {result['build']:.1f} s, {len(queries)} queries in {result['search']:.2f} s")


def report(results: list[dict[str, Any]], queries: list[dict[str, Any]]) -> None:
    names = [r["name"] for r in results]
    header = "| class | queries | " + " | ".join(f"{n} top-1 | {n} top-3 | {n} MRR@10" for n in names) + " |"
    print(header)
    print("|" + "---|" * (2 + 3 * len(names)))
    groups = [("all", None)] + [(c, c) for c in CLASSES if any(q["class"] == c for q in queries)]
    for label, cls in groups:
        cells = []
        count = 0
        for result in results:
            ranks = [r for c, r in result["ranks"] if cls is None or c == cls]
            count = len(ranks)
            cells += [f"{value:.3f}" for value in scores(ranks)]
        print(f"| {label} | {count} | " + " | ".join(cells) + " |")
    print()
    first, *others = results
    for other in others:
        better = worse = 0
        by_class: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for (cls, a), (_, b) in zip(first["ranks"], other["ranks"], strict=True):
            ra, rb = 1 / a if a else 0.0, 1 / b if b else 0.0
            if rb > ra:
                better += 1
                by_class[cls][0] += 1
            elif rb < ra:
                worse += 1
                by_class[cls][1] += 1
        print(f"{other['name']} vs {first['name']}: better rank on {better} queries, worse on {worse}")
        for cls, (b, w) in sorted(by_class.items()):
            print(f"  {cls}: better {b}, worse {w}")
    for result in results:
        print(
            f"{result['name']}: archive built in {result['build']:.1f} s, {len(queries)} queries in "
            f"{result['search']:.2f} s; not in the archive: {len(result['rejected'])} {result['rejected'][:3]}"
        )
        missed = [q["query"] for q, (_, r) in zip(queries, result["ranks"], strict=True) if r is None]
        print(f"  not in top 10 ({len(missed)}): {missed}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--queries", type=Path, default=QUERIES)
    parser.add_argument("--hidden-among", default="", help="comma-separated sizes (module doc)")
    parser.add_argument(
        "--variants", default="shipped", help="with --hidden-among: comma-separated variants (module doc)"
    )
    args = parser.parse_args()
    queries = [
        json.loads(line) for line in args.queries.read_text(encoding="utf-8").splitlines() if line.strip()
    ]
    variants = dict(VARIANTS)
    if args.hidden_among:
        for count in [int(size) for size in args.hidden_among.split(",")]:
            for name in args.variants.split(","):
                morphology.stem_family.cache_clear()
                with variants[name]():
                    result = asyncio.run(evaluate(name, args.corpus, queries, count))
                report_hidden(result, queries, count)
        return
    results = []
    for name, patch in VARIANTS:
        morphology.stem_family.cache_clear()  # cached stems of another variant's morphology
        with patch():
            results.append(asyncio.run(evaluate(name, args.corpus, queries)))
    print(f"{len(queries)} queries, corpus {args.corpus.name}")
    print("reproduce: python bench/relevance_eval.py\n")
    report(results, queries)


if __name__ == "__main__":
    main()
