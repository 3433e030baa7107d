"""SubscriptionRepository: government news on/off, saved queries (limit, kept when unsubscribed), `since`."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from bot.chats.records import MAX_SAVED_QUERIES, TooManyQueries
from storage.interfaces import Storage, SubscriptionStore
from storage.postgres import PostgresStorage
from storage.sqlite import SqliteStorage


@pytest.fixture
async def subs(storage: Storage) -> SubscriptionStore:
    await storage.chats.upsert(7, type="private")
    return storage.subscriptions


async def set_since(storage: Storage, chat_id: int, moment: datetime) -> None:
    """Backdate a subscription's anchor (no repository method does that: only a test needs it)."""
    if isinstance(storage, SqliteStorage):
        await storage.db.execute(
            "UPDATE subscriptions SET since = ? WHERE chat_id = ?", (moment.isoformat(), chat_id)
        )
    else:
        assert isinstance(storage, PostgresStorage)
        await storage.db.execute("UPDATE subscriptions SET since = $1 WHERE chat_id = $2", moment, chat_id)


async def test_unknown_chat_is_unsubscribed(subs: SubscriptionStore) -> None:
    sub = await subs.get(12345)
    assert not sub.active and not sub.gov_news and sub.queries == () and sub.since is None


async def test_gov_news_toggle_reports_changes_and_sets_since(subs: SubscriptionStore) -> None:
    assert await subs.set_gov_news(7, False) is False
    assert await subs.set_gov_news(7, True) is True
    assert await subs.set_gov_news(7, True) is False
    first = await subs.get(7)
    assert first.active and first.since is not None
    assert await subs.is_subscribed(7)
    assert await subs.set_gov_news(7, False) is True
    assert not await subs.is_subscribed(7)


async def test_saved_queries_kept_when_unsubscribed_and_restored(subs: SubscriptionStore) -> None:
    query, created = await subs.add_query(7, "налог")
    assert created and query.enabled
    again, created_again = await subs.add_query(7, "налог")
    assert again.id == query.id and not created_again
    await subs.set_gov_news(7, True)
    assert await subs.unsubscribe_all(7)
    sub = await subs.get(7)
    assert not sub.active and [q.text for q in sub.queries] == ["налог"] and not sub.queries[0].enabled
    assert await subs.unsubscribe_all(7) is False
    restored, created = await subs.add_query(7, "налог")
    assert restored.id == query.id and restored.enabled and not created
    assert (await subs.get(7)).active


async def test_one_query_off_and_on(subs: SubscriptionStore) -> None:
    first, _ = await subs.add_query(7, "налог")
    second, _ = await subs.add_query(7, "бюджет")
    assert await subs.set_query_enabled(7, first.id, False)
    assert [q.text for q in await subs.list_queries(7, enabled_only=True)] == ["бюджет"]
    assert await subs.count_queries(7) == 2
    assert await subs.count_queries(7, enabled_only=True) == 1
    assert await subs.set_query_enabled(7, first.id, True)
    assert await subs.set_query_enabled(7, first.id, True) is False
    assert await subs.delete_query(7, second.id)
    assert await subs.get_query(7, second.id) is None
    assert await subs.delete_query(8, first.id) is False  # another chat's id does nothing


async def test_limit_of_saved_queries(subs: SubscriptionStore) -> None:
    for number in range(MAX_SAVED_QUERIES):
        await subs.add_query(7, f"слово{number}")
    with pytest.raises(TooManyQueries):
        await subs.add_query(7, "лишний")
    assert await subs.count_queries(7) == MAX_SAVED_QUERIES
    # re-enabling an existing one is still fine at the limit
    _, created = await subs.add_query(7, "слово3")
    assert not created


async def test_pagination_and_many(storage: Storage, subs: SubscriptionStore) -> None:
    for number in range(7):
        await subs.add_query(7, f"q{number}")
    page = await subs.list_queries(7, limit=3, offset=3)
    assert [q.text for q in page] == ["q3", "q4", "q5"]
    await storage.chats.upsert(8, type="private")
    await subs.set_gov_news(8, True)
    many = await subs.many([7, 8, 9])
    assert len(many[7].queries) == 7 and not many[7].gov_news
    assert many[8].gov_news and many[8].queries == ()
    assert not many[9].active
    assert await subs.count_subscribed() == 2


async def test_since_moves_only_on_resubscription(subs: SubscriptionStore, storage: Storage) -> None:
    await subs.set_gov_news(7, True)
    await set_since(storage, 7, datetime(2020, 1, 1, tzinfo=UTC))
    await subs.add_query(7, "налог")  # already subscribed: since unchanged
    assert (await subs.get(7)).since.year == 2020  # type: ignore[union-attr]
    await subs.unsubscribe_all(7)
    await subs.set_gov_news(7, True)  # a comeback: new anchor
    assert (await subs.get(7)).since.year > 2020  # type: ignore[union-attr]


# --- several processes at once (on PostgreSQL the calls run on separate pooled connections) ------------------


async def test_concurrent_changes_of_one_chat_take_turns(subs: SubscriptionStore) -> None:
    switched = await asyncio.gather(*(subs.set_gov_news(7, True) for _ in range(6)))
    assert sorted(switched) == [False] * 5 + [True]
    added = await asyncio.gather(*(subs.add_query(7, "налог") for _ in range(6)))
    assert sum(created for _, created in added) == 1 and len({q.id for q, _ in added}) == 1
    assert await subs.count_queries(7) == 1


async def test_concurrent_additions_never_pass_the_limit(subs: SubscriptionStore) -> None:
    for number in range(MAX_SAVED_QUERIES - 2):
        await subs.add_query(7, f"слово{number}")
    results = await asyncio.gather(
        *(subs.add_query(7, f"новое{number}") for number in range(6)), return_exceptions=True
    )
    assert sum(isinstance(r, TooManyQueries) for r in results) == 4
    assert not [r for r in results if isinstance(r, BaseException) and not isinstance(r, TooManyQueries)]
    assert await subs.count_queries(7) == MAX_SAVED_QUERIES


async def test_many_takes_thousands_of_chats(storage: Storage, subs: SubscriptionStore) -> None:
    await subs.set_gov_news(7, True)
    await subs.add_query(7, "налог")
    ids = [7, *range(100_000, 103_000)]
    many = await subs.many(ids)
    assert list(many) == ids
    assert many[7].gov_news and [q.text for q in many[7].queries] == ["налог"]
    assert not any(many[i].active for i in ids[1:])
    assert await subs.many([]) == {}
