""" "Did you mean": a query that finds nothing, one typo away from words the archive is full of.

Only computed when a search finds nothing. For each query word (terms and phrase words; a Cyrillic or Latin
word of MIN_WORD_CHARS letters or more) the candidates one edit away are generated, Norvig-style (deletes,
transposes, replaces, inserts over the word's own alphabet; ё is е, as everywhere in the archive), and mapped
to their index tokens with the index's own stemming (bot.archive.morphology), so `импортозамищение` is looked
up as `импортозамещен`, the token every form of `импортозамещение` shares. One storage call gives the document
frequencies of all the tokens; per word, the candidate whose token is in the most articles wins when it is in
at least MIN_DOCUMENTS of them and in RATIO times more than the word itself (a rare real word is kept).

`plan_corrections` and `choose_corrections` are pure (tests give them a frequency dict); `suggest_query` is
the use case the chat and the command line share. Cost: about 1,100 candidates for a 16-letter word, stemmed
in Python, and one indexed lookup per distinct token (BENCHMARKS.md, "did you mean").
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from bot.archive.morphology import normalize, stem_parts
from bot.archive.query import parse_query
from storage.interfaces import ArticleStore

CYRILLIC = "абвгдежзийклмнопрстуфхцчшщъыьэюя"  # no ё: normalize() has made it е
LATIN = "abcdefghijklmnopqrstuvwxyz"
MIN_WORD_CHARS = 4  # shorter words have too many neighbours that are real words
MIN_DOCUMENTS = 3  # a suggestion must be in at least this many articles
RATIO = 10  # ... and in RATIO times more articles than the word as typed

_WORD_RE = re.compile(r"[^\W\d_]+")


@dataclass(frozen=True, slots=True)
class WordCandidates:
    """One query word (normalized), its own index token, and its one-edit neighbours by index token (one
    spelling per token: the first generated, replacements first)."""

    word: str
    token: str
    candidates: Mapping[str, str]  # token → candidate word


def _alphabet(word: str) -> str | None:
    if all(char in CYRILLIC for char in word):
        return CYRILLIC
    if all(char in LATIN for char in word):
        return LATIN
    return None


def edits1(word: str, alphabet: str) -> Iterator[str]:
    """Every string one edit away from `word`: replacements, transpositions, deletions, insertions (in that
    order; duplicates possible)."""
    splits = [(word[:i], word[i:]) for i in range(len(word) + 1)]
    for left, right in splits:
        if right:
            for char in alphabet:
                if char != right[0]:
                    yield left + char + right[1:]
    for left, right in splits:
        if len(right) > 1 and right[0] != right[1]:
            yield left + right[1] + right[0] + right[2:]
    for left, right in splits:
        if right:
            yield left + right[1:]
    for left, right in splits:
        for char in alphabet:
            yield left + char + right


def _index_token(word: str) -> str | None:
    parts = stem_parts(word)
    return parts[0] if len(parts) == 1 else None


def word_candidates(word: str) -> WordCandidates | None:
    """The neighbours of one normalized word by index token, or None for a word not worth correcting (short,
    mixed alphabets, digits, hyphens)."""
    alphabet = _alphabet(word)
    if alphabet is None or len(word) < MIN_WORD_CHARS:
        return None
    token = _index_token(word)
    if token is None:
        return None
    candidates: dict[str, str] = {}
    for candidate in edits1(word, alphabet):
        candidate_token = _index_token(candidate)
        if candidate_token and candidate_token != token and candidate_token not in candidates:
            candidates[candidate_token] = candidate
    return WordCandidates(word, token, candidates)


def plan_corrections(query_text: str) -> list[WordCandidates]:
    """The correctable words of a query (terms, then phrase words; each word once)."""
    query = parse_query(query_text)
    words = dict.fromkeys([*query.terms, *(word for phrase in query.phrases for word in phrase)])
    return [found for word in words if (found := word_candidates(word)) is not None]


def tokens_to_look_up(plan: list[WordCandidates]) -> list[str]:
    """Every token whose document frequency the choice needs (the words' own and their neighbours')."""
    return list(dict.fromkeys(token for item in plan for token in (item.token, *item.candidates)))


def choose_corrections(plan: list[WordCandidates], frequencies: Mapping[str, int]) -> dict[str, str]:
    """word → its correction, for the words that have one (`frequencies`: token → documents; absent is 0)."""
    corrections: dict[str, str] = {}
    for item in plan:
        own = frequencies.get(item.token, 0)
        # Ties go to the first generated (a replacement before an insertion): max() keeps the first.
        best = max(item.candidates, key=lambda token: frequencies.get(token, 0), default=None)
        if best is None:
            continue
        documents = frequencies.get(best, 0)
        if documents >= MIN_DOCUMENTS and documents >= RATIO * own:
            corrections[item.word] = item.candidates[best]
    return corrections


def apply_corrections(query_text: str, corrections: Mapping[str, str]) -> str | None:
    """`query_text` with each corrected word replaced where it occurs (a capital first letter kept; filters
    and everything else as typed), or None when nothing changed."""

    def replace(match: re.Match[str]) -> str:
        written = match.group(0)
        correction = corrections.get(normalize(written))
        if correction is None:
            return written
        return correction.capitalize() if written[0].isupper() else correction

    corrected = _WORD_RE.sub(replace, query_text)
    return corrected if corrected != query_text else None


async def suggest_query(archive: ArticleStore, query_text: str) -> str | None:
    """The corrected query to offer when `query_text` found nothing, or None. The suggestion is offered only
    when it finds something itself (one capped count more, only on this already empty path)."""
    plan = plan_corrections(query_text)
    if not plan:
        return None
    frequencies = await archive.document_frequencies(tokens_to_look_up(plan))
    corrections = choose_corrections(plan, frequencies)
    corrected = apply_corrections(query_text.strip(), corrections) if corrections else None
    if corrected is None or not await archive.count(parse_query(corrected), cap=1):
        return None
    return corrected
