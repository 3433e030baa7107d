"""The subscription use cases (bot/chats/subscriptions.py) over the real SQLite repositories."""

from __future__ import annotations

import pytest

from bot.chats.records import MAX_SAVED_QUERIES
from bot.chats.subscriptions import (
    QueryOutcome,
    save_query,
    subscribe_news,
    unsubscribe,
    unsubscribe_all,
    unsubscribe_query,
)
from storage.sqlite.chats import ChatRepository
from storage.sqlite.database import Database
from storage.sqlite.subscriptions import SubscriptionRepository


@pytest.fixture
async def subs(db: Database) -> SubscriptionRepository:
    await ChatRepository(db).upsert(7, type="private")
    return SubscriptionRepository(db)


async def test_news_on_then_already_on(subs: SubscriptionRepository) -> None:
    first = await subscribe_news(7, subs)
    assert first.switched_on and first.restored == 0 and first.subscription.gov_news
    again = await subscribe_news(7, subs)
    assert not again.switched_on and again.restored == 0


async def test_comeback_switches_kept_queries_on(subs: SubscriptionRepository) -> None:
    await save_query(7, "налог", subs)
    await save_query(7, "пенсия", subs)
    await unsubscribe_all(7, subs)
    back = await subscribe_news(7, subs)
    assert back.switched_on and back.restored == 2
    assert len(back.subscription.enabled_queries) == 2


@pytest.mark.parametrize(
    ("before", "words", "outcome", "count"),
    [
        ((), "налог", QueryOutcome.SAVED, 1),
        ((), "   ", QueryOutcome.EMPTY, 0),
        (("налог",), "налог", QueryOutcome.EXISTS, 0),
        (("налог", "пенсия"), "пенсия", QueryOutcome.EXISTS, 0),
    ],
)
async def test_save_query(
    subs: SubscriptionRepository, before: tuple[str, ...], words: str, outcome: QueryOutcome, count: int
) -> None:
    for text in before:
        await save_query(7, text, subs)
    saved = await save_query(7, words, subs)
    assert (saved.outcome, saved.count, saved.gov_news) == (outcome, count, False)


async def test_save_query_enabled_again_and_limit(subs: SubscriptionRepository) -> None:
    first = await save_query(7, "налог", subs)
    assert await unsubscribe_query(7, (await subs.get(7)).queries[0].id, subs) == first.text
    again = await save_query(7, "налог", subs)
    assert again.outcome is QueryOutcome.ENABLED_AGAIN
    for number in range(MAX_SAVED_QUERIES - 1):
        await save_query(7, f"слово{number}", subs)
    assert (await save_query(7, "лишнее", subs)).outcome is QueryOutcome.TOO_MANY


async def test_unsubscribe_stops_one_source_asks_for_several(subs: SubscriptionRepository) -> None:
    nothing = await unsubscribe(7, subs)
    assert (nothing.sources, nothing.stopped) == (0, False)
    await subscribe_news(7, subs)
    one = await unsubscribe(7, subs)
    assert (one.sources, one.stopped) == (1, True) and not await subs.is_subscribed(7)
    await subscribe_news(7, subs)
    await save_query(7, "налог", subs)
    several = await unsubscribe(7, subs)
    assert (several.sources, several.stopped) == (2, False) and await subs.is_subscribed(7)
    assert await unsubscribe_all(7, subs) == 1


async def test_unsubscribe_query_gone_or_off(subs: SubscriptionRepository) -> None:
    assert await unsubscribe_query(7, 999, subs) is None
    await save_query(7, "налог", subs)
    query_id = (await subs.get(7)).queries[0].id
    assert await unsubscribe_query(7, query_id, subs) == "налог"
    assert await unsubscribe_query(7, query_id, subs) is None
