"""The delivery outbox as the digest code sees it: jobs (one per chat and digest period, or per chat and
broadcast), their rendered parts, counts, fan-out statistics and the delivery lease."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

SUPERSEDED = "superseded"


# A parked broadcast younger than this is still worth sending when its chat comes back; older, it is news
# nobody wants late.
BROADCAST_MAX_AGE = timedelta(days=1)


JobKind = Literal["digest", "broadcast"]


JobState = Literal["pending", "sending", "sent", "failed", "inactive"]


PartState = Literal["pending", "sending", "sent", "uncertain"]


@dataclass(frozen=True, slots=True)
class PartDraft:
    """A rendered message to send: HTML text and an optional reply markup as JSON (aiogram model dump)."""

    text: str
    reply_markup: str | None = None


@dataclass(frozen=True, slots=True)
class OutboxPart:
    job_id: int
    seq: int
    text: str
    reply_markup: str | None
    state: PartState
    message_id: int | None
    sent_at: datetime | None

    @property
    def done(self) -> bool:
        return self.state in ("sent", "uncertain")


@dataclass(frozen=True, slots=True)
class OutboxJob:
    id: int
    chat_id: int
    kind: JobKind
    period_key: str
    period_start: datetime | None
    period_end: datetime | None
    broadcast_id: int | None
    state: JobState
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    items: tuple[int, ...]  # ranked article ids of the whole digest (all pages)
    page_size: int | None  # items per page (None = all on the first page)
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None

    @property
    def superseded(self) -> bool:
        """Parked, then dropped when its chat came back (a catch-up digest covers its period instead)."""
        return self.period_key.startswith(SUPERSEDED_KEY_PREFIX)


@dataclass(frozen=True, slots=True)
class Reactivation:
    """What `reactivate_jobs` did with a returning chat's parked jobs."""

    requeued: int  # broadcasts young enough to send now
    superseded: int  # digests (and stale broadcasts) dropped
    resume_from: datetime | None  # where the chat's next digest now starts (None: schedule unchanged)


@dataclass(frozen=True, slots=True)
class OutboxCounts:
    pending: int
    sending: int
    sent: int
    failed: int
    inactive: int
    parts_sent: int
    parts_uncertain: int
    parts_pending: int
    superseded: int = 0  # dropped when their chat came back (not counted in `inactive`)

    @property
    def total(self) -> int:
        return self.pending + self.sending + self.sent + self.failed + self.inactive + self.superseded


@dataclass(frozen=True, slots=True)
class FanoutStats:
    id: int
    kind: str
    started_at: datetime
    finished_at: datetime | None
    jobs: int
    sent: int
    retried: int
    failed: int
    messages: int

    @property
    def duration(self) -> timedelta | None:
        return None if self.finished_at is None else self.finished_at - self.started_at


@dataclass(frozen=True, slots=True)
class Lease:
    holder: str
    expires_at: datetime


SUPERSEDED_KEY_PREFIX = "superseded:"
