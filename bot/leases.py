"""One delivering process: the delivery lease in the outbox (`DeliveryLease`), taken by the bot's digest
service and by `govdigest digest run-due`, renewed during a fan-out, and the check of whether its holder
still runs (`holder_alive`)."""

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
