"""Once-per-database duties: a named lease in the outbox (`DutyLease`): `delivery` (the digest service and
`govdigest digest run-due`) and `poller` (the source poller), so with several instances on one database
exactly one delivers and one polls. Taken and renewed every LEASE_RENEW_SECONDS while the duty runs; when its
holder dies, another instance takes over within LEASE_TTL + LEASE_RETRY_SECONDS (at once on the same host,
where a dead pid is seen: `holder_alive`). A holder that cannot renew stops its duty before its lease lapses
(`renewing()` sets `lost`), so two instances never run it at once unless their clocks disagree by more than
LEASE_SAFETY."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
from collections.abc import AsyncIterator
from datetime import datetime, timedelta

from storage.interfaces import Storage

log = logging.getLogger(__name__)


LEASE_TTL = timedelta(seconds=20)
LEASE_RENEW_SECONDS = 5.0
# A waiting instance asks for the lease this often (so a dead holder is replaced within TTL + this).
LEASE_RETRY_SECONDS = 5.0
# The holder gives its duty up this long before its lease would lapse when it could not renew.
LEASE_SAFETY = timedelta(seconds=5)
DELIVERY = "delivery"
POLLER = "poller"


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


class DutyLease:
    """Only one process runs the duty `name` per database. Delivery: crash recovery turns in-flight parts into
    `uncertain`, which is only right when nobody else is sending them, so `govdigest run`'s service, a cron
    `run-due` and other instances never overlap. Polling: each due source is polled once per interval."""

    def __init__(self, storage: Storage, name: str = DELIVERY) -> None:
        self.outbox = storage.outbox
        self.clock = storage.clock
        self.name = name
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        self.other: str | None = None
        self.valid_until: datetime | None = None

    async def acquire(self, now: datetime | None = None) -> bool:
        """Take or renew the lease; False while another live process holds it (see `other`)."""
        moment = now or self.clock()
        current = await self.outbox.lease(self.name)
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
        taken = await self.outbox.take_lease(
            self.holder, expires_at=moment + LEASE_TTL, expected=expected, name=self.name
        )
        if taken:
            self.valid_until = moment + LEASE_TTL
        return taken

    async def release(self) -> None:
        self.valid_until = None
        await self.outbox.release_lease(self.holder, self.name)

    @contextlib.asynccontextmanager
    async def renewing(self) -> AsyncIterator[asyncio.Event]:
        """Keep the lease fresh while the duty runs. The event it gives is set when the lease is lost (another
        holder took it) or could not be renewed until LEASE_SAFETY before it lapses: stop the duty then."""
        lost = asyncio.Event()

        async def renew() -> None:
            while not lost.is_set():
                await asyncio.sleep(LEASE_RENEW_SECONDS)
                try:
                    if not await self.acquire():
                        log.warning("the %s lease went to %s: stopping", self.name, self.other)
                        lost.set()
                except Exception as error:  # a missed renewal is retried while the lease still holds
                    log.warning("could not renew the %s lease: %s", self.name, error)
                    if self.valid_until is None or self.clock() >= self.valid_until - LEASE_SAFETY:
                        log.warning("the %s lease is about to lapse: stopping", self.name)
                        lost.set()

        task = asyncio.create_task(renew())
        try:
            yield lost
        finally:
            task.cancel()


@contextlib.asynccontextmanager
async def either_set(*events: asyncio.Event) -> AsyncIterator[asyncio.Event]:
    """An event set as soon as any of `events` is (the process stopping, a duty's lease lost)."""
    combined = asyncio.Event()

    async def watch(event: asyncio.Event) -> None:
        await event.wait()
        combined.set()

    watchers = [asyncio.create_task(watch(event)) for event in events]
    try:
        yield combined
    finally:
        for watcher in watchers:
            watcher.cancel()
