"""The parts of a PostgreSQL outbox job (table `outbox_parts`): storing a job's rendered messages, reading them,
and each part's delivery state (pending → sending → sent; `uncertain` after a crash). Split from
storage/postgres/outbox.py to keep that module about jobs; `OutboxRepository` takes these methods from
`PartMethods`, so the OutboxStore Protocol stays one object.
"""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from bot.digest.records import OutboxPart, PartDraft
from storage.postgres.chats import db_time
from storage.postgres.database import Connection, PgDatabase


def _part(row: asyncpg.Record) -> OutboxPart:
    return OutboxPart(
        job_id=int(row["job_id"]),
        seq=int(row["seq"]),
        text=row["text"],
        reply_markup=row["reply_markup"],
        state=row["state"],
        message_id=None if row["message_id"] is None else int(row["message_id"]),
        sent_at=row["sent_at"],
    )


_INSERT_PARTS = (
    "INSERT INTO outbox_parts (job_id, seq, text, reply_markup) "
    "SELECT j, p.seq, p.text, p.markup FROM unnest($1::bigint[]) AS j "
    "CROSS JOIN unnest($2::int[], $3::text[], $4::text[]) AS p (seq, text, markup)"
)


async def insert_parts(conn: Connection, job_ids: Sequence[int], drafts: Sequence[PartDraft]) -> None:
    """The same parts (seq 0, 1, ...) for every job in `job_ids`, in one statement however many jobs."""
    await conn.execute(
        _INSERT_PARTS,
        list(job_ids),
        list(range(len(drafts))),
        [d.text for d in drafts],
        [d.reply_markup for d in drafts],
    )


class PartMethods:
    """Reading a job's parts and moving each through its delivery states."""

    db: PgDatabase

    async def parts(self, job_id: int) -> list[OutboxPart]:
        rows = await self.db.fetch("SELECT * FROM outbox_parts WHERE job_id = $1 ORDER BY seq", job_id)
        return [_part(row) for row in rows]

    async def mark_part_sending(self, job_id: int, seq: int) -> bool:
        """Committed before the request: after a crash this part is known to have been in flight. False (and
        nothing marked) when the job is no longer being sent: it was taken away between two parts."""
        # FOR SHARE on the job: a concurrent change of its state (parking, superseding) is waited for and its
        # outcome seen, not a snapshot from before it; and none can slip in until the part is marked.
        row = await self.db.fetchrow(
            """
            WITH job AS (SELECT id FROM outbox_jobs WHERE id = $1 AND state = 'sending' FOR SHARE)
            UPDATE outbox_parts AS p SET state = 'sending'
            FROM job WHERE p.job_id = job.id AND p.seq = $2 AND p.state = 'pending'
            RETURNING p.seq
            """,
            job_id,
            seq,
        )
        return row is not None

    async def mark_part_unsent(self, job_id: int, seq: int) -> None:
        """The request failed in a way that proves Telegram did not take the message (an error answer)."""
        await self.db.execute(
            "UPDATE outbox_parts SET state = 'pending' WHERE job_id = $1 AND seq = $2 AND state = 'sending'",
            job_id,
            seq,
        )

    async def mark_part_sent(self, job_id: int, seq: int, message_id: int) -> None:
        await self.db.execute(
            "UPDATE outbox_parts SET state = 'sent', message_id = $1, sent_at = $2 WHERE job_id = $3 AND seq = $4",
            message_id,
            db_time(self.db.clock()),
            job_id,
            seq,
        )
