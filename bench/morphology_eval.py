"""Snowball stemming (PyStemmer) against pymorphy3 lemmas for archive search: quality and speed.

    python bench/morphology_eval.py [--small]

Judge: for each query word, a hand-written family of its inflected forms (`губернатор`, `губернатора`, ...,
`губернаторами`; not derived words such as `губернаторский`). An article of the real corpus
(../shared/corpus/articles.jsonl, title + text) is relevant when it holds a form of every query word. Each
method finds the articles whose stem (or lemma) set holds the stem (lemma) of every query word, as the index
does. Reported: micro precision and recall over all queries, the queries each method gets wrong, and speed in
words per second (tokenize + stem, tokenize + lemmatize with and without a cache), beside exact-word matching
as the no-morphology baseline.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.archive.morphology import _PART_RE, normalize, stem_parts

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "articles.jsonl"

# Ending sets of the families (after ё → е).
M = "|а|у|ом|е|ы|ов|ам|ами|ах"  # masculine hard: губернатор
M_SG = "|а|у|ом|е"  # masculine/neuter singular
N_IE = "е|я|ю|ем|и|й|ям|ями|ях"  # neuter in -ие: заседание
F_IA = "я|и|ю|ей|й|ям|ями|ях"  # feminine in -ия: комиссия
F_A = "а|ы|и|е|у|ой|ою||ам|ами|ах"  # feminine in -а: школа, дорога
F_SOFT = "ь|и|ью|ей|ям|ями|ях"  # feminine soft: нефть, область
N_O = "о|а|у|ом|е||ам|ами|ах"  # neuter in -о: министерство

# (query as a user types it, [family of each query word as (base, endings)])
QUERIES: list[tuple[str, list[tuple[str, str]]]] = [
    ("импортозамещение", [("импортозамещени", N_IE)]),
    ("Госсовета", [("госсовет", M)]),
    ("губернаторы", [("губернатор", M)]),
    ("министерства", [("министерств", N_O)]),
    ("министр", [("министр", M)]),
    ("заседании", [("заседани", N_IE)]),
    ("правительством", [("правительств", N_O)]),
    ("санкции", [("санкци", F_IA)]),
    ("нефти", [("нефт", F_SOFT)]),
    ("пошлину", [("пошлин", F_A)]),
    ("выборах", [("выбор", "ы|ов|ам|ами|ах")]),
    ("бюджета", [("бюджет", M)]),
    ("пенсию", [("пенси", F_IA)]),
    ("налоги", [("налог", "|а|у|ом|е|и|ов|ам|ами|ах")]),
    ("комиссией", [("комисси", F_IA)]),
    ("президентом", [("президент", M)]),
    ("законопроекты", [("законопроект", M)]),
    ("регионах", [("регион", M)]),
    ("экспорта", [("экспорт", M)]),
    ("инвестиции", [("инвестици", F_IA)]),
    ("строительство", [("строительств", N_O)]),
    ("жилья", [("жиль", "е|я|ю|ем")]),
    ("ипотеку", [("ипотек", F_A)]),
    ("дороги", [("дорог", F_A)]),
    ("больницы", [("больниц", "а|ы|е|у|ей|ам|ами|ах|")]),
    ("врачей", [("врач", "|а|у|ом|е|и|ей|ам|ами|ах")]),
    ("полиции", [("полици", F_IA)]),
    ("суда", [("суд", M)]),
    ("выплаты", [("выплат", F_A)]),
    ("цены", [("цен", F_A)]),
    ("банков", [("банк", "|а|у|ом|е|и|ов|ам|ами|ах")]),
    ("рубля", [("рубл", "ь|я|ю|ем|е|и|ей|ям|ями|ях")]),
    ("транспорта", [("транспорт", M_SG)]),
    ("образования", [("образовани", N_IE)]),
    ("депутаты", [("депутат", M)]),
    ("мэра", [("мэр", M)]),
    ("школы", [("школ", F_A)]),
    ("комиссии Госсовета", [("комисси", F_IA), ("госсовет", M)]),
    ("министерство финансов", [("министерств", N_O), ("финанс", "ы|ов|ам|ами|ах")]),
    ("губернатор области", [("губернатор", M), ("област", F_SOFT)]),
    ("заседание правительства", [("заседани", N_IE), ("правительств", N_O)]),
    ("цены на нефть", [("цен", F_A), ("нефт", F_SOFT)]),
    ("строительство дорог", [("строительств", N_O), ("дорог", F_A)]),
]
QUERY_STOPWORDS = frozenset({"на", "в", "и", "по"})


def load_documents(limit: int | None) -> list[list[str]]:
    documents = []
    with CORPUS.open(encoding="utf-8") as lines:
        for line in lines:
            record = json.loads(line)
            documents.append(_PART_RE.findall(normalize(record["title"] + "\n" + record["text"])))
            if limit and len(documents) >= limit:
                break
    return documents


def evaluate(
    name: str, key: Callable[[str], str], documents: list[list[str]], relevant: list[set[int]]
) -> dict[str, object]:
    doc_keys = [{key(word) for word in words} for words in documents]
    true_positives = predicted_total = relevant_total = 0
    misses: list[str] = []
    for (text, _), wanted in zip(QUERIES, relevant, strict=True):
        query_keys = {key(w) for w in _PART_RE.findall(normalize(text)) if w not in QUERY_STOPWORDS}
        found = {i for i, keys in enumerate(doc_keys) if query_keys <= keys}
        true_positives += len(found & wanted)
        predicted_total += len(found)
        relevant_total += len(wanted)
        if found != wanted:
            misses.append(f"{text}: +{len(found - wanted)} -{len(wanted - found)}")
    return {
        "method": name,
        "precision": true_positives / predicted_total if predicted_total else 0.0,
        "recall": true_positives / relevant_total,
        "queries_exact": len(QUERIES) - len(misses),
        "misses": misses,
    }


def speed(key: Callable[[str], str], documents: list[list[str]]) -> float:
    words = [word for words in documents for word in words]
    started = time.perf_counter()
    for word in words:
        key(word)
    return len(words) / (time.perf_counter() - started)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--small", action="store_true", help="first 200 articles only")
    args = parser.parse_args()
    import pymorphy3
    import Stemmer

    documents = load_documents(200 if args.small else None)
    families = [[re.compile(f"{base}(?:{endings})") for base, endings in family] for _, family in QUERIES]
    relevant = [
        {i for i, words in enumerate(documents) if all(any(f.fullmatch(w) for w in words) for f in family)}
        for family in families
    ]
    morph = pymorphy3.MorphAnalyzer()

    def lemma(word: str) -> str:
        return str(morph.parse(word)[0].normal_form).replace("ё", "е")

    def stem(word: str) -> str:
        return stem_parts(word)[0]

    cached_lemma = lru_cache(maxsize=200_000)(lemma)
    results = [
        evaluate("exact word (no morphology)", lambda w: w, documents, relevant),
        evaluate("PyStemmer (Snowball)", stem, documents, relevant),
        evaluate("pymorphy3 lemma", cached_lemma, documents, relevant),
    ]
    # Same input for all (normalized words); "filling" = one pass with an empty cache over the real corpus,
    # "warm" = a second pass over the same words (every lookup a hit: an upper bound, not an ingest figure).
    sample = documents[:150]
    russian = Stemmer.Stemmer("russian")
    stem_speed_raw = speed(russian.stemWord, documents)
    cached_stem = lru_cache(maxsize=200_000)(russian.stemWord)
    stem_speed = speed(cached_stem, documents)
    stem_speed_warm = speed(cached_stem, documents)
    lemma_speed_cold = speed(lemma, sample)
    warm_lemma = lru_cache(maxsize=200_000)(lemma)
    lemma_speed_cached = speed(warm_lemma, documents)
    lemma_speed_warm = speed(warm_lemma, documents)
    words = sum(len(d) for d in documents)
    words_per_page = words / len(documents)
    print(
        f"{len(documents)} articles, {words:,} words, {len(QUERIES)} queries, "
        f"{sum(map(len, relevant))} relevant (query, article) pairs\n"
    )
    for result in results:
        print(
            f"{result['method']:<28} precision {result['precision']:.3f}  recall {result['recall']:.3f}  "
            f"exact on {result['queries_exact']}/{len(QUERIES)} queries"
        )
        for miss in result["misses"]:  # type: ignore[attr-defined]
            print(f"    {miss}")
    print(f"\nspeed, one core, words/s (pages/s at {words_per_page:.0f} words a page):")
    for label, rate in (
        ("PyStemmer, no cache", stem_speed_raw),
        ("PyStemmer, lru_cache filling", stem_speed),
        ("PyStemmer, lru_cache warm", stem_speed_warm),
        ("pymorphy3, no cache", lemma_speed_cold),
        ("pymorphy3, lru_cache filling", lemma_speed_cached),
        ("pymorphy3, lru_cache warm", lemma_speed_warm),
    ):
        print(f"  {label:<30} {rate:>12,.0f}  ({rate / words_per_page:,.0f} pages/s)")
    print(
        f"PyStemmer is {stem_speed_raw / lemma_speed_cold:.0f}x faster than pymorphy3 without caches, "
        f"{stem_speed / lemma_speed_cached:.1f}x with filling caches, "
        f"{stem_speed_warm / lemma_speed_warm:.1f}x with warm caches"
    )
    stem_f = results[1]
    lemma_f = results[2]
    print(
        f"recall: PyStemmer {stem_f['recall']:.3f} vs pymorphy3 {lemma_f['recall']:.3f}; "
        f"precision: PyStemmer {stem_f['precision']:.3f} vs pymorphy3 {lemma_f['precision']:.3f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
