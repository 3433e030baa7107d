"""The PostgreSQL OutboxStore (storage/interfaces.py): delivery jobs, their rendered parts and each part's
Telegram message id, with the behaviour (and the job and part states) of storage/sqlite/outbox.py — read its
docstring for the life of a job. The parts' methods come from storage/postgres/outbox_parts.py; the fan-out
statistics, the delivery lease and the queued-jobs signal from storage/postgres/delivery_runs.py.

Several processes may share the database, so what SQLite gets from its single writer is explicit here: job
creation is idempotent by the unique (chat, kind, period_key) key (ON CONFLICT DO NOTHING); taking a job or a
part is one conditional UPDATE (a second taker finds the state changed and gets False); transactions that touch
a chat and its jobs lock the chat row first, so they run one after the other per chat, in a fixed lock order.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

import asyncpg

from bot.digest.records import (
    BROADCAST_MAX_AGE,
    SUPERSEDED,
    SUPERSEDED_KEY_PREFIX,
    OutboxCounts,
    OutboxJob,
    PartDraft,
    Reactivation,
)
from storage.postgres.chats import db_time
from storage.postgres.database import PgDatabase, affected
from storage.postgres.delivery_runs import DeliveryLeaseMethods, FanoutStatsMethods, QueuedJobsSignalMethods
from storage.postgres.outbox_parts import PartMethods, insert_parts


def _job(row: asyncpg.Record) -> OutboxJob:
    items = tuple(int(i) for i in json.loads(row["items"])) if row["items"] else ()
    return OutboxJob(
        id=int(row["id"]),
        chat_id=int(row["chat_id"]),
        kind=row["kind"],
        period_key=row["period_key"],
        period_start=row["period_start"],
        period_end=row["period_end"],
        broadcast_id=None if row["broadcast_id"] is None else int(row["broadcast_id"]),
        state=row["state"],
        attempts=int(row["attempts"]),
        next_attempt_at=row["next_attempt_at"],
        last_error=row["last_error"],
        items=items,
        page_size=None if row["page_size"] is None else int(row["page_size"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        finished_at=row["finished_at"],
    )


def digest_period_key(period_end: datetime) -> str:
    """The same key text as on SQLite (ISO 8601 UTC with seconds: `2026-11-26T06:00:00+00:00`), so a key
    means one thing on both backends."""
    return db_time(period_end).isoformat()


class OutboxRepository(PartMethods, FanoutStatsMethods, DeliveryLeaseMethods, QueuedJobsSignalMethods):
    """The outbox's jobs; their parts come from storage/postgres/outbox_parts.py, the fan-out statistics and
    the delivery lease from the mixins of storage/postgres/delivery_runs.py."""

    def __init__(self, db: PgDatabase) -> None:
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
        moment = db_time(now or self.db.clock())
        end = db_time(period_end)
        job_id: int | None = None
        async with self.db.transaction() as conn:
            # The chat row first: a deactivation running now either parks this job or comes after it, never
            # in between (which would leave a pending job of an inactive chat).
            await conn.execute("SELECT 1 FROM chats WHERE id = $1 FOR NO KEY UPDATE", chat_id)
            if parts:
                # Another process creating the same period waits on the unique key, then inserts nothing.
                job_id = await conn.fetchval(
                    """
                    INSERT INTO outbox_jobs
                        (chat_id, kind, period_key, period_start, period_end, state, next_attempt_at, items,
                         page_size, created_at, updated_at)
                    VALUES ($1, 'digest', $2, $3, $4, 'pending', $5, $6, $7, $5, $5)
                    ON CONFLICT (chat_id, kind, period_key) DO NOTHING
                    RETURNING id
                    """,
                    chat_id,
                    digest_period_key(end),
                    db_time(period_start),
                    end,
                    moment,
                    json.dumps(list(items)),
                    page_size,
                )
                if job_id is not None:
                    drafts = list(parts)
                    if last_part_markup is not None:
                        markup = last_part_markup(job_id)
                        if markup is not None:
                            drafts[-1] = PartDraft(drafts[-1].text, markup)
                    await insert_parts(conn, [job_id], drafts)
            await conn.execute(
                "UPDATE chats SET last_period_end = $1 WHERE id = $2 "
                "AND (last_period_end IS NULL OR last_period_end < $1)",
                end,
                chat_id,
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
        moment = db_time(now or self.db.clock())
        drafts = list(parts) if parts else [PartDraft(text)]
        targets = list(dict.fromkeys(chat_ids))  # a chat listed twice gets one job, as on SQLite
        async with self.db.transaction() as conn:
            broadcast_id = int(
                await conn.fetchval(
                    "INSERT INTO broadcasts (text, created_by, created_at) VALUES ($1, $2, $3) RETURNING id",
                    text,
                    created_by,
                    moment,
                )
            )
            # The chat rows first, in id order (deadlock-free against other such transactions), for the same
            # reason as in create_digest_job.
            await conn.execute(
                "SELECT 1 FROM chats WHERE id = ANY($1::bigint[]) ORDER BY id FOR NO KEY UPDATE", targets
            )
            # One statement for all the jobs, ids in the order of `chat_ids` (the order they are sent in).
            rows = await conn.fetch(
                """
                INSERT INTO outbox_jobs
                    (chat_id, kind, period_key, broadcast_id, state, next_attempt_at, created_at, updated_at)
                SELECT t.chat_id, 'broadcast', $2, $3, 'pending', $4, $4, $4
                FROM unnest($1::bigint[]) WITH ORDINALITY AS t (chat_id, position)
                ORDER BY t.position
                ON CONFLICT (chat_id, kind, period_key) DO NOTHING
                RETURNING id
                """,
                targets,
                f"broadcast:{broadcast_id}",
                broadcast_id,
                moment,
            )
            if rows:
                await insert_parts(conn, [int(r["id"]) for r in rows], drafts)
        self.db.jobs_queued.set()
        return broadcast_id

    # --- reading ------------------------------------------------------------------------------------------

    async def get_job(self, job_id: int) -> OutboxJob | None:
        row = await self.db.fetchrow("SELECT * FROM outbox_jobs WHERE id = $1", job_id)
        return None if row is None else _job(row)

    async def ready_jobs(self, now: datetime | None = None, *, limit: int = -1) -> list[OutboxJob]:
        """Pending and failed jobs whose next attempt is due, of active chats, oldest first."""
        rows = await self.db.fetch(
            """
            SELECT j.* FROM outbox_jobs AS j JOIN chats AS c ON c.id = j.chat_id
            WHERE j.state IN ('pending', 'failed') AND j.next_attempt_at <= $1 AND c.active
            ORDER BY j.next_attempt_at, j.id LIMIT $2
            """,
            db_time(now or self.db.clock()),
            None if limit < 0 else limit,
        )
        return [_job(row) for row in rows]

    async def next_attempt_at(self) -> datetime | None:
        """The earliest next attempt of a job waiting to be sent (for the service's sleep)."""
        value: datetime | None = await self.db.fetchval(
            "SELECT min(j.next_attempt_at) FROM outbox_jobs AS j JOIN chats AS c ON c.id = j.chat_id "
            "WHERE j.state IN ('pending', 'failed') AND c.active"
        )
        return value

    async def jobs_for_chat(self, chat_id: int, *, limit: int = 20) -> list[OutboxJob]:
        rows = await self.db.fetch(
            "SELECT * FROM outbox_jobs WHERE chat_id = $1 ORDER BY id DESC LIMIT $2",
            chat_id,
            None if limit < 0 else limit,
        )
        return [_job(row) for row in rows]

    async def job_items(self, job_id: int) -> tuple[int, ...]:
        job = await self.get_job(job_id)
        return () if job is None else job.items

    async def counts(self) -> OutboxCounts:
        jobs = {
            SUPERSEDED if r[1] else str(r[0]): int(r[2])
            for r in await self.db.fetch(
                "SELECT state, state = 'inactive' AND starts_with(period_key, $1), count(*) "
                "FROM outbox_jobs GROUP BY 1, 2",
                SUPERSEDED_KEY_PREFIX,
            )
        }
        parts = {
            str(r[0]): int(r[1])
            for r in await self.db.fetch("SELECT state, count(*) FROM outbox_parts GROUP BY state")
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
        # Two takers: the second waits for the first's row lock, re-checks the state, finds `sending`: False.
        row = await self.db.fetchrow(
            "UPDATE outbox_jobs SET state = 'sending', attempts = attempts + 1, updated_at = $1 "
            "WHERE id = $2 AND state IN ('pending', 'failed') RETURNING id",
            db_time(self.db.clock()),
            job_id,
        )
        return row is not None

    async def complete_job(self, job_id: int) -> None:
        await self.db.execute(
            "UPDATE outbox_jobs SET state = 'sent', last_error = NULL, finished_at = $1, updated_at = $1 "
            "WHERE id = $2 AND state != 'inactive'",
            db_time(self.db.clock()),
            job_id,
        )

    async def retry_later(self, job_id: int, at: datetime, error: str, *, failed: bool = False) -> None:
        """Back to the queue at `at`; `failed=True` when retries ran out (it shows in the status and is tried
        again next cycle)."""
        await self.db.execute(
            "UPDATE outbox_jobs SET state = $1, next_attempt_at = $2, last_error = $3, updated_at = $4 "
            "WHERE id = $5 AND state != 'inactive'",
            "failed" if failed else "pending",
            db_time(at),
            error[:500],
            db_time(self.db.clock()),
            job_id,
        )

    async def mark_job_inactive(self, job_id: int, reason: str) -> None:
        await self.db.execute(
            "UPDATE outbox_jobs SET state = 'inactive', last_error = $1, updated_at = $2 "
            "WHERE id = $3 AND state != 'inactive'",
            reason[:500],
            db_time(self.db.clock()),
            job_id,
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
        What happens to digests and broadcasts: storage/sqlite/outbox.py's `reactivate_jobs`.

        Idempotent: superseded jobs are never parked again."""
        moment = now or self.db.clock()
        stamp = db_time(moment)
        async with self.db.transaction() as conn:
            # The chat row, then its jobs (the lock order of `ChatRepository.deactivate`): a second comeback
            # of the same chat waits, then finds nothing parked any more.
            await conn.execute("SELECT 1 FROM chats WHERE id = $1 FOR NO KEY UPDATE", chat_id)
            parked = await conn.fetch(
                "SELECT id, kind, period_start, created_at FROM outbox_jobs "
                "WHERE chat_id = $1 AND state = 'inactive' AND NOT starts_with(period_key, $2) "
                "ORDER BY id FOR UPDATE",
                chat_id,
                SUPERSEDED_KEY_PREFIX,
            )
            requeue: list[int] = []
            supersede: list[int] = []
            resume_from: datetime | None = None
            for row in parked:
                created: datetime = row["created_at"]
                if row["kind"] == "broadcast" and moment - created < broadcast_max_age:
                    requeue.append(int(row["id"]))
                    continue
                supersede.append(int(row["id"]))
                start: datetime | None = row["period_start"]
                if row["kind"] == "digest" and start is not None:
                    resume_from = start if resume_from is None else min(resume_from, start)
            if supersede:
                await conn.execute(
                    "UPDATE outbox_jobs SET period_key = $1 || id, last_error = $2, updated_at = $3, "
                    "finished_at = $3 WHERE id = ANY($4::bigint[])",
                    SUPERSEDED_KEY_PREFIX,
                    SUPERSEDED,
                    stamp,
                    supersede,
                )
            if requeue:
                await conn.execute(
                    "UPDATE outbox_jobs SET state = 'pending', next_attempt_at = $1, updated_at = $1 "
                    "WHERE id = ANY($2::bigint[])",
                    stamp,
                    requeue,
                )
            if resume_from is not None:
                await conn.execute(
                    "UPDATE chats SET last_period_end = $1 WHERE id = $2 "
                    "AND (last_period_end IS NULL OR last_period_end > $1)",
                    resume_from,
                    chat_id,
                )
        if requeue:
            self.db.jobs_queued.set()
        return Reactivation(requeued=len(requeue), superseded=len(supersede), resume_from=resume_from)

    async def recover_interrupted(self) -> tuple[int, int]:
        """At start-up, before delivering: jobs left `sending` by a killed process go back to `pending`;
        parts left `sending` become `uncertain` (they reached Telegram or died on the way; resending could
        double them). Returns (jobs, parts) touched. Only one delivering process per database."""
        now = db_time(self.db.clock())
        async with self.db.transaction() as conn:
            parts = await conn.execute(
                "UPDATE outbox_parts SET state = 'uncertain', sent_at = $1 WHERE state = 'sending'", now
            )
            jobs = await conn.execute(
                "UPDATE outbox_jobs SET state = 'pending', updated_at = $1 WHERE state = 'sending'", now
            )
        return affected(jobs), affected(parts)
