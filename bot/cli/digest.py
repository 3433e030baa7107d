"""`govdigest digest run-due | status | preview CHAT_ID`: the digest outbox from the command line."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any

from bot.config import Settings
from bot.database import opened_storage

if TYPE_CHECKING:
    from aiogram import Bot

# aiogram and the delivery code are imported inside the commands that send: `digest status` and the rest of
# the CLI start without paying for aiogram's import (seconds on a busy machine).

EXIT_SOME_FAILED = 1
EXIT_UNKNOWN_CHAT = 1


def register(subparsers: Any) -> None:
    digest = subparsers.add_parser("digest", help="digest delivery: send due digests, show the outbox")
    commands = digest.add_subparsers(dest="digest_command", metavar="ACTION", required=True)

    run = commands.add_parser(
        "run-due", help="create every due digest and send all ready jobs now, then exit"
    )
    run.set_defaults(handler=run_due_command)

    status = commands.add_parser(
        "status", help="outbox counts: pending, sent, failed, inactive; last fan-out"
    )
    status.add_argument("--json", action="store_true", help="print JSON instead of text")
    status.set_defaults(handler=status_command)

    preview = commands.add_parser(
        "preview", help="print what a chat's next digest would hold (sends nothing)"
    )
    preview.add_argument("chat_id", type=int, metavar="CHAT_ID")
    preview.set_defaults(handler=preview_command)


def _bot(settings: Settings) -> Bot:
    from aiogram import Bot
    from aiogram.client.session.aiohttp import AiohttpSession
    from aiogram.client.telegram import TelegramAPIServer

    # Deliveries need a session without the bot's pacing/retry middlewares (see bot/digest/sender.py).
    session = AiohttpSession(api=TelegramAPIServer.from_base(settings.telegram_api_url))
    return Bot(token=settings.require_token(), session=session)


async def run_due_command(args: argparse.Namespace, settings: Settings) -> int:
    from bot.digest.pacing import DeliveryConfig
    from bot.digest.service import run_due

    bot = _bot(settings)
    try:
        async with opened_storage(settings) as storage:
            result = await run_due(bot, storage, DeliveryConfig.from_settings(settings))
            counts = await storage.outbox.counts()
    finally:
        await bot.session.close()
    print(
        f"jobs: {result.jobs}, sent: {result.sent}, messages: {result.messages}, retried: {result.retried} "
        f"(429: {result.rate_limited}), failed: {result.failed}, inactive chats: {result.inactive}, "
        f"migrated: {result.migrated}"
    )
    print(f"outbox now: pending {counts.pending}, failed {counts.failed}, sent {counts.sent}")
    for error in result.errors:
        print(f"govdigest: {error}", file=sys.stderr)
    return EXIT_SOME_FAILED if result.failed or result.errors else 0


async def status_command(args: argparse.Namespace, settings: Settings) -> int:
    async with opened_storage(settings) as storage:
        counts = await storage.outbox.counts()
        chats = await storage.chats.counts()
        subscribed = await storage.subscriptions.count_subscribed()
        last = await storage.outbox.last_fanout()
    data: dict[str, Any] = {
        "jobs": {
            "pending": counts.pending + counts.sending,
            "sent": counts.sent,
            "failed": counts.failed,
            "inactive": counts.inactive,
        },
        "parts": {
            "sent": counts.parts_sent,
            "uncertain": counts.parts_uncertain,
            "pending": counts.parts_pending,
        },
        "chats": {
            "total": chats.total,
            "active": chats.active,
            "inactive": chats.inactive,
            "subscribed": subscribed,
        },
        "last_fanout": None
        if last is None
        else {
            "kind": last.kind,
            "started_at": last.started_at.isoformat(),
            "duration_seconds": last.duration.total_seconds() if last.duration is not None else None,
            "jobs": last.jobs,
            "sent": last.sent,
            "retried": last.retried,
            "failed": last.failed,
            "messages": last.messages,
        },
    }
    if args.json:
        print(json.dumps(data, ensure_ascii=False, indent=2))
        return 0
    jobs = data["jobs"]
    print(f"pending: {jobs['pending']}")
    print(f"sent: {jobs['sent']}")
    print(f"failed: {jobs['failed']}")
    print(f"inactive: {jobs['inactive']}")
    print(
        f"parts: {counts.parts_sent} sent, {counts.parts_uncertain} uncertain, {counts.parts_pending} pending"
    )
    print(f"chats: {chats.total} ({chats.active} active, {chats.inactive} inactive), {subscribed} subscribed")
    if last is not None:
        duration = f"{last.duration.total_seconds():.0f} s" if last.duration is not None else "?"
        print(
            f"last fan-out ({last.kind}) {last.started_at:%Y-%m-%d %H:%M} UTC: {last.sent}/{last.jobs} sent, "
            f"{last.retried} retried, {last.failed} failed, {last.messages} messages, {duration}"
        )
    return 0


async def preview_command(args: argparse.Namespace, settings: Settings) -> int:
    from bot.digest.on_demand import preview_digest
    from bot.telegram.html_split import visible_length

    async with opened_storage(settings) as storage:
        if await storage.chats.get(args.chat_id) is None:
            print(f"no chat {args.chat_id}")
            return EXIT_UNKNOWN_CHAT
        parts = await preview_digest(storage, args.chat_id)
    for number, part in enumerate(parts, 1):
        print(f"--- message {number} ({visible_length(part.text)} characters) ---")
        print(part.text)
    return 0
