"""Near-duplicate detection on title + lead: the same press release reposted by several sites is one story.

A text becomes the set of its word bigrams over stems (so `заседании комиссии` and `заседание комиссии` are
the same shingle), and the set is summarised by a bottom-k MinHash sketch: the SKETCH_SIZE smallest 64-bit
hashes of its shingles. Two sketches estimate the Jaccard similarity of the shingle sets; for short texts
(fewer shingles than SKETCH_SIZE) the estimate is exact. Candidates are found through an inverted index on
the sketch hashes, so assigning a new article costs a few comparisons, not one per stored article.

Everything here is pure: the repository stores sketches and cluster ids, the poller feeds new articles in.
"""

from __future__ import annotations

import hashlib
import struct
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence, Set
from dataclasses import dataclass
from itertools import chain

from bot.archive.morphology import stem_text

SKETCH_SIZE = 64
SHINGLE_WORDS = 2
# Only the head of the lead counts: reposts keep the first sentences and cut or rewrite the rest.
MAX_WORDS = 80
# Jaccard similarity of the bigram sets from which two texts are the same story. Reposts with an added
# dateline ("МОСКВА, 3 окт — РИА Новости.") or a rewritten title stay well above it; two different
# meetings of the same commission, which share boilerplate, stay below (tests/bot/sources/test_clustering.py).
THRESHOLD = 0.5
# Texts with fewer shingles than this are too short to tell stories apart ("Новости", "Фото дня").
MIN_SHINGLES = 4
# Site boilerplate at the top of a lead ("Поиск по сайту …") makes unrelated pages of one site look alike;
# the titles must be alike too (Jaccard of their word stems). Reposts keep most title words even when they
# reword it ("Правительство выделило 5 млрд на ремонт школ" / "Кабмин выделил 5 млрд на ремонт школ").
TITLE_THRESHOLD = 0.4
# Title words shorter than this (prepositions, conjunctions) say nothing about the story.
MIN_TITLE_WORD = 3

# Candidates (most shared hashes first) scored per new article.
MAX_CANDIDATES = 8

_COUNT = struct.Struct("<H")
_PACK = struct.Struct("<Q")


@dataclass(frozen=True, slots=True)
class Sketch:
    """Sorted bottom-k hashes of a text's shingles, and the hashes of its title's word stems."""

    hashes: tuple[int, ...]
    title_words: tuple[int, ...] = ()

    @property
    def usable(self) -> bool:
        return len(self.hashes) >= MIN_SHINGLES

    def to_bytes(self) -> bytes:
        values = (*self.hashes, *self.title_words)
        return _COUNT.pack(len(self.hashes)) + b"".join(_PACK.pack(value) for value in values)

    @classmethod
    def from_bytes(cls, data: bytes) -> Sketch:
        (count,) = _COUNT.unpack_from(data)
        values = tuple(value for (value,) in _PACK.iter_unpack(data[_COUNT.size :]))
        return cls(values[:count], values[count:])


def _hash(shingle: str) -> int:
    return int.from_bytes(hashlib.blake2b(shingle.encode(), digest_size=8).digest(), "little")


def _shingles_of(words: list[str]) -> set[str]:
    words = words[:MAX_WORDS]
    if len(words) < SHINGLE_WORDS:
        return set(words)
    return {" ".join(words[i : i + SHINGLE_WORDS]) for i in range(len(words) - SHINGLE_WORDS + 1)}


def shingles(title: str, lead: str) -> set[str]:
    return _shingles_of(stem_text(f"{title}\n{lead}").split())


def sketch(title: str, lead: str) -> Sketch:
    return sketch_from_stems(stem_text(title), stem_text(lead))


def sketch_from_stems(title_stems: str, lead_stems: str) -> Sketch:
    """The sketch of a title and lead already stemmed (`stem_text`), as the archive's indexing has them.
    Stems never span the line break between title and lead, so this equals `sketch` of the raw texts."""
    words = f"{title_stems} {lead_stems}".split()
    bottom = sorted({_hash(s) for s in _shingles_of(words)})[:SKETCH_SIZE]
    title_words = {_hash(word) for word in title_stems.split() if len(word) >= MIN_TITLE_WORD}
    return Sketch(tuple(bottom), tuple(sorted(title_words)))


