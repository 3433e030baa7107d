"""OutboxStore on every backend: idempotent jobs, part states, crash recovery, counts, broadcasts, fan-out
stats, the delivery lease; and what several processes sharing one database must not break (racing workers,
lease takers, job creators).

Why this file is long: it is the outbox's whole contract, run against each backend, plus the races only a
shared PostgreSQL database has (held locks); split, the two halves would repeat the same fixtures."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable
from datetime import UTC, datetime, timedelta

import pytest

from bot.digest.records import PartDraft, Reactivation
from storage.interfaces import OutboxStore, Storage
from storage.postgres import PostgresStorage
from storage.postgres.outbox import OutboxRepository as PgOutboxRepository
from storage.sqlite import SqliteStorage
from storage.sqlite.outbox import OutboxRepository as SqliteOutboxRepository
from tests.conftest import TEST_NOW

START = datetime(2026, 11, 25, 6, tzinfo=UTC)
END = datetime(2026, 11, 26, 6, tzinfo=UTC)


@pytest.fixture
async def outbox(storage: Storage) -> OutboxStore:
    for chat_id in (1, 2, 3):
        await storage.chats.upsert(chat_id, type="private")
    return storage.outbox


async def force_state(storage: Storage, job_id: int, state: str) -> None:
    """Put a job in any state (no repository method does that out of order: only a test needs it)."""
    if isinstance(storage, SqliteStorage):
        await storage.db.execute("UPDATE outbox_jobs SET state = ? WHERE id = ?", (state, job_id))
    else:
        assert isinstance(storage, PostgresStorage)
        await storage.db.execute("UPDATE outbox_jobs SET state = $1 WHERE id = $2", state, job_id)


def second_outbox(storage: Storage) -> OutboxStore:
    """Another repository over the same database (what another part of the process would build)."""
    if isinstance(storage, SqliteStorage):
        return SqliteOutboxRepository(storage.db)
    assert isinstance(storage, PostgresStorage)
    return PgOutboxRepository(storage.db)


async def test_one_job_per_chat_and_period(outbox: OutboxStore, storage: Storage) -> None:
    first = await outbox.create_digest_job(
        1,
        period_start=START,
        period_end=END,
        parts=[PartDraft("a"), PartDraft("b")],
        items=[5, 4],
        page_size=1,
        last_part_markup=lambda job_id: f'{{"job": {job_id}}}',
    )
    assert first is not None
    assert (
        await outbox.create_digest_job(1, period_start=START, period_end=END, parts=[PartDraft("c")]) is None
    )
    parts = await outbox.parts(first)
    assert [(p.seq, p.text, p.state) for p in parts] == [(0, "a", "pending"), (1, "b", "pending")]
    assert parts[0].reply_markup is None and parts[1].reply_markup == f'{{"job": {first}}}'
    job = await outbox.get_job(first)
    assert job is not None and job.items == (5, 4) and job.page_size == 1 and job.period_end == END
    chat = await storage.chats.get(1)
    assert chat is not None and chat.last_period_end == END


async def test_empty_digest_only_advances_the_period(outbox: OutboxStore, storage: Storage) -> None:
    assert await outbox.create_digest_job(2, period_start=START, period_end=END, parts=[]) is None
    chat = await storage.chats.get(2)
    assert chat is not None and chat.last_period_end == END
    assert (await outbox.counts()).total == 0
    # an older period never moves it back
    await outbox.create_digest_job(2, period_start=START - timedelta(days=2), period_end=START, parts=[])
    assert (await storage.chats.get(2)).last_period_end == END  # type: ignore[union-attr]


async def test_part_lifecycle_and_crash_recovery(outbox: OutboxStore) -> None:
    job_id = await outbox.create_digest_job(
        1, period_start=START, period_end=END, parts=[PartDraft("a"), PartDraft("b"), PartDraft("c")], now=END
    )
    assert job_id is not None
    assert [j.id for j in await outbox.ready_jobs(END)] == [job_id]
    await outbox.begin_job(job_id)
    await outbox.mark_part_sending(job_id, 0)
    await outbox.mark_part_sent(job_id, 0, 101)
    await outbox.mark_part_sending(job_id, 1)  # ... and the process dies here
    assert await outbox.ready_jobs(END) == []  # a job being sent is not ready
    assert await outbox.recover_interrupted() == (1, 1)
    parts = await outbox.parts(job_id)
    assert [(p.state, p.message_id) for p in parts] == [("sent", 101), ("uncertain", None), ("pending", None)]
    assert [p.done for p in parts] == [True, True, False]
    job = await outbox.get_job(job_id)
    assert job is not None and job.state == "pending" and job.attempts == 1
    assert await outbox.recover_interrupted() == (0, 0)


async def test_unsent_part_goes_back_to_pending(outbox: OutboxStore) -> None:
    job_id = await outbox.create_digest_job(1, period_start=START, period_end=END, parts=[PartDraft("a")])
    assert job_id is not None
    assert await outbox.begin_job(job_id)
    assert await outbox.mark_part_sending(job_id, 0)
    assert (await outbox.parts(job_id))[0].state == "sending"
    await outbox.mark_part_unsent(job_id, 0)
    assert (await outbox.parts(job_id))[0].state == "pending"


async def test_retry_failed_complete_and_counts(outbox: OutboxStore, storage: Storage) -> None:
    ids = []
    for chat_id in (1, 2, 3):
        job = await outbox.create_digest_job(
            chat_id, period_start=START, period_end=END, parts=[PartDraft("a")]
        )
        assert job is not None
        ids.append(job)
    later = END + timedelta(minutes=5)
    await outbox.retry_later(ids[0], later, "network", failed=True)
    await outbox.complete_job(ids[1])
    await storage.chats.deactivate(3, "403")
    counts = await outbox.counts()
    assert (counts.pending, counts.sent, counts.failed, counts.inactive) == (0, 1, 1, 1)
    assert await outbox.ready_jobs(END) == []
    assert [j.id for j in await outbox.ready_jobs(later)] == [ids[0]]  # failed jobs come back next cycle
    assert await outbox.next_attempt_at() == later
    back = await outbox.reactivate_jobs(3)
    assert (back.requeued, back.superseded, back.resume_from) == (0, 1, START)
    counts = await outbox.counts()
    assert (counts.inactive, counts.superseded, counts.total) == (0, 1, 3)


DAY = timedelta(days=1)


async def park_digests(outbox: OutboxStore, storage: Storage, chat_id: int, days: int) -> list[int]:
    """`days` daily digests ending at END - (days-1) .. END, the chat then blocked the bot: all parked."""
    ids = []
    for back in range(days - 1, -1, -1):
        end = END - back * DAY
        job = await outbox.create_digest_job(
            chat_id, period_start=end - DAY, period_end=end, parts=[PartDraft(f"digest {end:%d.%m}")]
        )
        assert job is not None
        ids.append(job)
    await storage.chats.deactivate(chat_id, "403: blocked")
    return ids


async def test_parked_digests_are_superseded_and_the_next_one_covers_the_gap(
    outbox: OutboxStore, storage: Storage
) -> None:
    sent = await outbox.create_digest_job(
        1, period_start=START - 4 * DAY, period_end=START - 3 * DAY, parts=[PartDraft("delivered")]
    )
    assert sent is not None
    await outbox.complete_job(sent)
    parked = await park_digests(outbox, storage, 1, days=3)
    assert (await storage.chats.get(1)).last_period_end == END  # type: ignore[union-attr]

    back = await outbox.reactivate_jobs(1, now=END + 2 * DAY)
    # The gap starts where the first undelivered digest started: the end of the last one the chat got.
    assert (back.requeued, back.superseded, back.resume_from) == (0, 3, END - 3 * DAY)
    assert (await storage.chats.get(1)).last_period_end == END - 3 * DAY  # type: ignore[union-attr]
    for job_id in parked:
        job = await outbox.get_job(job_id)
        assert job is not None and job.superseded and job.state == "inactive"
        assert job.last_error == "superseded" and job.finished_at == END + 2 * DAY
        assert job.period_end is not None  # its period is kept for the record
    delivered = await outbox.get_job(sent)
    assert delivered is not None and delivered.state == "sent" and not delivered.superseded
    await storage.chats.reactivate(1)
    assert await outbox.ready_jobs(END + 3 * DAY) == []  # nothing stale goes out
    # The catch-up may end where a superseded digest ended: its period is free again.
    catch_up = await outbox.create_digest_job(
        1, period_start=END - 3 * DAY, period_end=END, parts=[PartDraft("catch-up")]
    )
    assert catch_up is not None
    assert [j.id for j in await outbox.ready_jobs(END + 3 * DAY)] == [catch_up]
    # Idempotent; a second block and comeback never touches superseded jobs again.
    assert await outbox.reactivate_jobs(1) == Reactivation(0, 0, None)
    await storage.chats.deactivate(1, "403: blocked")
    again = await outbox.reactivate_jobs(1, now=END + 3 * DAY)
    assert (again.superseded, again.resume_from) == (1, END - 3 * DAY)
    counts = await outbox.counts()
    assert (counts.sent, counts.inactive, counts.superseded) == (1, 0, 4)


@pytest.mark.parametrize(
    ("age", "requeued"),
    [(timedelta(minutes=5), True), (timedelta(hours=23), True), (timedelta(hours=25), False)],
)
async def test_parked_broadcasts_go_out_only_while_under_a_day_old(
    outbox: OutboxStore, storage: Storage, age: timedelta, requeued: bool
) -> None:
    await storage.chats.set_last_period_end(2, END)
    await outbox.create_broadcast("Важно", created_by=1000, chat_ids=[2], now=END)
    await storage.chats.deactivate(2, "bot kicked")
    back = await outbox.reactivate_jobs(2, now=END + age)
    assert (back.requeued, back.superseded, back.resume_from) == (int(requeued), int(not requeued), None)
    [job] = await outbox.jobs_for_chat(2)
    assert (job.state == "pending") is requeued and job.superseded is not requeued
    assert (await storage.chats.get(2)).last_period_end == END  # type: ignore[union-attr]


async def test_a_chat_without_parked_digests_keeps_its_schedule(
    outbox: OutboxStore, storage: Storage
) -> None:
    # Its last digest went out; the bot was kicked between digests.
    job = await outbox.create_digest_job(3, period_start=START, period_end=END, parts=[PartDraft("a")])
    assert job is not None
    await outbox.complete_job(job)
    await storage.chats.deactivate(3, "bot kicked")
    assert await outbox.reactivate_jobs(3) == Reactivation(0, 0, None)
    assert (await storage.chats.get(3)).last_period_end == END  # type: ignore[union-attr]


async def test_broadcast_creates_one_job_per_chat(outbox: OutboxStore) -> None:
    broadcast_id = await outbox.create_broadcast("<b>news</b>", created_by=1000, chat_ids=[1, 2, 3])
    jobs = await outbox.ready_jobs()
    assert sorted(j.chat_id for j in jobs) == [1, 2, 3]
    assert {j.kind for j in jobs} == {"broadcast"} and {j.broadcast_id for j in jobs} == {broadcast_id}
    assert [p.text for p in await outbox.parts(jobs[0].id)] == ["<b>news</b>"]


async def test_fanout_stats(outbox: OutboxStore) -> None:
    assert await outbox.last_fanout() is None
    fanout = await outbox.start_fanout("digest", now=TEST_NOW - timedelta(seconds=30))
    await outbox.finish_fanout(fanout, jobs=10, sent=8, retried=3, failed=2, messages=12)
    empty = await outbox.start_fanout("digest")
    await outbox.finish_fanout(empty, jobs=0, sent=0, retried=0, failed=0, messages=0)
    last = await outbox.last_fanout()
    assert last is not None and (last.jobs, last.sent, last.retried, last.failed, last.messages) == (
        10,
        8,
        3,
        2,
        12,
    )
    assert last.duration is not None and last.duration >= timedelta(seconds=29)


async def test_lease_is_compare_and_set(outbox: OutboxStore) -> None:
    later = END + timedelta(minutes=2)
    assert await outbox.lease() is None
    assert await outbox.take_lease("a", expires_at=later, expected=None)
    assert not await outbox.take_lease("b", expires_at=later, expected=None)  # someone got there first
    assert await outbox.take_lease("a", expires_at=later + timedelta(minutes=1), expected=None)  # renewal
    assert await outbox.take_lease("b", expires_at=later, expected="a")  # taken over a dead holder
    lease = await outbox.lease()
    assert lease is not None and (lease.holder, lease.expires_at) == ("b", later)
    await outbox.release_lease("a")  # not the holder: nothing happens
    assert (await outbox.lease()) is not None
    await outbox.release_lease("b")
    assert await outbox.lease() is None


# --- a fan-out's stale list -------------------------------------------------------------------------------


async def test_a_job_superseded_while_in_a_fan_outs_list_is_not_taken(
    outbox: OutboxStore, storage: Storage
) -> None:
    """The fan-out reads its list once and works through it for minutes; the chat blocks the bot and comes
    back meanwhile. The job in the list was superseded (a catch-up digest covers its period): begin_job
    must refuse it, or the chat gets that period twice."""
    chats = storage.chats
    job = await outbox.create_digest_job(
        1, period_start=START, period_end=END, parts=[PartDraft("x")], now=END
    )
    assert job is not None
    assert [j.id for j in await outbox.ready_jobs(END)] == [job]  # the fan-out's list
    await chats.deactivate(1, "bot kicked")
    assert (await outbox.reactivate_jobs(1, now=END)).superseded == 1
    await chats.reactivate(1)
    assert not await outbox.begin_job(job)  # the worker reaches its stale entry
    stale = await outbox.get_job(job)
    assert stale is not None and stale.superseded and stale.state == "inactive" and stale.attempts == 0
    # ... and nothing a late worker does revives it.
    await outbox.complete_job(job)
    await outbox.retry_later(job, END, "network", failed=True)
    await outbox.mark_job_inactive(job, "chat inactive")
    after = await outbox.get_job(job)
    assert after is not None and (after.state, after.last_error) == ("inactive", "superseded")


@pytest.mark.parametrize("state", ["pending", "failed", "sending", "sent", "inactive"])
async def test_begin_job_takes_only_a_job_waiting_to_be_sent(
    outbox: OutboxStore, storage: Storage, state: str
) -> None:
    job = await outbox.create_digest_job(2, period_start=START, period_end=END, parts=[PartDraft("x")])
    assert job is not None
    await force_state(storage, job, state)
    taken = await outbox.begin_job(job)
    assert taken is (state in ("pending", "failed"))
    after = await outbox.get_job(job)
    assert after is not None
    assert (after.state, after.attempts) == (("sending", 1) if taken else (state, 0))


async def test_a_part_is_marked_in_flight_only_while_its_job_is_being_sent(
    outbox: OutboxStore, storage: Storage
) -> None:
    """A job taken away between two parts (the chat blocked the bot, then came back): the next part is not
    claimed, so the worker stops instead of sending the rest of a superseded digest."""
    job = await outbox.create_digest_job(
        3, period_start=START, period_end=END, parts=[PartDraft("a"), PartDraft("b")]
    )
    assert job is not None
    assert not await outbox.mark_part_sending(job, 0)  # not begun
    assert await outbox.begin_job(job)
    assert await outbox.mark_part_sending(job, 0)
    await outbox.mark_part_sent(job, 0, 11)
    await storage.chats.deactivate(3, "bot kicked")
    await outbox.reactivate_jobs(3, now=END)
    assert not await outbox.mark_part_sending(job, 1)
    assert [p.state for p in await outbox.parts(job)] == ["sent", "pending"]


async def test_queued_jobs_wake_the_waiter_once(outbox: OutboxStore, storage: Storage) -> None:
    assert await outbox.wait_for_queued_jobs(0) is False  # nothing queued yet
    await storage.chats.upsert(7, type="private")
    await outbox.create_broadcast("Новость", created_by=1, chat_ids=[7])
    # Another repository of the same database sees it too: the signal belongs to the connection.
    assert await second_outbox(storage).wait_for_queued_jobs(0) is True
    assert await outbox.wait_for_queued_jobs(0) is False  # taken once
    await storage.chats.deactivate(7, "403: blocked")
    back = await outbox.reactivate_jobs(7, now=TEST_NOW)
    assert back.requeued == 1 and await outbox.wait_for_queued_jobs(0) is True


# --- several processes at once (on PostgreSQL the calls run on separate pooled connections) ------------------


async def test_two_workers_racing_for_a_job_one_gets_it(outbox: OutboxStore) -> None:
    job = await outbox.create_digest_job(
        1, period_start=START, period_end=END, parts=[PartDraft("a"), PartDraft("b")]
    )
    assert job is not None
    taken = await asyncio.gather(outbox.begin_job(job), outbox.begin_job(job))
    assert sorted(taken) == [False, True]
    many = await asyncio.gather(*(outbox.begin_job(job) for _ in range(8)))
    assert not any(many)  # already being sent
    after = await outbox.get_job(job)
    assert after is not None and (after.state, after.attempts) == ("sending", 1)
    claimed = await asyncio.gather(*(outbox.mark_part_sending(job, 0) for _ in range(4)))
    assert sorted(claimed) == [False, False, False, True]


async def test_concurrent_lease_takers_one_wins(outbox: OutboxStore) -> None:
    later = END + timedelta(minutes=2)
    holders = [f"host:{n}:x" for n in range(8)]
    won = await asyncio.gather(*(outbox.take_lease(h, expires_at=later, expected=None) for h in holders))
    assert sum(won) == 1
    winner = holders[won.index(True)]
    lease = await outbox.lease()
    assert lease is not None and (lease.holder, lease.expires_at) == (winner, later)
    # Taking over from the same (dead) holder: one of the racers, again.
    successors = [f"next:{n}:y" for n in range(8)]
    won = await asyncio.gather(*(outbox.take_lease(h, expires_at=later, expected=winner) for h in successors))
    assert sum(won) == 1
    lease = await outbox.lease()
    assert lease is not None and lease.holder == successors[won.index(True)]
    # A lease released meanwhile is not there to take over.
    await outbox.release_lease(lease.holder)
    assert not await outbox.take_lease("late", expires_at=later, expected=lease.holder)
    assert await outbox.lease() is None


async def test_concurrent_creation_of_one_period_makes_one_job(outbox: OutboxStore, storage: Storage) -> None:
    created = await asyncio.gather(
        *(
            outbox.create_digest_job(
                1, period_start=START, period_end=END, parts=[PartDraft(f"copy {n}"), PartDraft("tail")]
            )
            for n in range(6)
        )
    )
    [job] = [j for j in created if j is not None]
    assert [p.seq for p in await outbox.parts(job)] == [0, 1]
    assert (await outbox.counts()).total == 1
    chat = await storage.chats.get(1)
    assert chat is not None and chat.last_period_end == END


async def test_a_broadcast_to_thousands_keeps_the_order_of_its_chats(
    outbox: OutboxStore, storage: Storage
) -> None:
    ids = list(range(5000, 3000, -1))
    for chat_id in ids:
        await storage.chats.upsert(chat_id, type="private")
    drafts = [PartDraft("one", '{"k": 1}'), PartDraft("two")]
    broadcast = await outbox.create_broadcast("x", created_by=None, chat_ids=[*ids, ids[0]], parts=drafts)
    jobs = await outbox.ready_jobs()
    assert [j.chat_id for j in jobs] == ids  # sent in the order given, each chat once
    assert {j.broadcast_id for j in jobs} == {broadcast}
    parts = await outbox.parts(jobs[-1].id)
    assert [(p.seq, p.text, p.reply_markup) for p in parts] == [(0, "one", '{"k": 1}'), (1, "two", None)]
    assert (await outbox.counts()).parts_pending == 2 * len(ids)


# --- PostgreSQL: racers held at the same lock, then let go together ------------------------------------------


class Rollback(Exception):
    """Raised to roll a test's transaction back."""


