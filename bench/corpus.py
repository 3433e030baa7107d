"""Synthetic-but-real archives for benchmarks: real titles, leads and paragraphs of the Russian news corpus
(../shared/corpus/articles.jsonl) recombined into any number of articles with dates spread over years.

Every piece of text is real; only the combination is new, so word frequencies, word lengths and morphology
are those of real news. Deterministic for a given seed.

API (used by bench/search_bench.py and the ingest benchmark):
- `iter_articles(n, seed) -> Iterator[Article]` — articles made by bot.archive.parsing.make_article (cleaned,
  classified, hashed);
- `iter_stemmed_articles(n, seed)` — the same articles with their StemmedArticle (stems cached per paragraph);
- `iter_pages(n, seed) -> Iterator[bytes]` — the same articles as seed-format text pages (UTF-8): title, lead,
  `HH:MM, D месяца YYYY views`, paragraphs, then a sidebar of `time, date views` lines;
- `word_pairs(count, seed)` — real two-word queries: neighbouring content words of real titles and sentences.
"""

from __future__ import annotations

import itertools
import json
import random
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path

from bot.archive.dates import MOSCOW
from bot.archive.models import Article
from bot.archive.morphology import StemmedArticle, stem_text, tokenize
from bot.archive.parsing import clean_line, make_article
from bot.archive.query import STOPWORDS

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "articles.jsonl"
START = datetime(2019, 1, 1, tzinfo=UTC)
SPAN = timedelta(days=6 * 365)
MONTHS_GENITIVE = tuple(
    [
        "января",
        "февраля",
        "марта",
        "апреля",
        "мая",
        "июня",
        "июля",
        "августа",
        "сентября",
        "октября",
        "ноября",
        "декабря",
    ]
)
PARAGRAPHS = (2, 4)  # body paragraphs of an article: ~1,000 characters in all with title and lead
LONG_PARAGRAPHS = (7, 11)  # ~2,600 characters, the article size of issue 10's targets
_SENTENCE_RE = re.compile(r"(?<=[.!?])\s+")
_PARAGRAPH_ENDS = frozenset(".!?…»")


@dataclass(frozen=True, slots=True)
class Pool:
    titles: tuple[str, ...]
    leads: tuple[str, ...]
    paragraphs: tuple[str, ...]
    sources: tuple[str, ...]


@lru_cache(maxsize=2)
def load_pool(path: Path = CORPUS, exclude: frozenset[str] = frozenset()) -> Pool:
    """Titles, leads (first sentences) and body paragraphs (80–600 characters, ending a sentence) of the real
    corpus, leaving out the records whose id is in `exclude`."""
    titles: list[str] = []
    leads: list[str] = []
    paragraphs: list[str] = []
    sources: set[str] = set()
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            record = json.loads(line)
            if record.get("id") in exclude:
                continue
            titles.append(clean_line(record["title"]))
            sources.add(record.get("source") or "unknown")
            parts = [clean_line(p) for p in record["text"].split("\n") if p.strip()]
            if parts:
                first = _SENTENCE_RE.split(parts[0])[0]
                if 40 <= len(first) <= 300:
                    leads.append(first)
            # Whole sentences only: fragments without final punctuation are listing or navigation text.
            paragraphs += [p for p in parts if 80 <= len(p) <= 600 and p[-1] in _PARAGRAPH_ENDS]
    return Pool(
        tuple(dict.fromkeys(t for t in titles if t)),
        tuple(dict.fromkeys(leads)),
        tuple(dict.fromkeys(paragraphs)),
        tuple(sorted(sources)),
    )


@dataclass(frozen=True, slots=True)
class _Recipe:
    number: int
    title: int
    lead: int
    body: tuple[int, ...]
    source: int
    published_at: datetime
    views: int


