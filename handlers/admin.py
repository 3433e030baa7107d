"""Operator commands for ADMIN_IDS: /stats and /broadcast <text>.

Anyone else gets silence: the command is taken here and dropped without an answer, so it does not reach the
"unknown command" hint and the bot does not tell strangers that the commands exist. Admin commands work only
in a private chat with the bot (statistics are not for a group to read); in groups they are silent too.

/broadcast sends the admin's text (its formatting kept: the message's HTML form, where the text itself is
escaped) to every active, subscribed, unpaused chat through the digest outbox: the same pacing, retries and
exactly-once bookkeeping as digests.
"""

from __future__ import annotations

import logging
import re
from datetime import timedelta

from aiogram import Router
from aiogram.filters import Command, CommandObject
from aiogram.types import Message

from bot.chats.view import local_moment_text, t
from bot.config import Settings
from bot.digest.records import PartDraft
from bot.telegram.filters import BotAdmin
from bot.telegram.html_split import split_text
from storage.interfaces import ArticleStore, ChatStore, OutboxStore, SubscriptionStore

log = logging.getLogger(__name__)

_COMMAND_PREFIX_RE = re.compile(r"^/\w+(?:@\w+)?[ \t]*\n?", re.ASCII)


def format_duration(duration: timedelta | None, locale: str) -> str:
    if duration is None:
        return t("admin.fanout_running", locale)
    seconds = duration.total_seconds()
    if seconds < 60:
        return t("admin.seconds", locale, value=f"{seconds:.0f}")
    minutes, rest = divmod(round(seconds), 60)
    return t("admin.minutes", locale, minutes=minutes, seconds=f"{rest:02d}")


async def stats_command(
    message: Message,
    *,
    settings: Settings,
    archive: ArticleStore,
    chats: ChatStore,
    subscriptions: SubscriptionStore,
    outbox: OutboxStore,
    locale: str,
) -> None:
    archive_stats = await archive.stats()
    counts = await chats.counts()
    queue = await outbox.counts()
    lines = [
        t(
            "admin.stats",
            locale,
            articles=archive_stats.articles,
            chats=counts.total,
            active=counts.active,
            inactive=counts.inactive,
            paused=counts.paused,
            subscribers=await subscriptions.count_subscribed(),
            pending=queue.pending + queue.sending,
            failed=queue.failed,
        )
    ]
    last = await outbox.last_fanout()
    if last is None:
        lines.append(t("admin.no_fanout", locale))
    else:
        lines.append(
            t(
                "admin.last_fanout",
                locale,
                kind=last.kind,
                started=local_moment_text(last.started_at, settings.digest_timezone),
                jobs=last.jobs,
                sent=last.sent,
                retried=last.retried,
                failed=last.failed,
                messages=last.messages,
                duration=format_duration(last.duration, locale),
            )
        )
    await message.answer("\n\n".join(lines))


def broadcast_html(message: Message) -> str:
    """The message's HTML form (user text escaped, its formatting kept) without the leading /broadcast."""
    return _COMMAND_PREFIX_RE.sub("", message.html_text, count=1).strip()


async def broadcast_command(
    message: Message,
    *,
    command: CommandObject,
    settings: Settings,
    chats: ChatStore,
    outbox: OutboxStore,
    locale: str,
) -> None:
    body = broadcast_html(message) if command.args else ""
    if not body:
        await message.answer(t("admin.broadcast_usage", locale))
        return
    # A user's message fits one message as text; split_text keeps that true of its HTML form too.
    parts = split_text(body)
    chat_ids = [chat.id for chat in await chats.subscribed()]
    if not chat_ids:
        await message.answer(t("admin.broadcast_no_chats", locale))
        return
    user_id = message.from_user.id if message.from_user else None
    number = await outbox.create_broadcast(
        body, created_by=user_id, chat_ids=chat_ids, parts=[PartDraft(part) for part in parts]
    )
    log.info("broadcast %d by %s queued for %d chats", number, user_id, len(chat_ids))
    await message.answer(t("admin.broadcast_queued", locale, number=number, chats=len(chat_ids)))


async def ignore_non_admin(message: Message) -> None:
    """/stats or /broadcast from anyone but a bot admin in a private chat: taken and dropped, unanswered."""
    command = (message.text or "").split(" ", 1)[0][:40]
    log.info("%s from non-admin %s ignored", command, message.from_user.id if message.from_user else None)


def create_router() -> Router:
    router = Router(name="admin")
    router.message.register(stats_command, Command("stats"), BotAdmin())
    router.message.register(broadcast_command, Command("broadcast"), BotAdmin())
    router.message.register(ignore_non_admin, Command("stats", "broadcast"))
    return router
