"""`govdigest sources add|list|remove|enable|disable` and `govdigest poll` (one pass, for cron)."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from typing import Any

from aiogram.exceptions import TelegramAPIError

from bot.config import Settings
from bot.database import opened_storage
from bot.sources.alerts import alert_text, send_alerts
from bot.sources.manage import Health, NotPublicUrlError, SourceUrlError, health_of, prepare_source
from bot.sources.poller import load_defaults_if_empty, poll_once
from bot.sources.records import MIN_INTERVAL_SECONDS, Source, SourceExistsError, SourceKind
from bot.sources.report import PollReport, PollStatus
from storage.interfaces import SourceStore

EXIT_FAILED = 1


def register(subparsers: Any) -> None:
    sources = subparsers.add_parser("sources", help="manage the polled feeds and news pages")
    actions = sources.add_subparsers(dest="sources_command", metavar="ACTION", required=True)

    add = actions.add_parser("add", help="add a feed (RSS/Atom) or a news-list page")
    add.add_argument("url", metavar="URL")
    add.add_argument("--name", help="display name (default: the site's host)")
    add.add_argument(
        "--kind",
        choices=[kind.value for kind in SourceKind],
        help="rss or html (default: guessed from the URL)",
    )
    add.add_argument(
        "--interval", type=_minutes, default=15, metavar="MINUTES", help="poll interval (default 15)"
    )
    add.add_argument("--disabled", action="store_true", help="add it disabled")
    add.set_defaults(handler=add_command)

    listing = actions.add_parser("list", help="sources with their health")
    listing.add_argument("--json", action="store_true", help="print JSON instead of text")
    listing.set_defaults(handler=list_command)

    for name, handler, help_text in (
        ("remove", remove_command, "remove a source (its articles stay in the archive)"),
        ("enable", enable_command, "enable a source (polled at once, health counters reset)"),
        ("disable", disable_command, "stop polling a source"),
    ):
        action = actions.add_parser(name, help=help_text)
        action.add_argument("source_id", type=int, metavar="ID")
        action.set_defaults(handler=handler)

    poll = subparsers.add_parser("poll", help="poll the due sources once (for cron) and report")
    poll.add_argument("--all", action="store_true", help="poll every enabled source, due or not")
    poll.add_argument("--json", action="store_true", help="print JSON instead of text")
    poll.set_defaults(handler=poll_command)


def _minutes(value: str) -> int:
    try:
        minutes = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of minutes: {value!r}") from None
    if minutes * 60 < MIN_INTERVAL_SECONDS or minutes > 7 * 24 * 60:
        raise argparse.ArgumentTypeError("the interval must be between 1 minute and 7 days")
    return minutes


async def add_command(args: argparse.Namespace, settings: Settings) -> int:
    try:
        new = await prepare_source(
            args.url,
            allow_private=settings.allow_private_fetch,
            name=args.name,
            kind=SourceKind(args.kind) if args.kind else None,
            poll_interval_seconds=args.interval * 60,
            enabled=not args.disabled,
        )
    except NotPublicUrlError as error:
        print(
            f"govdigest: refused {error.url}: {error.reason} (the poller connects to public addresses only; "
            "SOURCES_ALLOW_PRIVATE_ADDRESSES=1 lifts that)",
            file=sys.stderr,
        )
        return EXIT_FAILED
    except SourceUrlError:
        print(f"govdigest: not an http(s) URL: {args.url!r}", file=sys.stderr)
        return EXIT_FAILED
    url = new.url
    async with opened_storage(settings) as storage:
        try:
            source = await storage.sources.add(new)
        except SourceExistsError:
            print(f"govdigest: a source with this URL already exists: {url}", file=sys.stderr)
            return EXIT_FAILED
    print(f"added source {source.id}: {source.name} [{source.kind}] {source.url}")
    return 0


def _when(moment: datetime | None) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if moment else "never"


def health_line(source: Source) -> str:
    """One line of health for `sources list`."""
    health = health_of(source)
    parts = [f"last success {_when(source.last_success_at)}"]
    if source.items_last_poll is not None:
        parts.append(
            f"items {source.items_last_poll}, new {source.new_last_poll or 0}, total new {source.total_new}"
        )
    if source.consecutive_failures:
        parts.append(
            f"{source.consecutive_failures} failures in a row, next try {_when(source.next_poll_at)}"
        )
    if source.consecutive_empty:
        parts.append(f"{source.consecutive_empty} empty polls in a row")
    if source.last_error and health is Health.FAILING:
        parts.append(f"last error: {source.last_error}")
    if source.redirect_url:
        parts.append(f"redirected to {source.redirect_url}")
    return f"{health.value}: " + "; ".join(parts)


def _source_json(source: Source) -> dict[str, Any]:
    return {
        "id": source.id,
        "name": source.name,
        "url": source.url,
        "kind": str(source.kind),
        "interval_minutes": source.poll_interval_seconds // 60,
        "enabled": source.enabled,
        "health": str(health_of(source)),
        "last_success_at": source.last_success_at.isoformat() if source.last_success_at else None,
        "last_error": source.last_error,
        "consecutive_failures": source.consecutive_failures,
        "consecutive_empty": source.consecutive_empty,
        "items_last_poll": source.items_last_poll,
        "new_last_poll": source.new_last_poll,
        "total_new": source.total_new,
        "next_poll_at": source.next_poll_at.isoformat(),
        "redirect_url": source.redirect_url,
    }


async def list_command(args: argparse.Namespace, settings: Settings) -> int:
    async with opened_storage(settings) as storage:
        repo = storage.sources
        if settings.load_default_sources:
            await load_defaults_if_empty(repo)
        sources = await repo.list_all()
    if args.json:
        print(json.dumps([_source_json(source) for source in sources], ensure_ascii=False, indent=2))
        return 0
    for source in sources:
        state = "" if source.enabled else " (disabled)"
        print(
            f"{source.id:>4}  {source.name}{state}"
            f" [{source.kind}, every {source.poll_interval_seconds // 60} min]"
        )
        print(f"      {source.url}")
        print(f"      {health_line(source)}")
    print(f"{len(sources)} sources")
    return 0


async def _change(settings: Settings, source_id: int, action: str) -> int:
    async with opened_storage(settings) as storage:
        repo = storage.sources
        source = await repo.get(source_id)
        if source is None:
            print(f"govdigest: no source with id {source_id}", file=sys.stderr)
            return EXIT_FAILED
        if action == "remove":
            await repo.remove(source_id)
        else:
            await repo.set_enabled(source_id, action == "enable")
    print(f"{action}d source {source_id}: {source.name}")
    return 0


async def remove_command(args: argparse.Namespace, settings: Settings) -> int:
    return await _change(settings, args.source_id, "remove")


async def enable_command(args: argparse.Namespace, settings: Settings) -> int:
    return await _change(settings, args.source_id, "enable")


async def disable_command(args: argparse.Namespace, settings: Settings) -> int:
    return await _change(settings, args.source_id, "disable")


def report_lines(report: PollReport) -> list[str]:
    lines = []
    for outcome in report.outcomes:
        if outcome.status is PollStatus.ERROR:
            lines.append(f"{outcome.source_id:>4} {outcome.name}: ERROR {outcome.error}")
        elif outcome.status is PollStatus.NOT_MODIFIED:
            lines.append(f"{outcome.source_id:>4} {outcome.name}: not modified")
        else:
            lines.append(
                f"{outcome.source_id:>4} {outcome.name}: {outcome.items} items, {outcome.new} new,"
                f" {outcome.duplicates} duplicates, {outcome.known} seen before,"
                f" {outcome.pages_fetched} pages fetched"
            )
        lines += [f"       warning: {warning}" for warning in outcome.warnings]
    lines.append(
        f"polled {report.polled} sources in {report.elapsed_seconds:.1f} s: {report.new} new articles,"
        f" {report.duplicates} duplicates, {report.not_modified} not modified, {report.errors} errors"
    )
    return lines


async def poll_command(args: argparse.Namespace, settings: Settings) -> int:
    async with opened_storage(settings) as storage:
        repo = storage.sources
        if settings.load_default_sources:
            await load_defaults_if_empty(repo)
        ids = [source.id for source in await repo.list_all() if source.enabled] if args.all else None
        report = await poll_once(storage, settings, source_ids=ids)
        for alert in report.alerts:
            print(f"ALERT: {alert_text(alert, 'en')}", file=sys.stderr)
        if report.alerts and settings.bot_token and settings.admin_ids:
            await _alert_admins(settings, repo, report)
    if args.json:
        print(
            json.dumps(
                {
                    "polled": report.polled,
                    "new": report.new,
                    "duplicates": report.duplicates,
                    "not_modified": report.not_modified,
                    "errors": report.errors,
                    "elapsed_seconds": round(report.elapsed_seconds, 3),
                }
            )
        )
    else:
        print("\n".join(report_lines(report)))
    return EXIT_FAILED if report.polled and report.errors == report.polled else 0


async def _alert_admins(settings: Settings, repo: SourceStore, report: PollReport) -> None:
    from bot.app import create_bot

    bot = create_bot(settings)
    try:
        await send_alerts(bot, settings, repo, report.alerts)
    except TelegramAPIError as error:
        print(f"govdigest: could not alert the admins: {error}", file=sys.stderr)
    finally:
        await bot.session.close()
