"""Russian morphology for the archive: tokenizing and Snowball stemming (PyStemmer).

Index and query go through the same functions, so any word form of a query word meets any word form in the
text: `импортозамещение` and `импортозамещения` both become `импортозамещен`. Normalization is lowercase,
ё → е and dropped stress marks. The stemmed text is what the FTS5 index (unicode61 tokenizer) sees; it only
ever contains alphanumeric tokens separated by spaces, so FTS5 splits it exactly as we did.

PyStemmer won over the pymorphy3 lemmatizer on the project's own queries (see bench/morphology_eval.py and
BENCHMARKS.md): the same recall at a fraction of the cost.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

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
    return " ".join([_stem_part(part) for part in _PART_RE.findall(normalize(text))])


@dataclass(frozen=True, slots=True)
class StemmedArticle:
    """The stemmed title, lead and body of an article, as the FTS index stores them (picklable)."""

    title: str
    lead: str
    body: str


def stem_article(article: Article) -> StemmedArticle:
    return StemmedArticle(
        title=stem_text(article.title),
        lead=stem_text(article.lead),
        body=stem_text("\n".join(article.body)),
    )