def _recipes(n: int, seed: int, pool: Pool, paragraphs: tuple[int, int] = PARAGRAPHS) -> Iterator[_Recipe]:
    rng = random.Random(seed)
    span_seconds = int(SPAN.total_seconds())
    for number in range(n):
        yield _Recipe(
            number=number,
            title=rng.randrange(len(pool.titles)),
            lead=rng.randrange(len(pool.leads)),
            body=tuple(rng.randrange(len(pool.paragraphs)) for _ in range(rng.randint(*paragraphs))),
            source=rng.randrange(len(pool.sources)),
            published_at=START + timedelta(minutes=rng.randrange(span_seconds // 60)),  # pages show minutes
            views=rng.randrange(5000),
        )


def _article(recipe: _Recipe, pool: Pool) -> Article:
    source = pool.sources[recipe.source]
    return make_article(
        title=pool.titles[recipe.title],
        lead=pool.leads[recipe.lead],
        body=[pool.paragraphs[i] for i in recipe.body],
        published_at=recipe.published_at,
        views=recipe.views,
        source=source,
        url=f"https://{source}/bench/{recipe.number}",
    )


def iter_articles(n: int, seed: int = 0, paragraphs: tuple[int, int] = PARAGRAPHS) -> Iterator[Article]:
    pool = load_pool()
    for recipe in _recipes(n, seed, pool, paragraphs):
        yield _article(recipe, pool)


def iter_stemmed_articles(
    n: int, seed: int = 0, pool: Pool | None = None, paragraphs: tuple[int, int] = PARAGRAPHS
) -> Iterator[tuple[Article, StemmedArticle]]:
    """Articles with their stemmed text, as bot.archive.morphology.stem_article stems them: the stems of the
    made article's own title, lead and paragraphs (make_article drops publisher suffixes and site furniture
    from the pool's pieces), each distinct piece stemmed once (stemming is per word, so the stems of a joined
    text are the joined stems). `pool`: another pool than the whole corpus; `paragraphs`: how many body
    paragraphs an article has (LONG_PARAGRAPHS: ~2,600 characters)."""
    pool = pool or load_pool()
    cache: dict[str, str] = {}

    def stems(text: str) -> str:
        found = cache.get(text)
        if found is None:
            found = cache[text] = stem_text(text)
        return found

    for recipe in _recipes(n, seed, pool, paragraphs):
        article = _article(recipe, pool)
        stemmed = StemmedArticle(
            title=stems(article.title),
            lead=stems(article.lead),
            body=" ".join(stems(paragraph) for paragraph in article.body),
        )
        yield article, stemmed


def _page_date(moment: datetime, views: int) -> str:
    local = moment.astimezone(MOSCOW)
    return f"{local:%H:%M}, {local.day} {MONTHS_GENITIVE[local.month - 1]} {local.year} {views}"


def iter_pages(n: int, seed: int = 0) -> Iterator[bytes]:
    """The articles of iter_articles(n, seed) as seed-format text pages, each with a short sidebar."""
    pool = load_pool()
    rng = random.Random(seed + 1)
    for recipe in _recipes(n, seed, pool):
        lines = [
            pool.titles[recipe.title],
            pool.leads[recipe.lead],
            _page_date(recipe.published_at, recipe.views),
        ]
        lines += [pool.paragraphs[i] for i in recipe.body]
        for _ in range(rng.randint(3, 12)):
            other = recipe.published_at - timedelta(minutes=rng.randrange(60 * 24 * 5))
            lines.append(_page_date(other, rng.randrange(500)))
        yield ("\n".join(lines) + "\n").encode("utf-8")


def word_pairs(count: int, seed: int = 0) -> list[tuple[str, str]]:
    """`count` distinct real two-word queries: neighbouring content words (5+ letters, not stopwords) of real
    titles and lead sentences, so they are pairs a reader would type."""
    pool = load_pool()
    rng = random.Random(seed)
    candidates: list[tuple[str, str]] = []
    for text in pool.titles + pool.leads:
        words = [w for w in tokenize(text) if len(w) >= 5 and w not in STOPWORDS and not w.isdigit()]
        candidates += list(itertools.pairwise(words))
    unique = list(dict.fromkeys(candidates))
    rng.shuffle(unique)
    return unique[:count]
