"""`govdigest ingest`, `govdigest search`, `govdigest stats`: the archive from the command line."""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from bot.archive.classify import TOPIC_LABELS_RU
from bot.archive.dates import DateError, format_local, parse_date
from bot.archive.ingest import Rejected, ingest_paths
from bot.archive.models import MARK_END, MARK_START, SearchHit
from bot.archive.query import parse_query
from bot.archive.spelling import suggest_query
from bot.clock import system_clock
from bot.config import Settings
from bot.database import opened_storage

EXIT_NOTHING_READ = 1
EXIT_USAGE = 2
SEARCH_LIMIT_MAX = 1000
# Rejections of one reason are listed one by one up to this many; the rest are counted.
REJECTED_LINES_PER_REASON = 10

SEARCH_EPILOG = """query syntax: words (all must occur, any word form), "exact phrase", -word (exclude),
с:01.10.2021 по:31.10.2021 (or since:/until:, ISO dates), тема:Госсовет (or topic:state_council).
An excluded word after the first word works as is (govdigest search комиссия -москва); a query that starts
with one needs "--" first: govdigest search -- -москва комиссия
A filter that cannot be read (с:31.02.2021) is named on stderr and the search runs without it."""


def register(subparsers: Any) -> None:
    ingest = subparsers.add_parser(
        "ingest", help="parse news pages (files, folders, .jsonl) into the archive"
    )
    ingest.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    ingest.add_argument("--source", help="source name for text pages (default: the folder's name)")
    ingest.set_defaults(handler=ingest_command)

    search = subparsers.add_parser(
        "search",
        help="search the archive (any word form)",
        epilog=SEARCH_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    search.add_argument("query", nargs="+", metavar="QUERY", help='words, "phrases", -excluded, filters')
    search.add_argument("--limit", type=_limit, default=10, help="results to show (default 10)")
    search.add_argument("--since", type=_date, help="only articles published since DATE (e.g. 01.10.2021)")
    search.add_argument("--json", action="store_true", help="print JSON instead of text")
    search.set_defaults(handler=search_command, words_from_dashes="query")

    stats = subparsers.add_parser("stats", help="archive totals: articles, sources, dates, topics")
    stats.add_argument("--json", action="store_true", help="print JSON instead of text")
    stats.set_defaults(handler=stats_command)


def _limit(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {value!r}") from None
    if not 1 <= number <= SEARCH_LIMIT_MAX:
        raise argparse.ArgumentTypeError(f"must be between 1 and {SEARCH_LIMIT_MAX}")
    return number


def _date(value: str) -> datetime:
    try:
        # The command line is where the wall clock comes in: "--since вчера" is yesterday for the operator.
        return parse_date(value, now=system_clock())
    except DateError as error:
        raise argparse.ArgumentTypeError(f"not a date: {value!r} ({error})") from None


async def ingest_command(args: argparse.Namespace, settings: Settings) -> int:
    async with opened_storage(settings) as storage:
        report = await ingest_paths(storage.articles, args.paths, source=args.source, now=storage.clock())
    for line in rejected_lines(report.rejected):
        print(line)
    print(report.summary())
    return EXIT_NOTHING_READ if report.read == len(report.rejected) else 0


def rejected_lines(rejected: Sequence[Rejected], per_reason: int = REJECTED_LINES_PER_REASON) -> list[str]:
    """One line per rejected page, at most `per_reason` of each reason ("… and N more: <reason>" for the rest),
    then the count of each reason, most common first."""
    counts: Counter[str] = Counter()
    lines: list[str] = []
    for page in rejected:
        counts[page.reason] += 1
        if counts[page.reason] <= per_reason:
            lines.append(f"rejected {page.where}: {page.reason}")
    lines += [
        f"… and {count - per_reason} more: {reason}" for reason, count in counts.items() if count > per_reason
    ]
    if counts:
        lines.append(f"rejections by reason ({len(rejected)}):")
        lines += [f"  {count:>6}  {reason}" for reason, count in counts.most_common()]
    return lines


def _plain_snippet(snippet: str, *, tty: bool) -> str:
    start, end = ("\033[1m", "\033[0m") if tty else ("*", "*")
    return snippet.replace(MARK_START, start).replace(MARK_END, end)


def _hit_json(hit: SearchHit) -> dict[str, Any]:
    return {
        "id": hit.article_id,
        "published_at": hit.published_at.isoformat(),
        "source": hit.source,
        "title": hit.title,
        "url": hit.url,
        "lead": hit.lead,
        "topics": sorted(hit.topics),
        "snippet": hit.snippet.replace(MARK_START, "").replace(MARK_END, ""),
        "rank": hit.rank,
    }


async def search_command(args: argparse.Namespace, settings: Settings) -> int:
    query = parse_query(" ".join(args.query))
    if query.invalid_tokens:
        shown = ", ".join(query.invalid_tokens)
        noun = "filter" if len(query.invalid_tokens) == 1 else "filters"
        print(f"govdigest: not understood: {shown} — {noun} not applied", file=sys.stderr)
    if query.is_empty:
        print("nothing to search: give at least one word", file=sys.stderr)
        return EXIT_USAGE
    async with opened_storage(settings) as storage:
        hits = await storage.articles.search(query, limit=args.limit, since=args.since)
        suggestion = None if hits else await suggest_query(storage.articles, " ".join(args.query))
    if suggestion is not None:
        print(f"did you mean: {suggestion}", file=sys.stderr)
    if args.json:
        json.dump([_hit_json(hit) for hit in hits], sys.stdout, ensure_ascii=False, indent=2)
        print()
        return 0
    if not hits:
        print("nothing found")
        return 0
    tty = sys.stdout.isatty()
    local = settings.timezone
    for number, hit in enumerate(hits, 1):
        when = format_local(hit.published_at, local)
        print(f"{number}. {when}  [{hit.source}]  {hit.title}")
        if hit.url:
            print(f"   {hit.url}")
        print(f"   {_plain_snippet(hit.snippet, tty=tty)}")
    return 0


async def stats_command(args: argparse.Namespace, settings: Settings) -> int:
    async with opened_storage(settings) as storage:
        stats = await storage.articles.stats()
    if args.json:  # raw: ISO UTC times and topic keys, for scripts
        first = stats.first_published.isoformat() if stats.first_published else None
        last = stats.last_published.isoformat() if stats.last_published else None
        payload = {
            "articles": stats.articles,
            "sources": stats.sources,
            "first_published": first,
            "last_published": last,
            "by_topic": dict(stats.by_topic),
        }
        json.dump(payload, sys.stdout, ensure_ascii=False, indent=2)
        print()
        return 0
    # For people: dates in DIGEST_TIMEZONE (as search prints them) and the topics' Russian labels.
    local = settings.timezone
    first_local = format_local(stats.first_published, local) if stats.first_published else "-"
    last_local = format_local(stats.last_published, local) if stats.last_published else "-"
    print(f"articles: {stats.articles}")
    print(f"sources: {stats.sources}")
    print(f"published: {first_local} … {last_local} ({settings.digest_timezone})")
    if stats.by_topic:
        print("topics:")
    for topic, count in sorted(stats.by_topic.items(), key=lambda item: (-item[1], item[0])):
        print(f"  {TOPIC_LABELS_RU.get(topic, topic)}: {count}")
    return 0
