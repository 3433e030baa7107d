"""Russian morphology for the archive: tokenizing, Snowball stemming (PyStemmer) and lemmas (pymorphy3).

Index and query go through the same functions, so any word form of a query word meets any word form in the
text: `импортозамещение` and `импортозамещения` both become `импортозамещен`. Normalization is lowercase,
ё → е and dropped stress marks. The stemmed text is what the FTS5 index (unicode61 tokenizer) sees; it only
ever contains alphanumeric tokens separated by spaces, so FTS5 splits it exactly as we did.

Stems alone cut some families apart (паводок → паводок but паводками → паводк; кредит / кредиты → кред) and
join unrelated words (выборах → выбор, мэра → мэрия, цены → цен). pymorphy3 lemmas fix both, in two places:
- Matching: a query word matches its stem family (`stem_family`): its own stem and the stems of every other
  form of its most probable lemma (паводок → паводок, паводк). The index keeps plain stems, so every backend
  (FTS5, tantivy, PostgreSQL's tsvector) matches the same articles with no lemma in its index.
- Ranking: the ranking index also holds every pymorphy3 lemma of every Cyrillic word of an article
  (`lemma_text`: a homonym such as суда gives both суд and судно), and a query word's lemma (`query_lemma`)
  lifts the articles where the word really is that word (мэра: мэр, not мэрия).
BENCHMARKS.md (issue 10) measures stems alone, lemmas alone and both on the project's relevance set.
pymorphy3 costs ~65 µs per word, so every distinct word's lemmas are cached (`lemmas_of`): news vocabulary
repeats, and after the first few thousand pages almost every word is a cache hit (bench/ingest_bench.py
reports the hit rate).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import pymorphy3
import Stemmer

from bot.archive.models import Article

# A word: letters and digits, hyphenated compounds kept whole (`северо-западный`, `COVID-19`).
_WORD_RE = re.compile(r"[^\W_]+(?:-[^\W_]+)*")
# One index token: the parts of a hyphenated word are separate tokens, as unicode61 splits them.
_PART_RE = re.compile(r"[^\W_]+")
_CYRILLIC_RE = re.compile(r"[а-я]")

_russian = Stemmer.Stemmer("russian")
_english = Stemmer.Stemmer("english")


def normalize(text: str) -> str:
    """Lowercase, ё → е, stress marks dropped."""
    # Chained str.replace: about 20x faster than str.translate on Cyrillic text (translate has no fast path
    # for non-ASCII), and normalize runs over every word the archive indexes.
    return text.lower().replace("ё", "е").replace("\u0301", "").replace("\u0300", "")


def split_words(text: str) -> list[str]:
    """The normalized word parts of `text`: one per index token (hyphenated words split)."""
    return _PART_RE.findall(normalize(text))


def tokenize(text: str) -> list[str]:
    """Normalized words of `text`, hyphenated words as one token, digits included."""
    return _WORD_RE.findall(normalize(text))


@lru_cache(maxsize=65536)
def _stem_part(part: str) -> str:
    stemmer = _russian if _CYRILLIC_RE.search(part) else _english
    stem: str = stemmer.stemWord(part)
    return stem or part


def stem_word(word: str) -> str:
    """The index form of one word; a hyphenated word keeps its hyphen between stemmed parts."""
    parts = _PART_RE.findall(normalize(word))
    return "-".join(_stem_part(part) for part in parts)


def stem_parts(word: str) -> list[str]:
    """The index tokens of one word (several for a hyphenated word)."""
    return [_stem_part(part) for part in _PART_RE.findall(normalize(word))]


def stem_text(text: str) -> str:
    """The index form of a text: stemmed tokens separated by single spaces."""
    return " ".join([_stem_part(part) for part in split_words(text)])


LEMMA_CACHE_WORDS = 262_144  # distinct words; ~40,000 cover 100,000 pages of the corpus's news (~60 MB)


@lru_cache(maxsize=1)
def _analyzer() -> pymorphy3.MorphAnalyzer:
    # Built on first use in each process (the ingest's workers too): loading the dictionaries takes ~50 ms.
    return pymorphy3.MorphAnalyzer()


@lru_cache(maxsize=LEMMA_CACHE_WORDS)
def lemmas_of(part: str) -> tuple[str, ...]:
    """Every normal form pymorphy3 gives a normalized word part, most probable first; () for a part with no
    Cyrillic letter (numbers and Latin words have their stems only)."""
    if not _CYRILLIC_RE.search(part):
        return ()
    forms: list[str] = []
    for parse in _analyzer().parse(part):
        form = normalize(parse.normal_form)
        if form not in forms:
            forms.append(form)
    return tuple(forms)


def lemma_text(text: str) -> str:
    """Every lemma of every Cyrillic word of a text, separated by single spaces (no positions are kept: the
    ranking index counts them, phrases are matched on the stems)."""
    return " ".join([lemma for part in split_words(text) for lemma in lemmas_of(part)])


# Parts of speech whose forms share a stem family: a verb's personal forms with its infinitive (провел,
# проведут, провести); participles and gerunds are words of their own, as in a dictionary.
_SPEECH_PART_FAMILIES = {"INFN": "VERB", "VERB": "VERB"}
MAX_STEM_FAMILY = 16  # a bound on the OR a query word becomes (a verb's forms give ~7 stems)


@lru_cache(maxsize=16_384)
def stem_family(part: str) -> tuple[str, ...]:
    """The stems a one-part query word matches: its own stem first, then the stems of the other forms of its
    most probable lemma with the same part of speech (паводок → паводок, паводк). Only the own stem for a
    part with no Cyrillic letter."""
    own = _stem_part(part)
    if not _CYRILLIC_RE.search(part):
        return (own,)
    parse = _analyzer().parse(part)[0]
    kind = _SPEECH_PART_FAMILIES.get(str(parse.tag.POS), str(parse.tag.POS))
    family = [own]
    for form in parse.lexeme:
        if _SPEECH_PART_FAMILIES.get(str(form.tag.POS), str(form.tag.POS)) != kind:
            continue
        stem = _stem_part(normalize(form.word))
        if stem not in family:
            family.append(stem)
            if len(family) == MAX_STEM_FAMILY:
                break
    return tuple(family)


def query_lemma(part: str) -> str | None:
    """The most probable lemma of a normalized query word part, None when it has none."""
    lemmas = lemmas_of(part)
    return lemmas[0] if lemmas else None


def query_lemmas(word: str) -> list[str | None]:
    """The query lemma of each index token of a word (parallel to `stem_parts`)."""
    return [query_lemma(part) for part in split_words(word)]


@dataclass(frozen=True, slots=True)
class StemmedArticle:
    """The stemmed title, lead and body of an article, as the FTS index stores them, and the lemmas of all
    three (`lemma_text`; empty where only stems are wanted). Picklable: the ingest's workers make them."""

    title: str
    lead: str
    body: str
    lemmas: str = ""


@lru_cache(maxsize=LEMMA_CACHE_WORDS)
def index_forms(part: str) -> tuple[str, str]:
    """A normalized word part's stem and its lemmas joined by spaces: one cache lookup per token at ingest
    (its cache_info() is the ingest's lemma cache hit rate)."""
    return _stem_part(part), " ".join(lemmas_of(part))


def stem_article(article: Article) -> StemmedArticle:
    return stem_fields(article.title, article.lead, "\n".join(article.body))


def stem_fields(title: str, lead: str, body: str) -> StemmedArticle:
    """The stems of each field and the lemmas of all three, in one pass over the words."""
    stems: list[str] = []
    lemmas: list[str] = []
    for text in (title, lead, body):
        forms = [index_forms(part) for part in split_words(text)]
        stems.append(" ".join([stem for stem, _ in forms]))
        lemmas += [lemma for _, lemma in forms if lemma]
    return StemmedArticle(title=stems[0], lead=stems[1], body=stems[2], lemmas=" ".join(lemmas))
