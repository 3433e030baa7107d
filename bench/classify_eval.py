"""Precision/recall/F1 of `is_gov_commission` against the corpus's `gov_related` labels.

    python bench/classify_eval.py [--small] [--corpus PATH] [--body-hits N]

Prints figures for all articles, the dev split and the acceptance split (tune on dev only), each beside
baselines from the same run: "any stem anywhere" (the rule the labels were made with, so nearly circular),
"title only", our rules on the raw text (site furniture kept, as before the furniture rules) and our rules
without the official-host rule (what the text alone says once the menus are gone). Then the topics that the
government.ru articles get with and without their site menu. `--body-hits` overrides BODY_HITS_FOR_FLAG to
compare thresholds. The articles go through `make_article` exactly like ingested records: every line a
paragraph, the first as the lead, the rest as the body.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.archive import classify as classify_module
from bot.archive.classify import GOV_TOPICS, classify, topic_hits
from bot.archive.parsing import make_article

DEFAULT_CORPUS = ROOT.parent / "shared" / "corpus" / "articles.jsonl"


@dataclass(frozen=True, slots=True)
class Row:
    split: str
    label: bool
    title: str
    lead: str
    body: tuple[str, ...]
    source: str


@dataclass
class Score:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0

    def add(self, predicted: bool, label: bool) -> None:
        if predicted and label:
            self.tp += 1
        elif predicted:
            self.fp += 1
        elif label:
            self.fn += 1
        else:
            self.tn += 1

    def line(self, name: str) -> str:
        precision = self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0
        recall = self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        total = self.tp + self.fp + self.fn + self.tn
        return (
            f"  {name:<28} n={total:<4} P={precision:.3f} R={recall:.3f} F1={f1:.3f}"
            f"  (tp={self.tp} fp={self.fp} fn={self.fn} tn={self.tn})"
        )


def load(path: Path) -> list[Row]:
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        paragraphs = [part.strip() for part in record["text"].split("\n") if part.strip()]
        lead = paragraphs[0] if paragraphs else ""
        rows.append(
            Row(
                split=record["suggested_split"],
                label=bool(record["gov_related"]),
                title=record["title"],
                lead=lead,
                body=tuple(paragraphs[1:]),
                source=record["source"],
            )
        )
    return rows


def cleaned(row: Row, *, source: str | None = None) -> tuple[frozenset[str], bool]:
    article = make_article(
        title=row.title,
        lead=row.lead,
        body=row.body,
        published_at=datetime(2021, 1, 1, tzinfo=UTC),
        views=None,
        source=row.source if source is None else source,
        url=None,
    )
    return article.topics, article.is_gov_commission


def flag_rule(row: Row) -> bool:
    return cleaned(row)[1]


def no_host_rule(row: Row) -> bool:
    return cleaned(row, source="")[1]


def raw_text_rule(row: Row) -> bool:
    return classify(row.title, row.lead, row.body, source=row.source).is_gov_commission


def any_stem_rule(row: Row) -> bool:
    hits = topic_hits("\n".join((row.title, row.lead, *row.body)))
    return any(topic in GOV_TOPICS or topic == "meeting" for topic in hits)


def title_rule(row: Row) -> bool:
    return any(topic in GOV_TOPICS for topic in topic_hits(row.title))


def evaluate(rows: Iterable[Row], rule: Callable[[Row], bool]) -> Score:
    score = Score()
    for row in rows:
        score.add(rule(row), row.label)
    return score


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--small", action="store_true", help="first 200 articles only")
    parser.add_argument("--body-hits", type=int, default=None, help="override BODY_HITS_FOR_FLAG")
    parser.add_argument("--show-errors", choices=["dev", "acceptance"], default=None)
    args = parser.parse_args()
    if args.body_hits is not None:
        classify_module.BODY_HITS_FOR_FLAG = args.body_hits
    rows = load(args.corpus)
    if args.small:
        rows = rows[:200]
    started = time.perf_counter()
    print(f"is_gov_commission vs gov_related; BODY_HITS_FOR_FLAG={classify_module.BODY_HITS_FOR_FLAG}")
    for split in ("all", "dev", "acceptance"):
        subset = [row for row in rows if split in ("all", row.split)]
        print(f"{split}: {len(subset)} articles, {sum(row.label for row in subset)} labelled gov_related")
        print(evaluate(subset, flag_rule).line("is_gov_commission (ours)"))
        print(evaluate(subset, any_stem_rule).line("baseline: any stem anywhere"))
        print(evaluate(subset, title_rule).line("baseline: stem in title"))
        print(evaluate(subset, raw_text_rule).line("ours, site menus kept"))
        print(evaluate(subset, no_host_rule).line("ours, no official-host rule"))
    official = [row for row in rows if row.source == "government.ru"]
    if official:
        raw_topics: Counter[str] = Counter()
        clean_topics: Counter[str] = Counter()
        for row in official:
            raw_topics.update(classify(row.title, row.lead, row.body).topics)
            clean_topics.update(cleaned(row)[0])
        by_text = sum(no_host_rule(row) for row in official)
        print(
            f"government.ru: {len(official)} articles, {by_text} flagged by their text alone (no host rule)"
        )
        print("  articles per topic, site menus kept -> stripped:")
        for topic in sorted(raw_topics.keys() | clean_topics.keys()):
            print(f"  {topic:<14} {raw_topics[topic]:>3} -> {clean_topics[topic]:>3}")
    if args.show_errors:
        for row in rows:
            if row.split == args.show_errors and flag_rule(row) != row.label:
                print(f"{'FP' if not row.label else 'FN'} [{row.source}] {row.title[:90]}")
    print(f"elapsed {time.perf_counter() - started:.2f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
