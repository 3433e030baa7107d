"""Digest fan-out through the persistent outbox: compose due digests into jobs, send every job's parts in
order at Telegram's pace, and survive anything in between.

Exactly once, and its one window
--------------------------------
Each part goes through: pace (wait) → `sending` committed → sendMessage → message id committed. Telegram has
no idempotency key, so the only moment we cannot know the truth is between the request leaving and its answer
being committed: if the process dies there, the part stays `sending`. At start-up `recover_interrupted()`
turns such parts into `uncertain` and they are NOT sent again: a request that left the process is processed by
Telegram whether or not we live to read the answer, so resending would double it. What remains is the tiny
stretch between the `sending` commit and the request's bytes leaving the socket (nothing slow is awaited in
between: all waiting — pacing, 429s, backoff — happens before the `sending` mark). The message id is recorded
in the same task right after the response and committed at once (autocommit): the window is one round trip.
A *live* error answer (429, 5xx, 403, 400) proves the message was not taken: the part goes back to `pending`.
A network error is ambiguous (the request may have arrived); it is retried — at least once — because a
lost digest is worse than a rare duplicate on a flaky network, and `uncertain` covers the crash case.

Pacing: at most `settings.messages_per_second` overall — one budget shared with the bot's replies
(`bot.telegram.session.SendBudget`, found on the bot by `digest_service`), so replies plus fan-out stay within
Telegram's per-token limit (the fan-out never books slots ahead: a reply waits at most about one slot behind
it); per chat, one message per second in a private chat, 20 per minute in a group or channel. On 429 that chat
waits `retry_after` and retries. 5xx and network errors retry with exponential backoff and jitter a bounded
number of times, then the job waits for the next cycle as `failed`; during the backoff the chat is out of the
queue and its worker sends to other chats, so a failing chat never slows the fan-out. A 5xx also gives its
slots back (overall and the chat's: Telegram did not count the message). 403 makes the chat inactive (no more
jobs; subscriptions kept). 400 with migrate_to_chat_id rewrites the chat id everywhere and retries in the new
chat.

Deliveries use their own HTTP session without the bot's request middlewares: a middleware that sleeps (pacing,
429 or 5xx retry) after the `sending` mark would widen the window above, and one that retries would hide
failed attempts from the part bookkeeping here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import secrets
import socket
import time
from collections import defaultdict, deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.exceptions import (
    AiogramError,
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramMigrateToChat,
    TelegramNetworkError,
    TelegramNotFound,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiogram.methods import SendMessage
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup, LinkPreviewOptions

from bot.archive.models import StoredArticle
from bot.archive.query import parse_query
from bot.chats.records import Chat, Subscription
from bot.config import Settings
from bot.digest.layout import (
    GOV_NEWS_RELEVANCE,
    Candidate,
    ClusterInfo,
    DigestPageView,
    collapse_clusters,
    merge_candidates,
    more_button_text,
    query_relevance,
    rank,
    render_digest,
    render_nothing_new,
)
from bot.digest.records import OutboxJob, OutboxPart, PartDraft
from bot.digest.schedule import due_period_end, next_due, period_start, schedule_anchor
from bot.telegram.callbacks import DigestPage
from bot.telegram.limits import GROUP_MESSAGES_PER_MINUTE, PRIVATE_CHAT_INTERVAL_SECONDS
from bot.telegram.pacing import Pace, Pacer, SendBudget, send_budget_of
from bot.telegram.redaction import RedactTokenMiddleware
from bot.telegram.retries import answer_not_taken
from bot.telegram.session import PinResponseTypesMiddleware
from bot.telegram.texts import text
from storage.interfaces import ArticleStore, OutboxStore, Storage

log = logging.getLogger(__name__)

# The service wakes at least this often (new subscribers, changed settings, retries).
MAX_SLEEP_SECONDS = 60.0
QUERY_HITS_PER_DIGEST = 100


@dataclass(frozen=True, slots=True)
class DeliveryConfig:
    """Knobs of the sender; tests shrink the delays."""

    messages_per_second: float = 30.0
    private_interval: float = PRIVATE_CHAT_INTERVAL_SECONDS
    group_interval: float = 60.0 / GROUP_MESSAGES_PER_MINUTE
    concurrency: int = 64
    transient_retries: int = 4  # network errors and 5xx, per part, before the job waits for the next cycle
    backoff_base: float = 0.5
    backoff_max: float = 30.0
    failed_retry_delay: float = 60.0  # a `failed` job is tried again this much later (the next cycle)
    max_retry_after: float = 600.0  # a longer 429 wait releases the worker and reschedules the job

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> DeliveryConfig:
        return cls(messages_per_second=settings.messages_per_second, **overrides)


@dataclass(slots=True)
class FanoutResult:
    jobs: int = 0
    sent: int = 0  # jobs completed
    messages: int = 0  # parts accepted by Telegram
    retried: int = 0  # retries of any kind (429, 5xx, network)
    rate_limited: int = 0  # 429 answers
    failed: int = 0  # jobs left for the next cycle
    inactive: int = 0  # chats found blocked / kicked / deleted
    migrated: int = 0
    skipped: int = 0  # jobs taken away after the fan-out read its list (parked, superseded): not sent
    errors: list[str] = field(default_factory=list)


# --- composition ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ComposedDigest:
    parts: list[PartDraft]
    items: list[int]  # ranked article ids, all pages
    page_size: int | None
    remaining: int  # items after the first page

    @property
    def empty(self) -> bool:
        return not self.items


def digest_markup(job_id: int, page: int, locale: str, *, until: int = 0) -> str:
    """The "next page" button as reply-markup JSON."""
    markup = InlineKeyboardMarkup(
        inline_keyboard=[
            [
                InlineKeyboardButton(
                    text=more_button_text(locale),
                    callback_data=DigestPage(job=job_id, page=page, until=until).pack(),
                )
            ]
        ]
    )
    return markup.model_dump_json(exclude_none=True)


class DigestComposer:
    """Composes digests, caching what many chats share in one fan-out: the period's government news, each
    saved query's hits, clusters. One composer per cycle (the archive changes between cycles)."""

    def __init__(self, storage: Storage, *, archive: ArticleStore | None = None) -> None:
        self.storage = storage
        self.archive = archive or storage.articles
        self._gov: dict[tuple[datetime, datetime], list[StoredArticle]] = {}
        self._hits: dict[tuple[str, datetime, datetime], list[Candidate]] = {}
        self._clusters: dict[int, ClusterInfo | None] = {}
        self._sources: Any = None
        # Chats with the same subscription and period share the ranking, and with the same zone, locale and
        # cap the very same messages: most chats of a fan-out are composed once per distinct digest.
        self._ranked: dict[tuple[object, ...], list[Candidate]] = {}
        self._views: dict[tuple[object, ...], DigestPageView] = {}

    async def _gov_news(self, start: datetime, end: datetime) -> list[StoredArticle]:
        key = (start, end)
        if key not in self._gov:
            self._gov[key] = await self.archive.published_between(start, end, gov_only=True)
        return self._gov[key]

    async def _query_hits(self, query_text: str, start: datetime, end: datetime) -> list[Candidate]:
        key = (query_text, start, end)
        if key not in self._hits:
            query = parse_query(query_text)
            hits = await self.archive.search(query, limit=QUERY_HITS_PER_DIGEST, since=start, until=end)
            articles = {a.id: a for a in await self.archive.get_many([h.article_id for h in hits])}
            self._hits[key] = [
                Candidate(articles[h.article_id], query_relevance(position, len(hits)))
                for position, h in enumerate(hits)
                if h.article_id in articles and start <= articles[h.article_id].published_at < end
            ]
        return self._hits[key]

    async def clusters(self, article_ids: Sequence[int]) -> dict[int, ClusterInfo]:
        missing = [i for i in article_ids if i not in self._clusters]
        if missing:
            found: dict[int, Any] = {}
            try:
                if self._sources is None:
                    self._sources = self.storage.sources
                found = await self._sources.clusters_for(missing)
            except Exception:  # clusters are an extra: a digest goes out without them
                log.warning("clusters unavailable for the digest", exc_info=True)
            for article_id in missing:
                self._clusters[article_id] = found.get(article_id)
        return {i: c for i in article_ids if (c := self._clusters.get(i)) is not None}

    async def candidates(
        self, subscription: Subscription, *, start: datetime, end: datetime
    ) -> list[Candidate]:
        key = _subscription_key(subscription, start, end)
        if key not in self._ranked:
            self._ranked[key] = await self._rank(subscription, start=start, end=end)
        return self._ranked[key]

    async def _rank(self, subscription: Subscription, *, start: datetime, end: datetime) -> list[Candidate]:
        groups: list[list[Candidate]] = []
        if subscription.gov_news:
            groups.append([Candidate(a, GOV_NEWS_RELEVANCE) for a in await self._gov_news(start, end)])
        for query in subscription.enabled_queries:
            groups.append(await self._query_hits(query.text, start, end))
        merged = merge_candidates(groups)
        # One item per story: the clusters of every candidate are needed before ranking and paging, since
        # collapsing changes the count, the pages and the "N more" line.
        stories = collapse_clusters(merged, await self.clusters([c.article.id for c in merged]))
        return rank(stories, period_start=start, period_end=end)

    async def compose(
        self,
        chat: Chat,
        subscription: Subscription,
        *,
        start: datetime,
        end: datetime,
        page: int = 0,
        notice_when_empty: bool | None = None,
    ) -> ComposedDigest:
        ranked = await self.candidates(subscription, start=start, end=end)
        size = chat.max_items
        view_key = (*_subscription_key(subscription, start, end), chat.timezone, chat.locale, size, page)
        view = self._views.get(view_key)
        if view is None:
            page_ids = [c.article.id for c in (ranked[page * size : (page + 1) * size] if size else ranked)]
            view = self._views[view_key] = render_digest(
                ranked,
                period_start=start,
                period_end=end,
                timezone=chat.timezone,
                locale=chat.locale,
                max_items=size,
                page=page,
                clusters=await self.clusters(page_ids),
            )
        parts = [PartDraft(message) for message in view.messages]
        notice = chat.notify_empty if notice_when_empty is None else notice_when_empty
        if not parts and notice and page == 0:
            parts = [
                PartDraft(
                    render_nothing_new(
                        period_start=start, period_end=end, timezone=chat.timezone, locale=chat.locale
                    )
                )
            ]
        return ComposedDigest(
            parts=parts, items=[c.article.id for c in ranked], page_size=size, remaining=view.remaining
        )


