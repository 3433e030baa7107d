"""Seeding helpers for the digest end-to-end tests, the crash test and the fan-out benchmark: articles in the
archive and subscribed chats in both the database and the emulator."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime, time, timedelta

from bot.archive.models import Article
from storage.sqlite.articles import ArticleRepository
from storage.sqlite.chats import ChatRepository
from storage.sqlite.database import Database
from storage.sqlite.subscriptions import SubscriptionRepository
from tests.emulator import BotAPIEmulator

TOPIC_CYCLE: tuple[frozenset[str], ...] = (
    frozenset({"commission"}),
    frozenset({"state_council"}),
    frozenset({"ministry"}),
    frozenset({"governor"}),
    frozenset({"meeting"}),
)


def make_articles(
    count: int,
    *,
    end: datetime,
    span: timedelta = timedelta(hours=23),
    title_prefix: str = "Заседание комиссии",
    lead_words: int = 12,
) -> list[Article]:
    """`count` government news articles spread over `span` before `end` (newest first)."""
    articles = []
    step = span / max(count, 1)
    for number in range(count):
        title = f"{title_prefix} № {number}: решение по вопросу {number * 7 % 101}"
        lead = f"Лид новости {number}. " + " ".join(f"слово{(number + i) % 50}" for i in range(lead_words))
        body = (f"Текст новости {number}.",)
        digest = hashlib.sha256(f"{title}|{lead}".encode()).hexdigest()
        articles.append(
            Article(
                title=title,
                lead=lead,
                body=body,
                published_at=end - step * (number + 0.5),
                views=(number * 37) % 1000,
                source=f"source{number % 4}.gov.ru",
                url=f"https://source{number % 4}.gov.ru/news/{number}",
                topics=TOPIC_CYCLE[number % len(TOPIC_CYCLE)],
                is_gov_commission=True,
                content_hash=digest,
            )
        )
    return articles


async def add_articles(db: Database, articles: Sequence[Article]) -> list[int]:
    return (await ArticleRepository(db).add_many(articles)).new_ids


async def subscribe_chats(
    db: Database,
    chat_ids: Sequence[int],
    *,
    emulator: BotAPIEmulator | None = None,
    timezone: str = "Europe/Moscow",
    at: time = time(9, 0),
    max_items: int | None = None,
    notify_empty: bool = False,
    since: datetime | None = None,
    last_period_end: datetime | None = None,
) -> None:
    """Chats (private for positive ids, groups for negative) subscribed to government news."""
    chats = ChatRepository(db)
    subs = SubscriptionRepository(db)
    for chat_id in chat_ids:
        kind = "private" if chat_id > 0 else "group"
        await chats.upsert(chat_id, type=kind, title=None if chat_id > 0 else f"Group {chat_id}")
        if emulator is not None:
            emulator.add_chat(chat_id, kind, None if chat_id > 0 else f"Group {chat_id}")
        await chats.set_timezone(chat_id, timezone)
        await chats.set_delivery_time(chat_id, at)
        await chats.set_max_items(chat_id, max_items)
        await chats.set_notify_empty(chat_id, notify_empty)
        await subs.set_gov_news(chat_id, True)
        if last_period_end is not None:
            await chats.set_last_period_end(chat_id, last_period_end)
    if since is not None:
        # Subscribed long ago: the schedule anchor is in the past (tests pick "now" freely).
        await db.execute("UPDATE subscriptions SET since = ?", (since.isoformat(),))
