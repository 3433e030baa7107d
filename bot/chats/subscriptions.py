"""What a chat's subscription does, once for the commands and buttons that ask for it: a chat signing up
(refreshed and, after it blocked the bot, reactivated), government news switched on (a comeback after
/unsubscribe also switches the kept saved queries on again), a saved query added under its limit, and
unsubscribing from everything, the news, or one query. Each returns a record; the handlers render it."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from bot.archive.query import parse_query
from bot.chats.comeback import reactivate
from bot.chats.records import Chat, ChatType, Subscription, TooManyQueries
from storage.interfaces import ChatStore, OutboxStore, SubscriptionStore


async def enroll_chat(
    chat_id: int,
    *,
    type: ChatType,
    title: str | None,
    username: str | None,
    locale: str,
    chats: ChatStore,
    outbox: OutboxStore,
) -> Chat:
    """The chat that subscribes, stored with the subscriber's language (the digest's language from now on) and
    active again if it was not: a message from it (or the bot confirmed as a channel's poster) proves the bot
    can write there."""
    chat = await chats.upsert(chat_id, type=type, title=title, username=username, locale=locale)
    await reactivate(chat.id, chats, outbox)
    return chat


@dataclass(frozen=True, slots=True)
class NewsSubscribed:
    """Government news for a chat: `switched_on` when it was off before, `restored` saved queries switched on
    again by a comeback, `subscription` as it is now."""

    switched_on: bool
    restored: int
    subscription: Subscription


async def subscribe_news(chat_id: int, subscriptions: SubscriptionStore) -> NewsSubscribed:
    """Switch government news on; a chat coming back (nothing active before) gets its saved queries back."""
    before = await subscriptions.get(chat_id)
    switched_on = await subscriptions.set_gov_news(chat_id, True)
    restored = 0
    if not before.active:
        for query in before.queries:
            if not query.enabled and await subscriptions.set_query_enabled(chat_id, query.id, True):
                restored += 1
    return NewsSubscribed(switched_on, restored, await subscriptions.get(chat_id))


class QueryOutcome(StrEnum):
    EMPTY = "empty"  # nothing to search for
    TOO_MANY = "too_many"  # the chat has MAX_SAVED_QUERIES already
    SAVED = "saved"  # a new saved query
    ENABLED_AGAIN = "enabled_again"  # saved before and switched off: on again
    EXISTS = "exists"  # saved and on already


@dataclass(frozen=True, slots=True)
class QuerySaved:
    """What saving a query did: `text` is its canonical form, `invalid_tokens` the filters ignored, `count` the
    chat's saved queries after a new one (0 otherwise), `gov_news` whether the chat had news switched on."""

    outcome: QueryOutcome
    text: str
    invalid_tokens: tuple[str, ...]
    count: int = 0
    gov_news: bool = False


async def save_query(chat_id: int, words: str, subscriptions: SubscriptionStore) -> QuerySaved:
    """Save `words` (the /search syntax) as the chat's query in canonical form, at most MAX_SAVED_QUERIES."""
    query = parse_query(words)
    if query.is_empty:
        return QuerySaved(QueryOutcome.EMPTY, "", query.invalid_tokens)
    canonical = query.text
    before = await subscriptions.get(chat_id)
    existing = next((saved for saved in before.queries if saved.text == canonical), None)
    try:
        _, created = await subscriptions.add_query(chat_id, canonical)
    except TooManyQueries:
        return QuerySaved(QueryOutcome.TOO_MANY, canonical, query.invalid_tokens, gov_news=before.gov_news)
    if created:
        outcome, count = QueryOutcome.SAVED, await subscriptions.count_queries(chat_id)
    elif existing is not None and not existing.enabled:
        outcome, count = QueryOutcome.ENABLED_AGAIN, 0
    else:
        outcome, count = QueryOutcome.EXISTS, 0
    return QuerySaved(outcome, canonical, query.invalid_tokens, count, before.gov_news)


@dataclass(frozen=True, slots=True)
class Unsubscribed:
    """/unsubscribe: `sources` is how many were on (news and enabled queries) before; with one it is stopped at
    once (`stopped`), with several nothing changed and `subscription` is there to choose from."""

    sources: int
    stopped: bool
    subscription: Subscription


async def unsubscribe(chat_id: int, subscriptions: SubscriptionStore) -> Unsubscribed:
    """Stop the digest when it has exactly one source; with several the chat is asked which. Nothing is
    deleted: saved queries stay, switched off, for a comeback."""
    subscription = await subscriptions.get(chat_id)
    sources = int(subscription.gov_news) + len(subscription.enabled_queries)
    if sources == 1:
        await subscriptions.unsubscribe_all(chat_id)
    return Unsubscribed(sources, sources == 1, subscription)


async def unsubscribe_all(chat_id: int, subscriptions: SubscriptionStore) -> int:
    """Stop everything; how many saved queries the chat keeps (switched off)."""
    await subscriptions.unsubscribe_all(chat_id)
    return await subscriptions.count_queries(chat_id)


async def unsubscribe_query(chat_id: int, query_id: int, subscriptions: SubscriptionStore) -> str | None:
    """Switch one saved query off; its text, or None when it is gone or was off already."""
    saved = await subscriptions.get_query(chat_id, query_id)
    if saved is None or not await subscriptions.set_query_enabled(chat_id, saved.id, False):
        return None
    return saved.text
