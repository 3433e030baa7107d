"""Delivery bookkeeping beside the PostgreSQL outbox (as storage/sqlite/delivery_runs.py): what each fan-out did
(table `fanouts`), who may run a once-per-database duty (table `leases`: one delivering process per database, however many
instances share it) and the signal the digest service sleeps on. A separate module so storage/postgres/outbox.py
stays about jobs and parts; `OutboxRepository` takes these methods from the mixins here, so the OutboxStore
Protocol stays one object.
"""

from __future__ import annotations

import asyncio
from datetime import datetime

import asyncpg

from bot.digest.records import FanoutStats, Lease
from storage.postgres.chats import db_time
from storage.postgres.database import PgDatabase


def _fanout(row: asyncpg.Record) -> FanoutStats:
    return FanoutStats(
        id=int(row["id"]),
        kind=row["kind"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        jobs=int(row["jobs"]),
        sent=int(row["sent"]),
        retried=int(row["retried"]),
        failed=int(row["failed"]),
        messages=int(row["messages"]),
    )


class FanoutStatsMethods:
    """The `fanouts` table: one row per fan-out, its counts filled in when it finishes."""

    db: PgDatabase

    async def start_fanout(self, kind: str, *, now: datetime | None = None) -> int:
        value = await self.db.fetchval(
            "INSERT INTO fanouts (kind, started_at) VALUES ($1, $2) RETURNING id",
            kind,
            db_time(now or self.db.clock()),
        )
        return int(value)

    async def finish_fanout(
        self, fanout_id: int, *, jobs: int, sent: int, retried: int, failed: int, messages: int
    ) -> None:
        await self.db.execute(
            "UPDATE fanouts SET finished_at = $1, jobs = $2, sent = $3, retried = $4, failed = $5, "
            "messages = $6 WHERE id = $7",
            db_time(self.db.clock()),
            jobs,
            sent,
            retried,
            failed,
            messages,
            fanout_id,
        )

    async def last_fanout(self, *, kind: str | None = None) -> FanoutStats | None:
        """The last finished fan-out that had work (for /stats)."""
        row = await self.db.fetchrow(
            "SELECT * FROM fanouts WHERE finished_at IS NOT NULL AND jobs > 0 "
            "AND ($1::text IS NULL OR kind = $1) ORDER BY id DESC LIMIT 1",
            kind,
        )
        return None if row is None else _fanout(row)


class DeliveryLeaseMethods:
    """The `leases` table: per duty (`delivery`, `poller`), the process allowed to run it and until when."""

    db: PgDatabase

    async def lease(self, name: str = "delivery") -> Lease | None:
        row = await self.db.fetchrow("SELECT holder, expires_at FROM leases WHERE name = $1", name)
        return None if row is None else Lease(holder=row["holder"], expires_at=row["expires_at"])

    async def take_lease(
        self, holder: str, *, expires_at: datetime, expected: str | None, name: str = "delivery"
    ) -> bool:
        """Compare-and-set: take (or renew) the lease if its holder is still `expected` (None = no lease) or
        already `holder`. False when someone else got there first."""
        expires = db_time(expires_at)
        # Each branch is one statement, so the comparison and the write are atomic across processes: a
        # concurrent INSERT waits on the unique key and then sees the winner's row; a concurrent UPDATE waits
        # on the row lock and re-checks its WHERE against the committed holder.
        if expected is None:
            # No lease expected: create it, or renew our own (the row of someone else stays as it is).
            row = await self.db.fetchrow(
                "INSERT INTO leases (name, holder, expires_at) VALUES ($3, $1, $2) "
                "ON CONFLICT (name) DO UPDATE SET expires_at = excluded.expires_at "
                "WHERE leases.holder = excluded.holder RETURNING 1",
                holder,
                expires,
                name,
            )
        else:
            # Taking over from `expected` (or renewing ours); a lease released meanwhile is not there to take
            # over: False, as on SQLite (the caller reads the lease again next time).
            row = await self.db.fetchrow(
                "UPDATE leases SET holder = $1, expires_at = $2 "
                "WHERE name = $4 AND holder IN ($1, $3) RETURNING 1",
                holder,
                expires,
                expected,
                name,
            )
        return row is not None

    async def release_lease(self, holder: str, name: str = "delivery") -> None:
        await self.db.execute("DELETE FROM leases WHERE name = $1 AND holder = $2", name, holder)


class QueuedJobsSignalMethods:
    """The signal the digest service sleeps on: jobs queued outside its cycle by this process
    (PgDatabase.jobs_queued); another instance's are found at the service's next regular look."""

    db: PgDatabase

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
