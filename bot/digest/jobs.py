"""Due jobs: one outbox job for every subscribed, active, unpaused chat whose digest is due, composed by
`DigestComposer` (one catch-up digest per chat however many were missed), and the earliest next due time."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from bot.chats.records import Chat, Subscription
from bot.digest.compose import DigestComposer, digest_markup
from bot.digest.schedule import due_period_end, next_due, period_start, schedule_anchor
from storage.errors import StorageUnavailable
from storage.interfaces import OutboxStore, Storage

log = logging.getLogger(__name__)


async def create_due_jobs(
    storage: Storage, *, now: datetime | None = None, composer: DigestComposer | None = None
) -> tuple[int, datetime | None]:
    """Compose a digest job for every subscribed, active, unpaused chat whose digest is due (one catch-up
    per chat however many were missed). Returns (jobs created, the earliest future due time)."""
    moment = now or storage.clock()
    chats_repo = storage.chats
    outbox = storage.outbox
    composer = composer or DigestComposer(storage)
    chats = await chats_repo.subscribed()
    subscriptions = await storage.subscriptions.many([c.id for c in chats])
    created = 0
    earliest: datetime | None = None
    for chat in chats:
        subscription = subscriptions[chat.id]
        anchor, after_digest = schedule_anchor(
            last_period_end=chat.last_period_end,
            subscribed_since=subscription.since,
            created_at=chat.created_at,
        )
        try:
            end = due_period_end(chat, anchor=anchor, now=moment, after_digest=after_digest)
        except (ValueError, KeyError):  # an unusable timezone in the row: skip the chat, not the fan-out
            log.exception("chat %s: bad schedule", chat.id)
            continue
        if end is None:
            upcoming = next_due(chat, after=anchor, after_digest=after_digest)
            earliest = upcoming if earliest is None else min(earliest, upcoming)
            continue
        start = period_start(
            period_end=end, last_period_end=chat.last_period_end, subscribed_since=subscription.since
        )
        try:
            job_id = await _create_digest_job(
                outbox, composer, chat, subscription, start=start, end=end, now=moment
            )
        except StorageUnavailable:
            raise  # not this chat's fault: the cycle stops and is tried again when the database is back
        except Exception:  # one chat's broken digest never holds up the others; it is retried next cycle
            log.exception("chat %s: composing its digest failed", chat.id)
            continue
        if job_id is not None:
            created += 1
    return created, earliest


async def _create_digest_job(
    outbox: OutboxStore,
    composer: DigestComposer,
    chat: Chat,
    subscription: Subscription,
    *,
    start: datetime,
    end: datetime,
    now: datetime,
) -> int | None:
    composed = await composer.compose(chat, subscription, start=start, end=end)
    locale = chat.locale
    markup: Callable[[int], str | None] | None = None
    if composed.remaining:
        markup = lambda job_id: digest_markup(job_id, 1, locale)  # noqa: E731
    return await outbox.create_digest_job(
        chat.id,
        period_start=start,
        period_end=end,
        parts=composed.parts,
        items=composed.items,
        page_size=composed.page_size,
        last_part_markup=markup,
        now=now,
    )
