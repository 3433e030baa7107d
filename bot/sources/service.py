"""The sources' background service for `govdigest run`: load the shipped sources on first start, poll the due
sources, alert the admins, sleep until the next one is due; it never dies of one bad cycle."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aiogram import Bot

from bot.clock import Clock
from bot.config import Settings
from bot.leases import LEASE_RETRY_SECONDS, POLLER, DutyLease, either_set
from bot.sources.alerts import send_alerts
from bot.sources.defaults import DefaultsError
from bot.sources.fetch import Fetcher
from bot.sources.poller import fetcher_for, load_defaults_if_empty, poll_once
from bot.sources.report import PollReport
from storage.errors import StorageUnavailable
from storage.interfaces import SourceStore, Storage

log = logging.getLogger(__name__)


# The service wakes at least this often to look for due sources, and never more often than MIN_SLEEP.
MAX_SLEEP_SECONDS = 60.0


MIN_SLEEP_SECONDS = 5.0


# After a failed cycle (the database locked, say) the service waits this long, doubling to the cap.
ERROR_BACKOFF_FIRST_SECONDS = 5.0


ERROR_BACKOFF_MAX_SECONDS = 300.0


def error_backoff(failures: int) -> float:
    """Seconds to wait after `failures` failed cycles in a row: 5 s, 10 s, 20 s... at most 5 minutes."""
    exponent = min(max(failures, 1) - 1, 16)  # bounded, so a long outage cannot overflow the float
    return min(ERROR_BACKOFF_MAX_SECONDS, ERROR_BACKOFF_FIRST_SECONDS * 2.0**exponent)


async def _load_defaults(repo: SourceStore) -> bool:
    """First-start loading of the default sources; False when it should be tried again (a database error)."""
    try:
        await load_defaults_if_empty(repo)
    except DefaultsError as error:  # a broken defaults file must not keep the bot from polling its sources
        log.error("default sources not loaded: %s", error)
    except Exception:
        log.exception("loading the default sources failed; trying again at the next cycle")
        return False
    return True


async def _poll_unless_stopped(
    storage: Storage, settings: Settings, fetcher: Fetcher, stop: asyncio.Event
) -> PollReport | None:
    """One poll, or None when `stop` was set first (the poll is cancelled)."""
    poll = asyncio.create_task(poll_once(storage, settings, fetcher=fetcher))
    stopping = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({poll, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopping.cancel()
        if not poll.done():
            poll.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await poll
    return None if poll.cancelled() else poll.result()


async def _next_delay(repo: SourceStore, clock: Clock) -> float:
    next_due = await repo.next_due_at()
    delay = MAX_SLEEP_SECONDS
    if next_due is not None:
        delay = (next_due - clock()).total_seconds()
    return min(MAX_SLEEP_SECONDS, max(MIN_SLEEP_SECONDS, delay))


async def polling_service(bot: Bot, storage: Storage, settings: Settings, stop: asyncio.Event) -> None:
    """Background service for `govdigest run`: poll due sources, alert admins, sleep until the next is due.

    It never dies of one bad cycle: any error is logged with its traceback and the cycle is tried again after
    a growing pause (error_backoff). It returns promptly once `stop` is set."""
    repo = storage.sources
    defaults_loaded = not settings.load_default_sources or await _load_defaults(repo)
    failures = 0
    # Several instances on one database: one polls (each due source once per interval), the others stand by.
    lease = DutyLease(storage, POLLER)
    standing_by = False
    async with fetcher_for(settings) as fetcher:
        while not stop.is_set():
            try:
                if not defaults_loaded:
                    defaults_loaded = await _load_defaults(repo)
                if not await lease.acquire():
                    if not standing_by:
                        log.info("another process is polling the sources (%s): standing by", lease.other)
                    standing_by = True
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), LEASE_RETRY_SECONDS)
                    continue
                standing_by = False
                async with lease.renewing() as lost, either_set(stop, lost) as poll_stop:
                    report = await _poll_unless_stopped(storage, settings, fetcher, poll_stop)
                if report is None:
                    if stop.is_set():
                        return
                    continue  # the lease was lost mid-poll: the new holder polls what is still due
                if report.polled:
                    log.info(
                        "polled %d sources: %d new, %d duplicates, %d not modified, %d errors (%.1f s)",
                        report.polled,
                        report.new,
                        report.duplicates,
                        report.not_modified,
                        report.errors,
                        report.elapsed_seconds,
                    )
                try:
                    await send_alerts(bot, settings, repo, report.alerts)
                except Exception:
                    log.exception("sending source alerts failed")
                delay = await _next_delay(repo, storage.clock)
                failures = 0
            except StorageUnavailable:  # logged once per outage by the storage: just wait and try again
                failures += 1
                delay = min(error_backoff(failures), MAX_SLEEP_SECONDS)
            except Exception:  # the service never dies of one bad cycle
                failures += 1
                delay = error_backoff(failures)
                log.exception("polling cycle failed (%d in a row); next try in %.0f s", failures, delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
    with contextlib.suppress(Exception):
        await lease.release()
