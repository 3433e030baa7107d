"""The persistent delivery outbox: one job per (chat, digest period) or (chat, broadcast), its rendered parts,
and each part's Telegram message id.

Job states: pending → sending → sent; a job that ran out of retries is `failed` (tried again next cycle);
a job of a chat the bot cannot write to is `inactive` (parked). When the chat comes back, a parked job that
would only arrive late is *superseded*: it stays `inactive` for good, marked by its period key
`superseded:<id>` (which also frees its period for the catch-up digest) and `last_error = "superseded"`;
see `reactivate_jobs`. A sender takes a job only from `pending`/`failed` (`begin_job` says whether it got it)
and claims each part only while its job is `sending`, so a job parked or superseded under a running fan-out
is never sent from that fan-out's stale list; nothing a late worker reports revives an `inactive` job.
Part states: pending → sending → sent; a part found
`sending` after a crash was in flight when the process died and becomes `uncertain` (counted as delivered,
never sent again — see bot/digest/sender.py for why).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from bot.digest.records import (
    BROADCAST_MAX_AGE,
    SUPERSEDED,
    SUPERSEDED_KEY_PREFIX,
    OutboxCounts,
    OutboxJob,
    OutboxPart,
    PartDraft,
    Reactivation,
)
from storage.sqlite.database import Database
from storage.sqlite.delivery_runs import DeliveryLeaseMethods, FanoutStatsMethods, QueuedJobsSignalMethods
from storage.sqlite.times import from_db_time, to_db_time


def _job(row: sqlite3.Row) -> OutboxJob:
    items = tuple(int(i) for i in json.loads(row["items"])) if row["items"] else ()
    next_at = from_db_time(row["next_attempt_at"])
    created = from_db_time(row["created_at"])
    updated = from_db_time(row["updated_at"])
    assert next_at is not None and created is not None and updated is not None
    return OutboxJob(
        id=int(row["id"]),
        chat_id=int(row["chat_id"]),
        kind=row["kind"],
        period_key=row["period_key"],
        period_start=from_db_time(row["period_start"]),
        period_end=from_db_time(row["period_end"]),
        broadcast_id=row["broadcast_id"],
        state=row["state"],
        attempts=int(row["attempts"]),
        next_attempt_at=next_at,
        last_error=row["last_error"],
        items=items,
        page_size=None if row["page_size"] is None else int(row["page_size"]),
        created_at=created,
        updated_at=updated,
        finished_at=from_db_time(row["finished_at"]),
    )


def _part(row: sqlite3.Row) -> OutboxPart:
    return OutboxPart(
        job_id=int(row["job_id"]),
        seq=int(row["seq"]),
        text=row["text"],
        reply_markup=row["reply_markup"],
        state=row["state"],
        message_id=None if row["message_id"] is None else int(row["message_id"]),
        sent_at=from_db_time(row["sent_at"]),
    )


def digest_period_key(period_end: datetime) -> str:
    return to_db_time(period_end)


class OutboxRepository(FanoutStatsMethods, DeliveryLeaseMethods, QueuedJobsSignalMethods):
    """The outbox's jobs and parts; the fan-out statistics and the delivery lease come from the mixins of
    storage/sqlite/delivery_runs.py."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # --- creating jobs ------------------------------------------------------------------------------------

    async def create_digest_job(
        self,
        chat_id: int,
        *,
        period_start: datetime,
        period_end: datetime,
        parts: Sequence[PartDraft],
        items: Sequence[int] = (),
        page_size: int | None = None,
        last_part_markup: Callable[[int], str | None] | None = None,
        now: datetime | None = None,
    ) -> int | None:
        """Atomically: the job with its parts (unless this chat already has one for `period_end`) and the
        chat's `last_period_end` moved to `period_end`. With no parts (nothing new, no notice wanted) only the
        period advances. `last_part_markup(job_id)` gives the last part's reply markup (a "next page" button
        needs the job id). Returns the new job id, or None when no job was created."""
        moment = to_db_time(now or self.db.clock())
        key = digest_period_key(period_end)
        job_id: int | None = None
        async with self.db.transaction() as conn:
            if parts:
                cursor = await conn.execute(
                    """
                    INSERT OR IGNORE INTO outbox_jobs
                        (chat_id, kind, period_key, period_start, period_end, state, next_attempt_at, items,
                         page_size, created_at, updated_at)
                    VALUES (?, 'digest', ?, ?, ?, 'pending', ?, ?, ?, ?, ?)
                    """,
                    (
                        chat_id,
                        key,
                        to_db_time(period_start),
                        key,
                        moment,
                        json.dumps(list(items)),
                        page_size,
                        moment,
                        moment,
                    ),
                )
                if cursor.rowcount > 0:
                    job_id = int(cursor.lastrowid or 0)
                await cursor.close()
                if job_id is not None:
                    rows = [(job_id, seq, part.text, part.reply_markup) for seq, part in enumerate(parts)]
                    if last_part_markup is not None:
                        markup = last_part_markup(job_id)
                        if markup is not None:
                            rows[-1] = (job_id, len(rows) - 1, parts[-1].text, markup)
                    await conn.executemany(
                        "INSERT INTO outbox_parts (job_id, seq, text, reply_markup) VALUES (?, ?, ?, ?)", rows
                    )
            await conn.execute(
                "UPDATE chats SET last_period_end = ? WHERE id = ? "
                "AND (last_period_end IS NULL OR last_period_end < ?)",
                (key, chat_id, key),
            )
        return job_id

    async def create_broadcast(
        self,
        text: str,
        *,
        created_by: int | None,
        chat_ids: Sequence[int],
        parts: Sequence[PartDraft] | None = None,
        now: datetime | None = None,
    ) -> int:
        """A broadcast and one job per chat (same outbox, same pacing). `parts` default to the text as one
        message. Returns the broadcast id."""
        moment = to_db_time(now or self.db.clock())
        drafts = list(parts) if parts else [PartDraft(text)]
        async with self.db.transaction() as conn:
            cursor = await conn.execute(
                "INSERT INTO broadcasts (text, created_by, created_at) VALUES (?, ?, ?)",
                (text, created_by, moment),
            )
            broadcast_id = int(cursor.lastrowid or 0)
            await cursor.close()
            for chat_id in chat_ids:
                cursor = await conn.execute(
                    """
                    INSERT OR IGNORE INTO outbox_jobs
                        (chat_id, kind, period_key, broadcast_id, state, next_attempt_at,
                         created_at, updated_at)
                    VALUES (?, 'broadcast', ?, ?, 'pending', ?, ?, ?)
                    """,
                    (chat_id, f"broadcast:{broadcast_id}", broadcast_id, moment, moment, moment),
                )
                job_id = int(cursor.lastrowid or 0) if cursor.rowcount > 0 else None
                await cursor.close()
                if job_id is not None:
                    await conn.executemany(
                        "INSERT INTO outbox_parts (job_id, seq, text, reply_markup) VALUES (?, ?, ?, ?)",
                        [(job_id, seq, d.text, d.reply_markup) for seq, d in enumerate(drafts)],
                    )
        self.db.jobs_queued.set()
        return broadcast_id

    # --- reading ------------------------------------------------------------------------------------------

    async def get_job(self, job_id: int) -> OutboxJob | None:
        row = await self.db.fetchone("SELECT * FROM outbox_jobs WHERE id = ?", (job_id,))
        return None if row is None else _job(row)

    async def parts(self, job_id: int) -> list[OutboxPart]:
        rows = await self.db.fetchall("SELECT * FROM outbox_parts WHERE job_id = ? ORDER BY seq", (job_id,))
        return [_part(row) for row in rows]

    async def ready_jobs(self, now: datetime | None = None, *, limit: int = -1) -> list[OutboxJob]:
        """Pending and failed jobs whose next attempt is due, of active chats, oldest first."""
        rows = await self.db.fetchall(
            """
            SELECT j.* FROM outbox_jobs AS j JOIN chats AS c ON c.id = j.chat_id
            WHERE j.state IN ('pending', 'failed') AND j.next_attempt_at <= ? AND c.active = 1
            ORDER BY j.next_attempt_at, j.id LIMIT ?
            """,
            (to_db_time(now or self.db.clock()), limit),
        )
        return [_job(row) for row in rows]

    async def next_attempt_at(self) -> datetime | None:
        """The earliest next attempt of a job waiting to be sent (for the service's sleep)."""
        value = await self.db.fetchval(
            "SELECT min(j.next_attempt_at) FROM outbox_jobs AS j JOIN chats AS c ON c.id = j.chat_id "
            "WHERE j.state IN ('pending', 'failed') AND c.active = 1"
        )
        return from_db_time(value)

    async def jobs_for_chat(self, chat_id: int, *, limit: int = 20) -> list[OutboxJob]:
        rows = await self.db.fetchall(
            "SELECT * FROM outbox_jobs WHERE chat_id = ? ORDER BY id DESC LIMIT ?", (chat_id, limit)
        )
        return [_job(row) for row in rows]

    async def job_items(self, job_id: int) -> tuple[int, ...]:
        job = await self.get_job(job_id)
        return () if job is None else job.items

    async def counts(self) -> OutboxCounts:
        jobs = {
            SUPERSEDED if r[1] else str(r[0]): int(r[2])
            for r in await self.db.fetchall(
                "SELECT state, state = 'inactive' AND substr(period_key, 1, ?) = ?, count(*) "
                "FROM outbox_jobs GROUP BY 1, 2",
                (len(SUPERSEDED_KEY_PREFIX), SUPERSEDED_KEY_PREFIX),
            )
        }
        parts = {
            str(r[0]): int(r[1])
            for r in await self.db.fetchall("SELECT state, count(*) FROM outbox_parts GROUP BY state")
        }
        return OutboxCounts(
            pending=jobs.get("pending", 0),
            sending=jobs.get("sending", 0),
            sent=jobs.get("sent", 0),
            failed=jobs.get("failed", 0),
            inactive=jobs.get("inactive", 0),
            parts_sent=parts.get("sent", 0),
            parts_uncertain=parts.get("uncertain", 0),
            parts_pending=parts.get("pending", 0) + parts.get("sending", 0),
            superseded=jobs.get(SUPERSEDED, 0),
        )

    # --- delivering ---------------------------------------------------------------------------------------

    async def begin_job(self, job_id: int) -> bool:
        """Take the job for sending: only from `pending` or `failed`. False when it is no longer waiting —
        a fan-out works through a list read minutes ago, and meanwhile the job may have been parked (the chat
        blocked the bot), superseded (it came back: a catch-up digest covers the period) or sent."""
        return (
            await self.db.execute_rowcount(
                "UPDATE outbox_jobs SET state = 'sending', attempts = attempts + 1, updated_at = ? "
                "WHERE id = ? AND state IN ('pending', 'failed')",
                (to_db_time(self.db.clock()), job_id),
            )
            > 0
        )

    async def mark_part_sending(self, job_id: int, seq: int) -> bool:
        """Committed before the request: after a crash this part is known to have been in flight. False (and
        nothing marked) when the job is no longer being sent: it was taken away between two parts."""
        return (
            await self.db.execute_rowcount(
                "UPDATE outbox_parts SET state = 'sending' WHERE job_id = ? AND seq = ? AND state = 'pending' "
                "AND EXISTS (SELECT 1 FROM outbox_jobs WHERE id = ? AND state = 'sending')",
                (job_id, seq, job_id),
            )
            > 0
        )

    async def mark_part_unsent(self, job_id: int, seq: int) -> None:
        """The request failed in a way that proves Telegram did not take the message (an error answer)."""
        await self.db.execute(
            "UPDATE outbox_parts SET state = 'pending' WHERE job_id = ? AND seq = ? AND state = 'sending'",
            (job_id, seq),
        )

    async def mark_part_sent(self, job_id: int, seq: int, message_id: int) -> None:
        await self.db.execute(
            "UPDATE outbox_parts SET state = 'sent', message_id = ?, sent_at = ? "
            "WHERE job_id = ? AND seq = ?",
            (message_id, to_db_time(self.db.clock()), job_id, seq),
        )

    async def complete_job(self, job_id: int) -> None:
        now = to_db_time(self.db.clock())
        await self.db.execute(
            "UPDATE outbox_jobs SET state = 'sent', last_error = NULL, finished_at = ?, updated_at = ? "
            "WHERE id = ? AND state != 'inactive'",
            (now, now, job_id),
        )

    async def retry_later(self, job_id: int, at: datetime, error: str, *, failed: bool = False) -> None:
        """Back to the queue at `at`; `failed=True` when retries ran out (it shows in the status and is tried
        again next cycle)."""
        await self.db.execute(
            "UPDATE outbox_jobs SET state = ?, next_attempt_at = ?, last_error = ?, updated_at = ? "
            "WHERE id = ? AND state != 'inactive'",
            (
                "failed" if failed else "pending",
                to_db_time(at),
                error[:500],
                to_db_time(self.db.clock()),
                job_id,
            ),
        )

    async def mark_job_inactive(self, job_id: int, reason: str) -> None:
        await self.db.execute(
            "UPDATE outbox_jobs SET state = 'inactive', last_error = ?, updated_at = ? "
            "WHERE id = ? AND state != 'inactive'",
            (reason[:500], to_db_time(self.db.clock()), job_id),
        )

    async def reactivate_jobs(
        self,
        chat_id: int,
        *,
        now: datetime | None = None,
        broadcast_max_age: timedelta = BROADCAST_MAX_AGE,
    ) -> Reactivation:
        """The chat is coming back (call it before `ChatRepository.reactivate`, so the digest service never
        sees the chat active with its old schedule): decide the fate of its parked (`inactive`) jobs.

        - Digests: superseded. Sent now, they would arrive days late, one per missed period. Instead the
          chat's `last_period_end` goes back to the start of the earliest of them (the end of the last digest
          it got), so its next digest, due at once when a due time has passed, covers the whole gap as one
          message (capped by the schedule's MAX_LOOKBACK). A digest cut short by the block is replaced whole.
        - Broadcasts younger than `broadcast_max_age`: back in the queue, sent now; older ones superseded.

        Idempotent: superseded jobs are never parked again."""
        moment = now or self.db.clock()
        stamp = to_db_time(moment)
        async with self.db.transaction() as conn:
            async with conn.execute(
                "SELECT id, kind, period_start, created_at FROM outbox_jobs "
                "WHERE chat_id = ? AND state = 'inactive' AND substr(period_key, 1, ?) != ?",
                (chat_id, len(SUPERSEDED_KEY_PREFIX), SUPERSEDED_KEY_PREFIX),
            ) as cursor:
                parked = list(await cursor.fetchall())
            requeue: list[int] = []
            supersede: list[int] = []
            resume_from: datetime | None = None
            for row in parked:
                created = from_db_time(row["created_at"])
                if (
                    row["kind"] == "broadcast"
                    and created is not None
                    and moment - created < broadcast_max_age
                ):
                    requeue.append(int(row["id"]))
                    continue
                supersede.append(int(row["id"]))
                start = from_db_time(row["period_start"])
                if row["kind"] == "digest" and start is not None:
                    resume_from = start if resume_from is None else min(resume_from, start)
            await conn.executemany(
                "UPDATE outbox_jobs SET period_key = ? || id, last_error = ?, updated_at = ?, finished_at = ? "
                "WHERE id = ?",
                [(SUPERSEDED_KEY_PREFIX, SUPERSEDED, stamp, stamp, job_id) for job_id in supersede],
            )
            await conn.executemany(
                "UPDATE outbox_jobs SET state = 'pending', next_attempt_at = ?, updated_at = ? WHERE id = ?",
                [(stamp, stamp, job_id) for job_id in requeue],
            )
            if resume_from is not None:
                await conn.execute(
                    "UPDATE chats SET last_period_end = ? WHERE id = ? "
                    "AND (last_period_end IS NULL OR last_period_end > ?)",
                    (to_db_time(resume_from), chat_id, to_db_time(resume_from)),
                )
        if requeue:
            self.db.jobs_queued.set()
        return Reactivation(requeued=len(requeue), superseded=len(supersede), resume_from=resume_from)

    async def recover_interrupted(self) -> tuple[int, int]:
        """At start-up, before delivering: jobs left `sending` by a killed process go back to `pending`;
        parts left `sending` become `uncertain` (they reached Telegram or died on the way; resending could
        double them). Returns (jobs, parts) touched. Only one delivering process per database."""
        now = to_db_time(self.db.clock())
        async with self.db.transaction() as conn:
            parts = await conn.execute(
                "UPDATE outbox_parts SET state = 'uncertain', sent_at = ? WHERE state = 'sending'", (now,)
            )
            jobs = await conn.execute(
                "UPDATE outbox_jobs SET state = 'pending', updated_at = ? WHERE state = 'sending'", (now,)
            )
            result = (jobs.rowcount, parts.rowcount)
            await parts.close()
            await jobs.close()
        return result
