"""Sending outbox jobs: every job's parts in order at Telegram's pace (bot/digest/pacing.py), one worker per
chat at a time (bot/digest/turns.py), each part's fate recorded in the outbox (`Deliverer`, `deliver_ready`),
and the delivery's own Bot session (`delivery_bot`).

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

Errors: On 429 that chat waits `retry_after` and retries. 5xx and network errors retry with exponential
backoff and jitter a bounded number of times, then the job waits for the next cycle as `failed`; during the
backoff the chat is out of the queue and its worker sends to other chats, so a failing chat never slows the
fan-out. A 5xx also gives its slots back (overall and the chat's: Telegram did not count the message). 403
makes the chat inactive (no more jobs; subscriptions kept). 400 with migrate_to_chat_id rewrites the chat id
everywhere and retries in the new chat.

Deliveries use their own HTTP session without the bot's request middlewares: a middleware that sleeps (pacing,
429 or 5xx retry) after the `sending` mark would widen the window above, and one that retries would hide
failed attempts from the part bookkeeping here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

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
from aiogram.types import InlineKeyboardMarkup, LinkPreviewOptions

from bot.digest.pacing import DeliveryConfig, _Pacing
from bot.digest.records import OutboxJob, OutboxPart
from bot.digest.turns import _ChatQueue, _ChatTurn
from bot.telegram.pacing import SendBudget
from bot.telegram.redaction import RedactTokenMiddleware
from bot.telegram.retries import answer_not_taken
from bot.telegram.session import PinResponseTypesMiddleware
from storage.errors import StorageUnavailable
from storage.interfaces import Storage

log = logging.getLogger(__name__)


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
        if (
            budget is None
        ):  # a budget of its own (the CLI's run-due): shared with other instances all the same
            self.pacing.budget.share(storage.shared_limits)
        self.result = FanoutResult()
        self._unavailable: StorageUnavailable | None = None
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
            if self._unavailable is not None:
                # The database went away mid fan-out: the cycle fails here, the service recovers what was in
                # flight once it is back (bot/digest/service.py), and nothing below could be written anyway.
                raise self._unavailable
        finally:
            for worker in workers:
                worker.cancel()
            if self._unavailable is None:
                await self._close_fanout(queue, fanout_id, started)
        return self.result

    async def _close_fanout(self, queue: _ChatQueue, fanout_id: int, started: float) -> None:
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

    async def _worker(self, queue: _ChatQueue) -> None:
        while (turn := await queue.get(self.stop)) is not None:
            try:
                await self._run_turn(turn)
            except _Requeue as again:
                queue.put_later(turn, again.delay)
            except StorageUnavailable as error:
                # The database is away: every worker would fail the same way; stop the fan-out (deliver
                # raises it once the workers are done).
                self._unavailable = error
                self.stop.set()
                return
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
            except (_Requeue, TelegramUnauthorizedError, StorageUnavailable):
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
