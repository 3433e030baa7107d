"""ChatRepository: identity upserts, settings, activity, chat id migration."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, time

import pytest

from bot.digest.records import PartDraft
from storage.interfaces import Storage


async def test_upsert_creates_with_defaults_and_refreshes_identity_only(storage: Storage) -> None:
    chats = storage.chats
    chat = await chats.upsert(42, type="private", title=None, username="alice", locale="en")
    assert (chat.timezone, chat.delivery_time, chat.frequency, chat.max_items) == (
        "Europe/Moscow",
        time(9, 0),
        "daily",
        None,
    )
    assert chat.active and not chat.paused and not chat.notify_empty and chat.locale == "en"
    await chats.set_timezone(42, "Asia/Tokyo")
    again = await chats.upsert(42, type="private", username="alice2")
    assert again.timezone == "Asia/Tokyo"  # settings survive an identity refresh
    assert again.username == "alice2"
    assert again.locale == "en"  # not given: kept
    assert (await chats.get_by_username("@ALICE2")) == again


@pytest.mark.parametrize(
    ("setter", "args", "field", "expected"),
    [
        ("set_timezone", ("America/New_York",), "timezone", "America/New_York"),
        ("set_delivery_time", (time(7, 45),), "delivery_time", time(7, 45)),
        ("set_frequency", ("weekly", 4), "weekday", 4),
        ("set_frequency", ("weekdays",), "frequency", "weekdays"),
        ("set_max_items", (5,), "max_items", 5),
        ("set_max_items", (None,), "max_items", None),
        ("set_notify_empty", (True,), "notify_empty", True),
        ("set_paused", (True,), "paused", True),
        ("set_locale", ("en",), "locale", "en"),
        (
            "set_last_period_end",
            (datetime(2026, 1, 2, 6, tzinfo=UTC),),
            "last_period_end",
            datetime(2026, 1, 2, 6, tzinfo=UTC),
        ),
    ],
)
async def test_setters(
    storage: Storage, setter: str, args: tuple[object, ...], field: str, expected: object
) -> None:
    chats = storage.chats
    await chats.upsert(-100, type="supergroup", title="G")
    assert await getattr(chats, setter)(-100, *args) is True
    chat = await chats.get(-100)
    assert chat is not None and getattr(chat, field) == expected


@pytest.mark.parametrize(
    ("setter", "args"),
    [
        ("set_timezone", ("Mars/Olympus",)),
        ("set_frequency", ("hourly",)),
        ("set_frequency", ("weekly", 7)),
        ("set_max_items", (0,)),
    ],
)
async def test_bad_settings_are_refused_and_nothing_changes(
    storage: Storage, setter: str, args: tuple[object, ...]
) -> None:
    chats = storage.chats
    before = await chats.upsert(1, type="private")
    with pytest.raises(ValueError):
        await getattr(chats, setter)(1, *args)
    assert await chats.get(1) == before


async def test_setter_on_unknown_chat_reports_false(storage: Storage) -> None:
    assert await storage.chats.set_paused(999, True) is False


async def test_deactivate_keeps_subscriptions_and_parks_pending_jobs(storage: Storage) -> None:
    chats, subs, outbox = storage.chats, storage.subscriptions, storage.outbox
    await chats.upsert(5, type="private")
    await subs.set_gov_news(5, True)
    job = await outbox.create_digest_job(
        5,
        period_start=datetime(2026, 1, 1, tzinfo=UTC),
        period_end=datetime(2026, 1, 2, tzinfo=UTC),
        parts=[PartDraft("x")],
    )
    assert await chats.deactivate(5, "403: blocked")
    chat = await chats.get(5)
    assert chat is not None and not chat.active and chat.inactive_reason == "403: blocked"
    assert (await subs.get(5)).gov_news
    assert job is not None
    assert (await outbox.get_job(job)).state == "inactive"  # type: ignore[union-attr]
    assert [c.id for c in await chats.subscribed()] == []
    assert [c.id for c in await chats.subscribed(active_only=False)] == [5]
    assert await chats.reactivate(5)
    assert [c.id for c in await chats.subscribed()] == [5]
    counts = await chats.counts()
    assert (counts.total, counts.active, counts.by_type) == (1, 1, {"private": 1})


async def test_migrate_chat_id_moves_everything(storage: Storage) -> None:
    chats, subs, outbox = storage.chats, storage.subscriptions, storage.outbox
    await chats.upsert(-5, type="group", title="Club")
    await chats.set_delivery_time(-5, time(7, 0))
    await subs.set_gov_news(-5, True)
    await subs.add_query(-5, "налог")
    job = await outbox.create_digest_job(
        -5,
        period_start=datetime(2026, 1, 1, tzinfo=UTC),
        period_end=datetime(2026, 1, 2, tzinfo=UTC),
        parts=[PartDraft("x")],
    )
    assert await chats.migrate_chat_id(-5, -1005)
    assert await chats.get(-5) is None
    moved = await chats.get(-1005)
    assert moved is not None and moved.type == "supergroup" and moved.delivery_time == time(7, 0)
    assert (await subs.get(-1005)).gov_news
    assert [q.text for q in await subs.list_queries(-1005)] == ["налог"]
    assert (await outbox.get_job(job or 0)).chat_id == -1005  # type: ignore[union-attr]
    assert await chats.migrate_chat_id(-5, -1006) is False  # unknown now


async def test_migrate_chat_id_merges_into_an_existing_row(storage: Storage) -> None:
    chats, subs = storage.chats, storage.subscriptions
    await chats.upsert(-5, type="group", title="Club")
    await chats.set_timezone(-5, "Asia/Tokyo")
    await subs.set_gov_news(-5, True)
    await subs.add_query(-5, "налог")
    await subs.add_query(-5, "бюджет")
    await chats.upsert(-1005, type="supergroup", title="Club")  # an update from the new id came first
    await subs.add_query(-1005, "налог")
    assert await chats.migrate_chat_id(-5, -1005)
    merged = await chats.get(-1005)
    assert merged is not None and merged.timezone == "Asia/Tokyo"
    subscription = await subs.get(-1005)
    assert subscription.gov_news
    assert sorted(q.text for q in subscription.queries) == ["бюджет", "налог"]
    assert await chats.get(-5) is None


@pytest.mark.parametrize("column", ["id", "active", "title; DROP TABLE chats", ""])
async def test_only_settable_columns_can_be_set(storage: Storage, column: str) -> None:
    chats = storage.chats
    await chats.upsert(42, type="private")
    with pytest.raises(ValueError, match="not a settable chat column"):
        await chats._set(42, column, 1)  # type: ignore[attr-defined]  # both backends' guard
    assert (await chats.counts()).total == 1


async def test_merge_keeps_the_later_period_the_earlier_anchor_and_one_job_per_period(
    storage: Storage,
) -> None:
    chats, subs, outbox = storage.chats, storage.subscriptions, storage.outbox
    day = datetime(2026, 1, 2, tzinfo=UTC)
    await chats.upsert(-5, type="group", title=None, username="club")
    await subs.add_query(-5, "налог")
    await subs.set_query_enabled(-5, (await subs.list_queries(-5))[0].id, False)
    old_job = await outbox.create_digest_job(
        -5, period_start=day, period_end=day.replace(day=3), parts=[PartDraft("o")]
    )
    moved_job = await outbox.create_digest_job(
        -5, period_start=day.replace(day=3), period_end=day.replace(day=4), parts=[PartDraft("m")]
    )
    await chats.deactivate(-5, "kicked")
    await chats.upsert(-1005, type="supergroup", title="Club")
    await subs.set_gov_news(-1005, True)
    await subs.add_query(-1005, "налог")
    kept_job = await outbox.create_digest_job(
        -1005, period_start=day, period_end=day.replace(day=3), parts=[PartDraft("n")]
    )
    await chats.set_last_period_end(-1005, day.replace(day=3))
    assert await chats.migrate_chat_id(-5, -1005)
    merged = await chats.get(-1005)
    assert merged is not None
    assert (merged.title, merged.username, merged.active, merged.inactive_reason) == (
        "Club",
        "club",
        True,
        None,
    )
    assert merged.last_period_end == day.replace(day=4)  # the later of the two
    queries = await subs.list_queries(-1005)
    assert [(q.text, q.enabled) for q in queries] == [("налог", True)]  # the new chat's copy stays
    assert (await subs.get(-1005)).gov_news
    assert await outbox.get_job(old_job or 0) is None  # same period as the new chat's job: dropped
    assert (await outbox.get_job(moved_job or 0)).chat_id == -1005  # type: ignore[union-attr]
    assert (await outbox.get_job(kept_job or 0)).chat_id == -1005  # type: ignore[union-attr]
    assert (await chats.counts()).total == 1


async def test_two_processes_migrating_one_group_move_it_once(storage: Storage) -> None:
    chats, subs = storage.chats, storage.subscriptions
    await chats.upsert(-5, type="group", title="Club")
    await subs.set_gov_news(-5, True)
    results = await asyncio.gather(*(chats.migrate_chat_id(-5, -1005) for _ in range(4)))
    assert sorted(results) == [False, False, False, True]
    assert await chats.get(-5) is None
    assert (await subs.get(-1005)).gov_news


async def test_get_many_and_subscribed(storage: Storage) -> None:
    chats = storage.chats
    for chat_id in (3, 1, 2):
        await chats.upsert(chat_id, type="private")
    assert [c.id for c in await chats.get_many([3, 2, 99, 1])] == [1, 2, 3]
    assert await chats.get_many([]) == []
    await storage.subscriptions.set_gov_news(2, True)
    await storage.subscriptions.add_query(3, "налог")
    await chats.set_paused(3, True)
    assert [c.id for c in await chats.subscribed()] == [2]
    assert [c.id for c in await chats.subscribed(include_paused=True)] == [2, 3]
    counts = await chats.counts()
    assert (counts.total, counts.active, counts.inactive, counts.paused) == (3, 3, 0, 1)