def _jaccard(first: Set[int], second: Set[int]) -> float:
    return len(first & second) / len(first | second)


def _score(hashes_a: Set[int], title_a: Set[int], hashes_b: Set[int], title_b: Set[int]) -> float:
    """`similarity` over the sketches' values as sets."""
    if (
        not hashes_a
        or not hashes_b
        or not title_a
        or not title_b
        or _jaccard(title_a, title_b) < TITLE_THRESHOLD
    ):
        return 0.0
    union_bottom = sorted(hashes_a | hashes_b)[:SKETCH_SIZE]
    return len(set(union_bottom) & hashes_a & hashes_b) / len(union_bottom)


def similarity(a: Sketch, b: Sketch) -> float:
    """Estimated Jaccard similarity of the shingle sets (the share of the union's bottom-k that both
    sketches hold), or 0 when the titles have too little in common to be the same story."""
    return _score(set(a.hashes), set(a.title_words), set(b.hashes), set(b.title_words))


class ClusterIndex:
    """Known articles (id, cluster id, sketch) with an inverted index from hash to articles."""

    def __init__(self, threshold: float = THRESHOLD) -> None:
        self.threshold = threshold
        # Each known sketch's hashes and title words as sets, made once: every candidate scoring uses them.
        self._sets: dict[int, tuple[frozenset[int], frozenset[int]]] = {}
        self._cluster_of: dict[int, int] = {}
        self._postings: defaultdict[int, list[int]] = defaultdict(list)

    def __len__(self) -> int:
        return len(self._sets)

    def add(self, article_id: int, cluster_id: int, article_sketch: Sketch) -> None:
        self._sets[article_id] = (frozenset(article_sketch.hashes), frozenset(article_sketch.title_words))
        self._cluster_of[article_id] = cluster_id
        for value in article_sketch.hashes:
            self._postings[value].append(article_id)

    def best_match(self, article_sketch: Sketch) -> int | None:
        """The cluster id of the most similar known article at or above the threshold, else None."""
        if not article_sketch.usable:
            return None
        postings = self._postings
        # How many sketch hashes each known article shares, counted in C over the posting lists.
        shared = Counter(
            chain.from_iterable(postings[value] for value in article_sketch.hashes if value in postings)
        )
        # A pair at the threshold shares at least threshold * min(size) hashes of its sketches.
        need = max(1, int(self.threshold * len(article_sketch.hashes) / 2))
        candidates = sorted((-count, other) for other, count in shared.items() if count >= need)
        hashes, title = frozenset(article_sketch.hashes), frozenset(article_sketch.title_words)
        best: tuple[float, int] | None = None
        # The best matches share the most hashes: scoring the first few bounds the cost when a story has
        # been reposted hundreds of times (a big cluster would otherwise be compared member by member).
        for _, other in candidates[:MAX_CANDIDATES]:
            score = _score(hashes, title, *self._sets[other])
            if score >= self.threshold and (best is None or score > best[0]):
                best = (score, other)
        return None if best is None else self._cluster_of[best[1]]

    def assign(self, article_id: int, article_sketch: Sketch) -> int:
        """Put an article into the cluster of its best match (or a new cluster named by its own id)."""
        cluster_id = self.best_match(article_sketch)
        if cluster_id is None:
            cluster_id = article_id
        if article_sketch.usable:
            self.add(article_id, cluster_id, article_sketch)
        return cluster_id


def cluster_texts(
    texts: Sequence[tuple[int, str, str]], known: Iterable[tuple[int, int, Sketch]] = ()
) -> dict[int, int]:
    """Cluster ids for (id, title, lead) texts, in order, against already clustered (id, cluster, sketch)."""
    index = ClusterIndex()
    for article_id, cluster_id, known_sketch in known:
        index.add(article_id, cluster_id, known_sketch)
    return {article_id: index.assign(article_id, sketch(title, lead)) for article_id, title, lead in texts}