def postgres_only(storage: Storage) -> PostgresStorage:
    if not isinstance(storage, PostgresStorage):
        pytest.skip("a lock held by another connection: PostgreSQL only (SQLite has one writer)")
    return storage


async def blocked(*calls: Awaitable[bool]) -> list[asyncio.Task[bool]]:
    """Start the calls and return once they are all waiting (on the lock the test holds)."""
    tasks = [asyncio.ensure_future(call) for call in calls]
    await asyncio.sleep(0.3)
    assert not any(task.done() for task in tasks)
    return tasks


async def test_begin_job_racers_waiting_on_one_row_lock(outbox: OutboxStore, storage: Storage) -> None:
    pg = postgres_only(storage)
    job = await outbox.create_digest_job(1, period_start=START, period_end=END, parts=[PartDraft("a")])
    async with pg.db.transaction() as conn:
        await conn.execute("SELECT 1 FROM outbox_jobs WHERE id = $1 FOR UPDATE", job)
        tasks = await blocked(outbox.begin_job(job or 0), outbox.begin_job(job or 0))
    assert sorted(await asyncio.gather(*tasks)) == [False, True]
    after = await outbox.get_job(job or 0)
    assert after is not None and after.attempts == 1


async def test_lease_racers_waiting_on_an_uncommitted_lease(outbox: OutboxStore, storage: Storage) -> None:
    pg = postgres_only(storage)
    later = END + timedelta(minutes=2)
    with contextlib.suppress(Rollback):
        async with pg.db.transaction() as conn:
            await conn.execute(
                "INSERT INTO leases (name, holder, expires_at) VALUES ('delivery', 'ghost', $1)", later
            )
            tasks = await blocked(
                *(outbox.take_lease(h, expires_at=later, expected=None) for h in ("a", "b"))
            )
            raise Rollback  # the ghost never commits
    won = await asyncio.gather(*tasks)
    assert sorted(won) == [False, True]
    lease = await outbox.lease()
    assert lease is not None and lease.holder == ("a", "b")[won.index(True)]


async def test_a_part_is_not_claimed_from_a_job_parked_meanwhile(
    outbox: OutboxStore, storage: Storage
) -> None:
    pg = postgres_only(storage)
    job = await outbox.create_digest_job(1, period_start=START, period_end=END, parts=[PartDraft("a")])
    assert job is not None and await outbox.begin_job(job)
    async with pg.db.transaction() as conn:
        # Parked by another process, not committed yet when the sender asks for the part.
        await conn.execute("UPDATE outbox_jobs SET state = 'inactive' WHERE id = $1", job)
        [task] = await blocked(outbox.mark_part_sending(job, 0))
    assert await task is False
    assert [p.state for p in await outbox.parts(job)] == ["pending"]
