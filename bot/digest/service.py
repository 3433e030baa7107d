"""The background digest service of `govdigest run` (`digest_service`): under the delivery lease, recover an
interrupted fan-out once, create the due jobs, deliver, and sleep until the next due time or attempt (at most
MAX_SLEEP_SECONDS) or until jobs are queued (a /broadcast: `OutboxStore.wait_for_queued_jobs`); `run_due`,
the same cycle once for the CLI."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime

from aiogram import Bot

from bot.config import Settings
from bot.digest.jobs import create_due_jobs
from bot.digest.pacing import DeliveryConfig
from bot.digest.sender import FanoutResult, deliver_ready, delivery_bot
from bot.leases import DELIVERY, LEASE_RETRY_SECONDS, DutyLease, either_set
from bot.telegram.pacing import send_budget_of
from storage.errors import StorageUnavailable
from storage.interfaces import Storage

log = logging.getLogger(__name__)


# The service wakes at least this often (new subscribers, changed settings, retries).
MAX_SLEEP_SECONDS = 60.0


async def _sleep(storage: Storage, seconds: float, stop: asyncio.Event) -> None:
    """Sleep `seconds`, or less: until `stop`, or until jobs are queued (a /broadcast)."""
    waiters = [
        asyncio.create_task(stop.wait()),
        asyncio.create_task(storage.outbox.wait_for_queued_jobs(seconds)),
    ]
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()


async def digest_service(bot: Bot, storage: Storage, settings: Settings, stop: asyncio.Event) -> None:
    """Background service: create due jobs, deliver, sleep until the next due time (at most a minute)."""
    config = DeliveryConfig.from_settings(settings)
    outbox = storage.outbox
    lease = DutyLease(storage, DELIVERY)
    recovered = standing_by = False
    sender = delivery_bot(bot)
    # The bot's replies and this fan-out share one overall rate: Telegram counts both against the token.
    budget = send_budget_of(bot)
    try:
        while not stop.is_set():
            next_due: datetime | None = None
            waiting = False
            try:
                if not await lease.acquire():
                    if not standing_by:  # said once: a second instance waits here as long as the first runs
                        log.info("another process is delivering digests (%s): standing by", lease.other)
                    # Taking over later means recovering what the other holder left in flight.
                    recovered, standing_by, waiting = False, True, True
                else:
                    standing_by = False
                    if not recovered:
                        jobs, parts = await outbox.recover_interrupted()
                        recovered = True
                        if jobs or parts:
                            log.warning(
                                "recovered an interrupted fan-out: %d jobs resumed, %d parts uncertain",
                                jobs,
                                parts,
                            )
                    async with lease.renewing() as lost, either_set(stop, lost) as cycle_stop:
                        _, next_due = await create_due_jobs(storage)
                        await deliver_ready(sender, storage, config, stop=cycle_stop, budget=budget)
                    next_attempt = await outbox.next_attempt_at()
                    if next_attempt is not None:
                        next_due = next_attempt if next_due is None else min(next_due, next_attempt)
            except StorageUnavailable:
                # Logged once per outage by the storage. What was in flight is recovered when it is back
                # (parts left `sending` become `uncertain`: never sent twice); try again soon.
                recovered, waiting = False, True
            except Exception:  # the service never dies of one bad cycle
                log.exception("digest cycle failed")
                recovered = False
            sleep = LEASE_RETRY_SECONDS if waiting else MAX_SLEEP_SECONDS
            if next_due is not None:
                sleep = min(sleep, max((next_due - storage.clock()).total_seconds(), 0.5))
            await _sleep(storage, sleep, stop)
    finally:
        with contextlib.suppress(Exception):
            await lease.release()
        with contextlib.suppress(Exception):
            await sender.session.close()


async def run_due(
    bot: Bot, storage: Storage, config: DeliveryConfig, *, now: datetime | None = None
) -> FanoutResult:
    """`govdigest digest run-due`: take the delivery lease, recover from a crash, create the due jobs, send
    everything ready now. With another live delivering process (the bot itself), nothing is done."""
    lease = DutyLease(storage, DELIVERY)
    if not await lease.acquire():
        return FanoutResult(errors=[f"another process is delivering ({lease.other}); nothing done"])
    try:
        async with lease.renewing():
            await storage.outbox.recover_interrupted()
            await create_due_jobs(storage, now=now)
            return await deliver_ready(bot, storage, config, now=now)
    finally:
        await lease.release()
