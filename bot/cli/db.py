"""`govdigest db copy SRC_URL DST_URL`: the whole database moved from one backend to another (SQLite to
PostgreSQL and back), ids kept, resumable; the tables' row counts compared at the end (storage/copy.py)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from bot.config import Settings
from storage import StorageError
from storage.copy import BATCH_ROWS, CopyRefused, CopyReport, copy_urls

EXIT_COUNTS_DIFFER = 1
EXIT_USAGE = 2

COPY_DESCRIPTION = """Copy the archive, chats, subscriptions, the outbox and the sources from SRC_URL into
DST_URL (sqlite:///path/to/file.db or postgresql://user@host/db, either way), keeping every id. The
destination is created and migrated if needed and must be empty, or an earlier copy of SRC_URL that was
interrupted: run again, the copy goes on where it stopped. Stop the bot while copying. Progress goes to
stderr; the row counts of both sides are printed at the end (exit 1 when a table differs)."""


def register(subparsers: Any) -> None:
    db = subparsers.add_parser("db", help="database maintenance: copy between backends")
    commands = db.add_subparsers(dest="db_command", metavar="COMMAND", required=True)
    copy = commands.add_parser(
        "copy",
        help="copy the whole database to another one (SQLite <-> PostgreSQL), ids kept",
        description=COPY_DESCRIPTION,
    )
    copy.add_argument("source", metavar="SRC_URL", help="the database to copy from")
    copy.add_argument("destination", metavar="DST_URL", help="the database to copy into")
    copy.add_argument(
        "--batch", type=_batch, default=BATCH_ROWS, help=f"rows per transaction (default {BATCH_ROWS})"
    )
    copy.set_defaults(handler=copy_command)


def _batch(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {value!r}") from None
    if not 1 <= number <= 100_000:
        raise argparse.ArgumentTypeError("must be between 1 and 100000")
    return number


def _progress(table: str, done: int, total: int) -> None:
    print(f"{table}: {done}/{total} rows", file=sys.stderr, flush=True)


def counts_table(report: CopyReport) -> list[str]:
    width = max(len("table"), *(len(count.table) for count in report.counts))
    lines = [f"{'table':<{width}}  {'source':>10}  {'destination':>11}"]
    for count in report.counts:
        mark = "" if count.source == count.destination else "  <- differs"
        lines.append(f"{count.table:<{width}}  {count.source:>10}  {count.destination:>11}{mark}")
    return lines


async def copy_command(args: argparse.Namespace, settings: Settings) -> int:
    try:
        report = await copy_urls(args.source, args.destination, batch_rows=args.batch, progress=_progress)
    except CopyRefused as refusal:
        print(f"govdigest: db copy: {refusal}", file=sys.stderr)
        return EXIT_USAGE
    except StorageError as error:  # not DATABASE_URL's fault: name the command, not the setting
        print(f"govdigest: db copy: {error}", file=sys.stderr)
        return EXIT_USAGE
    for line in counts_table(report):
        print(line)
    differing = report.differing
    if differing:
        named = ", ".join(f"{c.table} (source {c.source}, destination {c.destination})" for c in differing)
        print(f"govdigest: db copy: row counts differ: {named}", file=sys.stderr)
        return EXIT_COUNTS_DIFFER
    print(f"copied {report.copied} rows; every table has the source's row count", file=sys.stderr)
    return 0
