"""`govdigest ingest`, `govdigest search`, `govdigest stats`: the archive from the command line."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from bot.config import Settings
from bot.dates import DateError, format_local, parse_date
from bot.ingest import ingest_paths
from bot.models import MARK_END, MARK_START, SearchHit
from bot.query import parse_query
from storage.articles import ArticleRepository
from storage.database import Database

EXIT_NOTHING_READ = 1
SEARCH_LIMIT_MAX = 1000


def register(subparsers: Any) -> None:
    ingest = subparsers.add_parser(
        "ingest", help="parse news pages (files, folders, .jsonl) into the archive"
    )
    ingest.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    ingest.add_argument("--source", help="source name for text pages (default: the folder's name)")
    ingest.set_defaults(handler=ingest_command)

    search = subparsers.add_parser("search", help="search the archive (any word form)")
    search.add_argument("query", nargs="+", metavar="QUERY")
    search.add_argument("--limit", type=_limit, default=10, help="results to show (default 10)")
    search.add_argument("--since", type=_date, help="only articles published since DATE (e.g. 01.10.2021)")
    search.add_argument("--json", action="store_true", help="print JSON instead of text")
    search.set_defaults(handler=search_command)

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
        return parse_date(value)
    except DateError as error:
        raise argparse.ArgumentTypeError(f"not a date: {value!r} ({error})") from None


async def ingest_command(args: argparse.Namespace, settings: Settings) -> int:
    async with await Database.connect(settings.database_path) as db:
        report = await ingest_paths(ArticleRepository(db), args.paths, source=args.source)
    for rejected in report.rejected:
        print(f"rejected {rejected.where}: {rejected.reason}")
    print(report.summary())
    return EXIT_NOTHING_READ if report.read == len(report.rejected) else 0


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
    if query.is_empty:
        print("nothing to search: give at least one word", file=sys.stderr)
        return 2
    async with await Database.connect(settings.database_path) as db:
        hits = await ArticleRepository(db).search(query, limit=args.limit, since=args.since)
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
    async with await Database.connect(settings.database_path) as db:
        stats = await ArticleRepository(db).stats()
    first = stats.first_published.isoformat() if stats.first_published else None
    last = stats.last_published.isoformat() if stats.last_published else None
    if args.json:
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
    print(f"articles: {stats.articles}")
    print(f"sources: {stats.sources}")
    print(f"published: {first or '-'} … {last or '-'}")
    for topic, count in sorted(stats.by_topic.items(), key=lambda item: (-item[1], item[0])):
        print(f"  {topic}: {count}")
    return 0
