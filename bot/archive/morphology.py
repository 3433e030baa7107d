"""Russian morphology for the archive: tokenizing, Snowball stemming (PyStemmer), and stem families from
pymorphy3 lemmas for query words.

Index and query go through the same functions, so any word form of a query word meets any word form in the
text: `импортозамещение` and `импортозамещения` both become `импортозамещен`. Normalization is lowercase,
ё → е and dropped stress marks. The stemmed text is what the indexes see; it only ever contains alphanumeric
tokens separated by spaces.

Snowball cuts some families apart (паводок → паводок but паводками → паводк; кредит → кредит, кредиты → кред;
Слепнев → слепн, Слепнева → слепнев). So a query word matches its stem family (`stem_family`): its own stem
and the stems of every other form of its most probable pymorphy3 lemma. The indexes keep plain stems: every
backend matches the same articles, ingest pays nothing for lemmas, and a word is always found by its own stem
(a homonym's other reading is never lost). pymorphy3 runs for query words only (~0.2 ms per new word, cached).
Measured (BENCHMARKS.md, issue 10): stems alone top-3 0.923 on the project's 220 queries, lemmas instead of
stems 0.950, stem families 0.959; an index of every lemma of every word beside the stems, ranked, changed no
query's rank (there, and with the corpus hidden among 100,000 articles), so it is not built.
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


@lru_cache(maxsize=1)
def _analyzer() -> pymorphy3.MorphAnalyzer:
    # Built on first use (a process that never searches never loads the dictionaries: ~50 ms).
    return pymorphy3.MorphAnalyzer()


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


@dataclass(frozen=True, slots=True)
class StemmedArticle:
    """The stemmed title, lead and body of an article, as the indexes store them (picklable: the ingest's
    workers make them)."""

    title: str
    lead: str
    body: str


def stem_article(article: Article) -> StemmedArticle:
    return stem_fields(article.title, article.lead, "\n".join(article.body))


def stem_fields(title: str, lead: str, body: str) -> StemmedArticle:
    return StemmedArticle(title=stem_text(title), lead=stem_text(lead), body=stem_text(body))
