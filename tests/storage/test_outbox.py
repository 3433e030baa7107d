"""OutboxRepository: idempotent jobs, part states, crash recovery, counts, broadcasts, fan-out stats."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.digest.records import PartDraft, Reactivation
from storage.sqlite.chats import ChatRepository
from storage.sqlite.database import Database
from storage.sqlite.outbox import OutboxRepository
from tests.conftest import TEST_NOW

START = datetime(2026, 11, 25, 6, tzinfo=UTC)
END = datetime(2026, 11, 26, 6, tzinfo=UTC)


@pytest.fixture
async def outbox(db: Database) -> OutboxRepository:
    chats = ChatRepository(db)
    for chat_id in (1, 2, 3):
        await chats.upsert(chat_id, type="private")
    return OutboxRepository(db)


async def test_one_job_per_chat_and_period(outbox: OutboxRepository, db: Database) -> None:
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
    chat = await ChatRepository(db).get(1)
    assert chat is not None and chat.last_period_end == END


async def test_empty_digest_only_advances_the_period(outbox: OutboxRepository, db: Database) -> None:
    assert await outbox.create_digest_job(2, period_start=START, period_end=END, parts=[]) is None
    chat = await ChatRepository(db).get(2)
    assert chat is not None and chat.last_period_end == END
    assert (await outbox.counts()).total == 0
    # an older period never moves it back
    await outbox.create_digest_job(2, period_start=START - timedelta(days=2), period_end=START, parts=[])
    assert (await ChatRepository(db).get(2)).last_period_end == END  # type: ignore[union-attr]


async def test_part_lifecycle_and_crash_recovery(outbox: OutboxRepository) -> None:
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


async def test_unsent_part_goes_back_to_pending(outbox: OutboxRepository) -> None:
    job_id = await outbox.create_digest_job(1, period_start=START, period_end=END, parts=[PartDraft("a")])
    assert job_id is not None
    assert await outbox.begin_job(job_id)
    assert await outbox.mark_part_sending(job_id, 0)
    assert (await outbox.parts(job_id))[0].state == "sending"
    await outbox.mark_part_unsent(job_id, 0)
    assert (await outbox.parts(job_id))[0].state == "pending"


async def test_retry_failed_complete_and_counts(outbox: OutboxRepository, db: Database) -> None:
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
    await ChatRepository(db).deactivate(3, "403")
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


async def park_digests(outbox: OutboxRepository, db: Database, chat_id: int, days: int) -> list[int]:
    """`days` daily digests ending at END - (days-1) .. END, the chat then blocked the bot: all parked."""
    ids = []
    for back in range(days - 1, -1, -1):
        end = END - back * DAY
        job = await outbox.create_digest_job(
            chat_id, period_start=end - DAY, period_end=end, parts=[PartDraft(f"digest {end:%d.%m}")]
        )
        assert job is not None
        ids.append(job)
    await ChatRepository(db).deactivate(chat_id, "403: blocked")
    return ids


async def test_parked_digests_are_superseded_and_the_next_one_covers_the_gap(
    outbox: OutboxRepository, db: Database
) -> None:
    sent = await outbox.create_digest_job(
        1, period_start=START - 4 * DAY, period_end=START - 3 * DAY, parts=[PartDraft("delivered")]
    )
    assert sent is not None
    await outbox.complete_job(sent)
    parked = await park_digests(outbox, db, 1, days=3)
    assert (await ChatRepository(db).get(1)).last_period_end == END  # type: ignore[union-attr]

    back = await outbox.reactivate_jobs(1, now=END + 2 * DAY)
    # The gap starts where the first undelivered digest started: the end of the last one the chat got.
    assert (back.requeued, back.superseded, back.resume_from) == (0, 3, END - 3 * DAY)
    assert (await ChatRepository(db).get(1)).last_period_end == END - 3 * DAY  # type: ignore[union-attr]
    for job_id in parked:
        job = await outbox.get_job(job_id)
        assert job is not None and job.superseded and job.state == "inactive"
        assert job.last_error == "superseded" and job.finished_at == END + 2 * DAY
        assert job.period_end is not None  # its period is kept for the record
    delivered = await outbox.get_job(sent)
    assert delivered is not None and delivered.state == "sent" and not delivered.superseded
    await ChatRepository(db).reactivate(1)
    assert await outbox.ready_jobs(END + 3 * DAY) == []  # nothing stale goes out
    # The catch-up may end where a superseded digest ended: its period is free again.
    catch_up = await outbox.create_digest_job(
        1, period_start=END - 3 * DAY, period_end=END, parts=[PartDraft("catch-up")]
    )
    assert catch_up is not None
    assert [j.id for j in await outbox.ready_jobs(END + 3 * DAY)] == [catch_up]
    # Idempotent; a second block and comeback never touches superseded jobs again.
    assert await outbox.reactivate_jobs(1) == Reactivation(0, 0, None)
    await ChatRepository(db).deactivate(1, "403: blocked")
    again = await outbox.reactivate_jobs(1, now=END + 3 * DAY)
    assert (again.superseded, again.resume_from) == (1, END - 3 * DAY)
    counts = await outbox.counts()
    assert (counts.sent, counts.inactive, counts.superseded) == (1, 0, 4)


@pytest.mark.parametrize(
    ("age", "requeued"),
    [(timedelta(minutes=5), True), (timedelta(hours=23), True), (timedelta(hours=25), False)],
)
async def test_parked_broadcasts_go_out_only_while_under_a_day_old(
    outbox: OutboxRepository, db: Database, age: timedelta, requeued: bool
) -> None:
    await ChatRepository(db).set_last_period_end(2, END)
    await outbox.create_broadcast("Важно", created_by=1000, chat_ids=[2], now=END)
    await ChatRepository(db).deactivate(2, "bot kicked")
    back = await outbox.reactivate_jobs(2, now=END + age)
    assert (back.requeued, back.superseded, back.resume_from) == (int(requeued), int(not requeued), None)
    [job] = await outbox.jobs_for_chat(2)
    assert (job.state == "pending") is requeued and job.superseded is not requeued
    assert (await ChatRepository(db).get(2)).last_period_end == END  # type: ignore[union-attr]


async def test_a_chat_without_parked_digests_keeps_its_schedule(
    outbox: OutboxRepository, db: Database
) -> None:
    # Its last digest went out; the bot was kicked between digests.
    job = await outbox.create_digest_job(3, period_start=START, period_end=END, parts=[PartDraft("a")])
    assert job is not None
    await outbox.complete_job(job)
    await ChatRepository(db).deactivate(3, "bot kicked")
    assert await outbox.reactivate_jobs(3) == Reactivation(0, 0, None)
    assert (await ChatRepository(db).get(3)).last_period_end == END  # type: ignore[union-attr]


async def test_broadcast_creates_one_job_per_chat(outbox: OutboxRepository) -> None:
    broadcast_id = await outbox.create_broadcast("<b>news</b>", created_by=1000, chat_ids=[1, 2, 3])
    jobs = await outbox.ready_jobs()
    assert sorted(j.chat_id for j in jobs) == [1, 2, 3]
    assert {j.kind for j in jobs} == {"broadcast"} and {j.broadcast_id for j in jobs} == {broadcast_id}
    assert [p.text for p in await outbox.parts(jobs[0].id)] == ["<b>news</b>"]


async def test_fanout_stats(outbox: OutboxRepository) -> None:
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


async def test_lease_is_compare_and_set(outbox: OutboxRepository) -> None:
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
    outbox: OutboxRepository, db: Database
) -> None:
    """The fan-out reads its list once and works through it for minutes; the chat blocks the bot and comes
    back meanwhile. The job in the list was superseded (a catch-up digest covers its period): begin_job
    must refuse it, or the chat gets that period twice."""
    chats = ChatRepository(db)
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
    outbox: OutboxRepository, db: Database, state: str
) -> None:
    job = await outbox.create_digest_job(2, period_start=START, period_end=END, parts=[PartDraft("x")])
    assert job is not None
    await db.execute("UPDATE outbox_jobs SET state = ? WHERE id = ?", (state, job))
    taken = await outbox.begin_job(job)
    assert taken is (state in ("pending", "failed"))
    after = await outbox.get_job(job)
    assert after is not None
    assert (after.state, after.attempts) == (("sending", 1) if taken else (state, 0))


async def test_a_part_is_marked_in_flight_only_while_its_job_is_being_sent(
    outbox: OutboxRepository, db: Database
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
    await ChatRepository(db).deactivate(3, "bot kicked")
    await outbox.reactivate_jobs(3, now=END)
    assert not await outbox.mark_part_sending(job, 1)
    assert [p.state for p in await outbox.parts(job)] == ["sent", "pending"]


async def test_queued_jobs_wake_the_waiter_once(outbox: OutboxRepository, db: Database) -> None:
    assert await outbox.wait_for_queued_jobs(0) is False  # nothing queued yet
    await ChatRepository(db).upsert(7, type="private")
    await outbox.create_broadcast("Новость", created_by=1, chat_ids=[7])
    # Another repository of the same database sees it too: the signal belongs to the connection.
    assert await OutboxRepository(db).wait_for_queued_jobs(0) is True
    assert await outbox.wait_for_queued_jobs(0) is False  # taken once
    await ChatRepository(db).deactivate(7, "403: blocked")
    back = await outbox.reactivate_jobs(7, now=TEST_NOW)
    assert back.requeued == 1 and await outbox.wait_for_queued_jobs(0) is True
