"""Delivery bookkeeping beside the outbox: what each fan-out did (table `fanouts`, for /stats and the CLI) and who
may run a once-per-database duty (table `leases`: one delivering process, one polling process). `OutboxRepository` takes its
`start_fanout`/`finish_fanout`/`last_fanout`, `lease`/`take_lease`/`release_lease` and `wait_for_queued_jobs` (the
signal the digest service sleeps on) from the mixins here, so the OutboxStore Protocol (storage/interfaces.py)
stays one object.
"""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import datetime

from bot.digest.records import FanoutStats, Lease
from storage.sqlite.database import Database
from storage.sqlite.times import from_db_time, to_db_time


def _fanout(row: sqlite3.Row) -> FanoutStats:
    started = from_db_time(row["started_at"])
    assert started is not None
    return FanoutStats(
        id=int(row["id"]),
        kind=row["kind"],
        started_at=started,
        finished_at=from_db_time(row["finished_at"]),
        jobs=int(row["jobs"]),
        sent=int(row["sent"]),
        retried=int(row["retried"]),
        failed=int(row["failed"]),
        messages=int(row["messages"]),
    )


class FanoutStatsMethods:
    """The `fanouts` table: one row per fan-out, its counts filled in when it finishes."""

    db: Database

    async def start_fanout(self, kind: str, *, now: datetime | None = None) -> int:
        return await self.db.execute(
            "INSERT INTO fanouts (kind, started_at) VALUES (?, ?)", (kind, to_db_time(now or self.db.clock()))
        )

    async def finish_fanout(
        self, fanout_id: int, *, jobs: int, sent: int, retried: int, failed: int, messages: int
    ) -> None:
        await self.db.execute(
            "UPDATE fanouts SET finished_at = ?, jobs = ?, sent = ?, retried = ?, failed = ?, messages = ? "
            "WHERE id = ?",
            (to_db_time(self.db.clock()), jobs, sent, retried, failed, messages, fanout_id),
        )

    async def last_fanout(self, *, kind: str | None = None) -> FanoutStats | None:
        """The last finished fan-out that had work (for /stats)."""
        row = await self.db.fetchone(
            "SELECT * FROM fanouts WHERE finished_at IS NOT NULL AND jobs > 0 AND (? IS NULL OR kind = ?) "
            "ORDER BY id DESC LIMIT 1",
            (kind, kind),
        )
        return None if row is None else _fanout(row)


class DeliveryLeaseMethods:
    """The `leases` table: per duty (`delivery`, `poller`), the process allowed to run it and until when."""

    db: Database

    async def lease(self, name: str = "delivery") -> Lease | None:
        row = await self.db.fetchone("SELECT holder, expires_at FROM leases WHERE name = ?", (name,))
        if row is None:
            return None
        expires = from_db_time(row["expires_at"])
        assert expires is not None
        return Lease(holder=row["holder"], expires_at=expires)

    async def take_lease(
        self, holder: str, *, expires_at: datetime, expected: str | None, name: str = "delivery"
    ) -> bool:
        """Compare-and-set: take (or renew) the lease if its holder is still `expected` (None = no lease) or
        already `holder`. False when someone else got there first."""
        async with self.db.transaction() as conn:
            async with conn.execute("SELECT holder FROM leases WHERE name = ?", (name,)) as cursor:
                row = await cursor.fetchone()
            current = None if row is None else str(row[0])
            if current not in (expected, holder):
                return False
            await conn.execute(
                "INSERT INTO leases (name, holder, expires_at) VALUES (?, ?, ?) "
                "ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at",
                (name, holder, to_db_time(expires_at)),
            )
        return True

    async def release_lease(self, holder: str, name: str = "delivery") -> None:
        await self.db.execute("DELETE FROM leases WHERE name = ? AND holder = ?", (name, holder))


class QueuedJobsSignalMethods:
    """The signal the digest service sleeps on: jobs queued outside its cycle (Database.jobs_queued)."""

    db: Database

    async def wait_for_queued_jobs(self, seconds: float) -> bool:
        """Wait up to `seconds` for jobs queued since the last call (create_broadcast, a requeue);
        True when there are some."""
        if not self.db.jobs_queued.is_set():
            try:
                await asyncio.wait_for(self.db.jobs_queued.wait(), max(seconds, 0.0))
            except TimeoutError:
                return False
        self.db.jobs_queued.clear()
        return True