def _subscription_key(subscription: Subscription, start: datetime, end: datetime) -> tuple[object, ...]:
    return (subscription.gov_news, tuple(sorted(q.text for q in subscription.enabled_queries)), start, end)


# --- due jobs ---------------------------------------------------------------------------------------------


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


# --- sending ----------------------------------------------------------------------------------------------


class _Pacing:
    """Per-chat pace first (waiting for it does not hold an overall slot), then a slot of the bot's overall
    budget, shared with the replies' pacing when the service runs inside the bot (see bot.telegram.session.SendBudget).
    Digest messages take slots smoothly — never booked ahead, never the burst — so a reply waits at most about
    one slot behind a fan-out. The workers queue for that slot one at a time (a FIFO lock): the one at the
    front sleeps until the budget is free and takes it, the others wait on the lock instead of all waking at
    every slot."""

    def __init__(
        self,
        config: DeliveryConfig,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
        budget: SendBudget | None = None,
        stop: asyncio.Event | None = None,
    ) -> None:
        self._pacer = Pacer(clock)
        self._sleep = sleep
        self._stop = stop
        self._turn = asyncio.Lock()
        self.budget = budget or SendBudget(config.messages_per_second, clock=clock)
        self.private = Pace(rate=1.0 / config.private_interval, burst=1)
        self.group = Pace(rate=1.0 / config.group_interval, burst=1)

    def _pace(self, chat_id: int) -> Pace:
        return self.private if chat_id > 0 else self.group

    async def wait(self, chat_id: int) -> float | None:
        """Returns when this worker may send to `chat_id` now: the moment of the budget slot it took, or None
        when asked to stop first (no slot taken; the caller checks)."""
        per_chat = self._pacer.reserve(chat_id, self._pace(chat_id))
        if per_chat > 0:
            await self._sleep(per_chat)
        async with self._turn:
            while (wait := self.budget.reserve(smooth=True)) > 0:
                if self._stop is not None and self._stop.is_set():
                    return None
                await self._sleep_for_slot(wait)
            return self.budget.last_booked

    async def _sleep_for_slot(self, seconds: float) -> None:
        """Sleep until the budget's next slot, or until a refund frees one sooner (a 502 elsewhere: that slot
        is taken at once, not lost while this worker sleeps)."""
        refunded = self.budget.refunded()
        sleeper = asyncio.ensure_future(self._sleep(seconds))
        try:
            await asyncio.wait((sleeper, refunded), return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeper.cancel()

    def refund(self, chat_id: int, slot: float) -> None:
        """The message sent in `slot` to `chat_id` was not taken (a 5xx): neither Telegram's overall count
        nor the chat's holds it, so both slots are given back."""
        self.budget.refund(slot)
        self._pacer.release(chat_id, self._pace(chat_id))

    def chat_ready_in(self, chat_id: int) -> float:
        """Seconds until the chat's own pace allows its next message (nothing reserved)."""
        return self._pacer.ready_in(chat_id, self._pace(chat_id))

    def hold_chat(self, chat_id: int, seconds: float) -> None:
        """After a 429 for this chat: its next reservation starts after `seconds`."""
        self._pacer.reserve(chat_id, Pace(rate=1.0 / max(seconds, 0.001), burst=1))


class _JobOutcome(Exception):
    """Ends a job's delivery early: `state` is failed / inactive / retry / gone (taken away meanwhile)."""

    def __init__(
        self, state: str, reason: str, retry_at: datetime | None = None, *, chat_id: int = 0
    ) -> None:
        super().__init__(reason)
        self.state = state
        self.reason = reason
        self.retry_at = retry_at
        self.chat_id = chat_id


class _Requeue(Exception):
    """A part failed transiently (5xx, network): its chat leaves the queue for `delay` seconds and the worker
    goes on with another chat."""

    def __init__(self, delay: float) -> None:
        super().__init__(f"again in {delay:.2f} s")
        self.delay = delay


@dataclass(slots=True, eq=False)
class _ChatTurn:
    """One chat's jobs of this fan-out, in order, and where their delivery stands between two workers."""

    jobs: list[OutboxJob]
    index: int = 0  # the job to deliver next
    begun: bool = False  # jobs[index] is taken (`sending` in the outbox) and resumes where it stopped
    chat_id: int = 0  # jobs[index]'s chat id, possibly migrated
    migrated_from: int | None = None
    transient: int = 0  # transient failures of the part being sent
    gone: bool = False  # the chat is inactive: the rest of its jobs are not sent

    @property
    def job(self) -> OutboxJob | None:
        return self.jobs[self.index] if self.index < len(self.jobs) else None

    def next_job(self) -> None:
        self.index += 1
        self.begun = False
        self.migrated_from = None
        self.transient = 0


class _ChatQueue:
    """The chats waiting for a worker. A chat whose send failed transiently leaves the queue for its delay — a
    timer task, not a sleeping worker, so the other chats go on at the full pace — and comes back first."""

    def __init__(self, turns: Iterable[_ChatTurn], sleep: Callable[[float], Awaitable[None]]) -> None:
        self._ready: deque[_ChatTurn] = deque(turns)
        self._later: dict[_ChatTurn, asyncio.Task[None]] = {}
        self._sleep = sleep
        self._arrived = asyncio.Event()

    def put_later(self, turn: _ChatTurn, delay: float) -> None:
        self._later[turn] = asyncio.create_task(self._back_after(turn, delay))

    async def _back_after(self, turn: _ChatTurn, delay: float) -> None:
        await self._sleep(delay)
        self._later.pop(turn, None)
        # First in line: it has waited longer than every chat still queued, and a retry left for the end of a
        # long fan-out would make its chat wait minutes, and the fan-out end with a tail of retries.
        self._ready.appendleft(turn)
        self._arrived.set()

    async def get(self, stop: asyncio.Event) -> _ChatTurn | None:
        """The next chat; None when none is left (or on stop)."""
        while not stop.is_set():
            if self._ready:
                return self._ready.popleft()
            if not self._later:
                return None
            # Only the last chats' retries are left: wait for one to come back (or for stop).
            self._arrived.clear()
            waiters = [asyncio.create_task(self._arrived.wait()), asyncio.create_task(stop.wait())]
            try:
                await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for waiter in waiters:
                    waiter.cancel()
        return None

    def close(self) -> list[_ChatTurn]:
        """Cancel the timers; every chat still in the queue, for the caller to settle."""
        for task in self._later.values():
            task.cancel()
        left = [*self._ready, *self._later]
        self._ready.clear()
        self._later.clear()
        return left


class Deliverer:
    """Sends ready outbox jobs: one worker per chat at a time (parts and jobs of a chat stay in order). A part
    that fails transiently does not hold its worker: the chat leaves the queue for its backoff (`_ChatQueue`)."""

    def __init__(
        self,
        bot: Bot,
        storage: Storage,
        config: DeliveryConfig,
        *,
        stop: asyncio.Event | None = None,
        on_accepted: Callable[[int, int, int], Awaitable[None]] | None = None,
        budget: SendBudget | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] | None = None,
    ) -> None:
        self.bot = bot
        self.storage = storage
        self.config = config
        self.stop = stop or asyncio.Event()
        self.outbox = storage.outbox
        self.chats = storage.chats
        self._sleep = sleep or self._sleep_unless_stopped
        self.pacing = _Pacing(config, sleep=self._sleep, clock=clock, budget=budget, stop=self.stop)
        self.result = FanoutResult()
        self._on_accepted = on_accepted

    async def deliver(self, jobs: Sequence[OutboxJob], *, kind: str = "digest") -> FanoutResult:
        if not jobs:
            return self.result
        fanout_id = await self.outbox.start_fanout(kind)
        by_chat: dict[int, list[OutboxJob]] = defaultdict(list)
        for job in jobs:
            by_chat[job.chat_id].append(job)
        queue = _ChatQueue((_ChatTurn(chat_jobs) for chat_jobs in by_chat.values()), self._sleep)
        self.result.jobs += len(jobs)
        started = time.monotonic()
        workers = [
            asyncio.create_task(self._worker(queue))
            for _ in range(min(self.config.concurrency, len(by_chat)))
        ]
        try:
            await asyncio.gather(*workers)
        finally:
            for worker in workers:
                worker.cancel()
            # Stopped (or broken) with chats still queued: a job taken and waiting to resume goes back to
            # `pending` for the next cycle (a `sending` job would wait for the next start-up's recovery).
            for turn in queue.close():
                if turn.begun and turn.job is not None:
                    await self.outbox.retry_later(turn.job.id, self.storage.clock(), "stopped")
            await self.outbox.finish_fanout(
                fanout_id,
                jobs=self.result.jobs,
                sent=self.result.sent,
                retried=self.result.retried,
                failed=self.result.failed,
                messages=self.result.messages,
            )
        log.info(
            "fan-out: %d jobs, %d sent, %d messages, %d retried (%d × 429), %d failed, %d inactive, "
            "%d skipped in %.1f s",
            self.result.jobs,
            self.result.sent,
            self.result.messages,
            self.result.retried,
            self.result.rate_limited,
            self.result.failed,
            self.result.inactive,
            self.result.skipped,
            time.monotonic() - started,
        )
        return self.result

    async def _worker(self, queue: _ChatQueue) -> None:
        while (turn := await queue.get(self.stop)) is not None:
            try:
                await self._run_turn(turn)
            except _Requeue as again:
                queue.put_later(turn, again.delay)
            except TelegramUnauthorizedError:
                # The token is wrong: nothing can be sent; stop the fan-out, jobs stay queued.
                log.error("the bot token was refused (401): stopping delivery")
                self.result.errors.append("unauthorized")
                self.stop.set()
                return

    async def _run_turn(self, turn: _ChatTurn) -> None:
        """Deliver the chat's jobs from where its turn stands, until done, stopped or requeued."""
        while (job := turn.job) is not None:
            if self.stop.is_set():
                if turn.begun:
                    await self.outbox.retry_later(job.id, self.storage.clock(), "stopped")
                    turn.begun = False
                return
            if turn.gone:
                await self.outbox.mark_job_inactive(job.id, "chat inactive")
                turn.next_job()
                continue
            try:
                await self._deliver_job(job, turn)
            except (_Requeue, TelegramUnauthorizedError):
                raise
            except _JobOutcome as outcome:
                if outcome.state == "inactive":
                    turn.gone = True
            except Exception as error:  # one broken job never stops the fan-out
                log.exception("job %s failed unexpectedly", job.id)
                self.result.failed += 1
                await self.outbox.retry_later(
                    job.id,
                    self.storage.clock() + timedelta(seconds=self.config.failed_retry_delay),
                    repr(error),
                    failed=True,
                )
            turn.next_job()

    async def _sleep_unless_stopped(self, seconds: float) -> None:
        """Sleep, but wake at once when asked to stop (a 429 may ask for minutes)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stop.wait(), timeout=seconds)

    async def _deliver_job(self, job: OutboxJob, turn: _ChatTurn) -> None:
        if not turn.begun:
            if not await self.outbox.begin_job(job.id):
                # The list was read at the start of the fan-out; since then the job was parked, superseded
                # or sent. Sending it now could repeat a period the catch-up digest covers.
                log.info("job %s is no longer waiting: not sent", job.id)
                self.result.skipped += 1
                return
            turn.begun, turn.chat_id = True, job.chat_id
        for part in await self.outbox.parts(job.id):
            if part.done:
                continue  # accepted before (or in flight when a previous process died): never again
            if self.stop.is_set():
                await self.outbox.retry_later(job.id, self.storage.clock(), "stopped")
                turn.begun = False
                return
            try:
                await self._send_part(job, part, turn)
            except _JobOutcome as outcome:
                await self._settle(job, outcome)
                raise
        await self.outbox.complete_job(job.id)
        self.result.sent += 1

    async def _settle(self, job: OutboxJob, outcome: _JobOutcome) -> None:
        if outcome.state == "gone":  # taken away under us: whoever did it set its state
            self.result.skipped += 1
            return
        if outcome.state == "inactive":
            self.result.inactive += 1
            # deactivate() also marks the chat's pending jobs (this one included) inactive.
            await self.chats.deactivate(outcome.chat_id or job.chat_id, outcome.reason)
            await self.outbox.mark_job_inactive(job.id, outcome.reason)
            return
        if outcome.state == "failed":
            self.result.failed += 1
        at = outcome.retry_at or self.storage.clock() + timedelta(seconds=self.config.failed_retry_delay)
        await self.outbox.retry_later(job.id, at, outcome.reason, failed=outcome.state == "failed")

    async def _send_part(self, job: OutboxJob, part: OutboxPart, turn: _ChatTurn) -> None:
        """Send one part until Telegram accepts it (turn.chat_id may change on the way: a migration). A
        transient failure raises _Requeue: the part is `pending` again and the job stays taken."""
        while True:
            chat_id = turn.chat_id
            slot = await self.pacing.wait(chat_id)
            if slot is None or self.stop.is_set():
                raise _JobOutcome("retry", "stopped", self.storage.clock())
            request = self._method(chat_id, part)  # built before the mark: nothing but the send after it
            if not await self.outbox.mark_part_sending(job.id, part.seq):
                # The chat blocked the bot (the job is parked) and maybe came back (superseded: the catch-up
                # digest replaces this one whole) while we waited: the rest of this digest is not sent.
                raise _JobOutcome("gone", "no longer being sent")
            try:
                message = await self.bot(request)
            except TelegramRetryAfter as error:
                await self.outbox.mark_part_unsent(job.id, part.seq)
                self.result.retried += 1
                self.result.rate_limited += 1
                wait = float(error.retry_after)
                if wait > self.config.max_retry_after:
                    raise _JobOutcome(
                        "retry", f"429 retry_after={wait:g}", self.storage.clock() + timedelta(seconds=wait)
                    ) from error
                self.pacing.hold_chat(chat_id, wait)
                continue
            except TelegramMigrateToChat as error:
                await self.outbox.mark_part_unsent(job.id, part.seq)
                new_id = int(error.migrate_to_chat_id)
                if turn.migrated_from is not None and new_id == turn.migrated_from:
                    raise _JobOutcome("failed", "migration loop") from error
                await self.chats.migrate_chat_id(chat_id, new_id)
                log.info("chat %s migrated to %s: retrying there", chat_id, new_id)
                turn.migrated_from, turn.chat_id = chat_id, new_id
                self.result.migrated += 1
                continue
            except TelegramForbiddenError as error:
                await self.outbox.mark_part_unsent(job.id, part.seq)
                raise _JobOutcome("inactive", f"403: {error.message}", chat_id=chat_id) from error
            except (TelegramBadRequest, TelegramNotFound) as error:
                await self.outbox.mark_part_unsent(job.id, part.seq)
                if "chat not found" in error.message.lower() or "deactivated" in error.message.lower():
                    raise _JobOutcome("inactive", f"400: {error.message}", chat_id=chat_id) from error
                # Our message is wrong (markup, length): retrying the same text cannot help until fixed.
                log.error("job %s part %s refused: %s", job.id, part.seq, error.message)
                raise _JobOutcome("failed", f"400: {error.message}") from error
            except TelegramUnauthorizedError:
                await self.outbox.mark_part_unsent(job.id, part.seq)
                raise
            except (TelegramServerError, TelegramNetworkError, AiogramError, OSError) as error:
                # 5xx or a broken connection. A 5xx proves the message was not taken; a network error
                # probably does (see the module doc): send again later, a bounded number of times.
                await self.outbox.mark_part_unsent(job.id, part.seq)
                turn.transient += 1
                self.result.retried += 1
                if answer_not_taken(error):
                    self.pacing.refund(chat_id, slot)  # Telegram did not count it: another chat may use it
                if turn.transient > self.config.transient_retries:
                    raise _JobOutcome("failed", f"{type(error).__name__}: {error}") from error
                backoff = min(self.config.backoff_base * 2 ** (turn.transient - 1), self.config.backoff_max)
                backoff *= 0.5 + random.random() / 2
                # The worker goes on with other chats; this one comes back when both its backoff and its own
                # pace allow (so the worker that takes it up does not sleep either).
                raise _Requeue(max(backoff, self.pacing.chat_ready_in(chat_id))) from error
            # Accepted: record the message id in this same task, right now (the crash window ends here).
            await self.outbox.mark_part_sent(job.id, part.seq, message.message_id)
            turn.transient = 0
            self.result.messages += 1
            if self._on_accepted is not None:
                await self._on_accepted(job.id, part.seq, message.message_id)
            return

    @staticmethod
    def _method(chat_id: int, part: OutboxPart) -> SendMessage:
        markup = InlineKeyboardMarkup.model_validate_json(part.reply_markup) if part.reply_markup else None
        return SendMessage(
            chat_id=chat_id,
            text=part.text,
            parse_mode="HTML",
            link_preview_options=LinkPreviewOptions(is_disabled=True),
            reply_markup=markup,
        )


def delivery_bot(bot: Bot) -> Bot:
    """A Bot for deliveries: same token and API server, its own session without the retry and pacing
    middlewares (delivery paces and retries itself); errors still leave it with the token scrubbed."""
    delivery = Bot(token=bot.token, session=AiohttpSession(api=bot.session.api))
    delivery.session.middleware(RedactTokenMiddleware())
    delivery.session.middleware(PinResponseTypesMiddleware())
    return delivery


async def deliver_ready(
    bot: Bot,
    storage: Storage,
    config: DeliveryConfig,
    *,
    now: datetime | None = None,
    stop: asyncio.Event | None = None,
    kind: str = "digest",
    budget: SendBudget | None = None,
) -> FanoutResult:
    """Send every job that is ready now (within `budget`, the bot's overall send rate, when given)."""
    jobs = await storage.outbox.ready_jobs(now)
    return await Deliverer(bot, storage, config, stop=stop, budget=budget).deliver(jobs, kind=kind)


async def run_due(
    bot: Bot, storage: Storage, config: DeliveryConfig, *, now: datetime | None = None
) -> FanoutResult:
    """`govdigest digest run-due`: take the delivery lease, recover from a crash, create the due jobs, send
    everything ready now. With another live delivering process (the bot itself), nothing is done."""
    lease = DeliveryLease(storage)
    if not await lease.acquire():
        return FanoutResult(errors=[f"another process is delivering ({lease.other}); nothing done"])
    try:
        async with lease.renewing():
            await storage.outbox.recover_interrupted()
            await create_due_jobs(storage, now=now)
            return await deliver_ready(bot, storage, config, now=now)
    finally:
        await lease.release()


# --- one delivering process -------------------------------------------------------------------------------

LEASE_TTL = timedelta(seconds=120)
LEASE_RENEW_SECONDS = 30.0


def holder_alive(holder: str) -> bool:
    """Whether the lease holder `host:pid:token` may still run. On this host its pid is checked (a process
    killed with -9 is seen dead at once); a process elsewhere is presumed alive until its lease lapses."""
    host, _, rest = holder.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return True
    pid = int(pid_text)
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class DeliveryLease:
    """Only one process delivers (crash recovery turns in-flight parts into `uncertain`, which is only right
    when nobody else is sending them): `govdigest run`'s service and a cron `run-due` never overlap."""

    def __init__(self, storage: Storage) -> None:
        self.outbox = storage.outbox
        self.clock = storage.clock
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        self.other: str | None = None

    async def acquire(self, now: datetime | None = None) -> bool:
        """Take or renew the lease; False while another live process holds it (see `other`)."""
        moment = now or self.clock()
        current = await self.outbox.lease()
        expected = None if current is None else current.holder
        if (
            current is not None
            and current.holder != self.holder
            and current.expires_at > moment
            and holder_alive(current.holder)
        ):
            self.other = current.holder
            return False
        self.other = None
        return await self.outbox.take_lease(self.holder, expires_at=moment + LEASE_TTL, expected=expected)

    async def release(self) -> None:
        await self.outbox.release_lease(self.holder)

    @contextlib.asynccontextmanager
    async def renewing(self) -> AsyncIterator[None]:
        """Keep the lease fresh during a long fan-out."""

        async def renew() -> None:
            while True:
                await asyncio.sleep(LEASE_RENEW_SECONDS)
                try:
                    await self.acquire()
                except Exception:  # a missed renewal is retried; the lease lasts four of them
                    log.warning("could not renew the delivery lease", exc_info=True)

        task = asyncio.create_task(renew())
        try:
            yield
        finally:
            task.cancel()


# --- the background service -------------------------------------------------------------------------------

_wake_events: set[asyncio.Event] = set()


def request_delivery() -> None:
    """Wake the running digest service(s) now (after a /broadcast created jobs)."""
    for event in list(_wake_events):
        event.set()


async def _sleep_until(deadline: float, *events: asyncio.Event) -> None:
    timeout = max(deadline - time.monotonic(), 0.0)
    waiters = [asyncio.create_task(e.wait()) for e in events]
    try:
        await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()


async def digest_service(bot: Bot, storage: Storage, settings: Settings, stop: asyncio.Event) -> None:
    """Background service: create due jobs, deliver, sleep until the next due time (at most a minute)."""
    config = DeliveryConfig.from_settings(settings)
    outbox = storage.outbox
    lease = DeliveryLease(storage)
    recovered = False
    sender = delivery_bot(bot)
    # The bot's replies and this fan-out share one overall rate: Telegram counts both against the token.
    budget = send_budget_of(bot)
    wake = asyncio.Event()
    _wake_events.add(wake)
    try:
        while not stop.is_set():
            wake.clear()
            next_due: datetime | None = None
            try:
                if not await lease.acquire():
                    log.warning("another process is delivering digests (%s): waiting", lease.other)
                else:
                    if not recovered:
                        jobs, parts = await outbox.recover_interrupted()
                        recovered = True
                        if jobs or parts:
                            log.warning(
                                "recovered an interrupted fan-out: %d jobs resumed, %d parts uncertain",
                                jobs,
                                parts,
                            )
                    async with lease.renewing():
                        _, next_due = await create_due_jobs(storage)
                        await deliver_ready(sender, storage, config, stop=stop, budget=budget)
                    next_attempt = await outbox.next_attempt_at()
                    if next_attempt is not None:
                        next_due = next_attempt if next_due is None else min(next_due, next_attempt)
            except Exception:  # the service never dies of one bad cycle
                log.exception("digest cycle failed")
            sleep = MAX_SLEEP_SECONDS
            if next_due is not None:
                sleep = min(sleep, max((next_due - storage.clock()).total_seconds(), 0.5))
            await _sleep_until(time.monotonic() + sleep, stop, wake)
    finally:
        _wake_events.discard(wake)
        with contextlib.suppress(Exception):
            await lease.release()
        with contextlib.suppress(Exception):
            await sender.session.close()


# --- on-demand digests (/digest and the "next page" button) -----------------------------------------------


async def preview_digest(
    storage: Storage, chat_id: int, *, now: datetime | None = None, page: int = 0
) -> list[PartDraft]:
    """What the chat's next digest would hold if it were sent at `now` (schedule and outbox untouched).
    Nothing new → one "nothing new" part. The last part of a capped digest has the "next page" button
    (job 0, `until` = the period end) for `preview_digest(..., now=until, page=page + 1)`."""
    moment = (now or storage.clock()).astimezone(UTC)
    chat = await storage.chats.get(chat_id)
    if chat is None:
        return []
    subscription = await storage.subscriptions.get(chat_id)
    start = period_start(
        period_end=moment, last_period_end=chat.last_period_end, subscribed_since=subscription.since
    )
    composed = await DigestComposer(storage).compose(
        chat, subscription, start=start, end=moment, page=page, notice_when_empty=True
    )
    parts = composed.parts
    if parts and composed.remaining:
        until = int(moment.timestamp())
        parts[-1] = PartDraft(parts[-1].text, digest_markup(0, page + 1, chat.locale, until=until))
    return parts


async def digest_page(storage: Storage, job_id: int, page: int, *, chat_id: int) -> list[PartDraft]:
    """Page `page` of a sent digest (the "next page" button). A job of another chat or a page past the end
    gives one part saying the digest is no longer available."""
    outbox = storage.outbox
    job = await outbox.get_job(job_id)
    chat = await storage.chats.get(chat_id)
    locale = chat.locale if chat else "ru"
    if (
        job is None
        or chat is None
        or job.chat_id != chat_id
        or job.period_start is None
        or job.period_end is None
    ):
        return [PartDraft(text("digest.page_gone", locale))]
    size = job.page_size or max(len(job.items), 1)
    wanted = job.items[: (page + 1) * size]
    by_id = {a.id: a for a in await storage.articles.get_many(wanted)}
    ranked = [Candidate(by_id[i], 0.0) for i in job.items if i in by_id] + [
        Candidate(_placeholder(i), 0.0) for i in job.items[len(wanted) :]
    ]
    composer = DigestComposer(storage)
    page_ids = [c.article.id for c in ranked[page * size : (page + 1) * size]]
    view = render_digest(
        ranked,
        period_start=job.period_start,
        period_end=job.period_end,
        timezone=chat.timezone,
        locale=locale,
        max_items=size,
        page=page,
        clusters=await composer.clusters(page_ids),
    )
    if not view.messages:
        return [PartDraft(text("digest.page_gone", locale))]
    parts = [PartDraft(message) for message in view.messages]
    if view.remaining:
        parts[-1] = PartDraft(parts[-1].text, digest_markup(job_id, page + 1, locale))
    return parts


def _placeholder(article_id: int) -> StoredArticle:
    """Items after the requested page are only counted, never shown: a cheap stand-in keeps the count."""
    epoch = datetime.fromtimestamp(0, UTC)
    return StoredArticle(
        id=article_id,
        title="",
        lead="",
        body=(),
        published_at=epoch,
        views=None,
        source="",
        url=None,
        topics=frozenset(),
        is_gov_commission=False,
        content_hash="",
        ingested_at=epoch,
    )
