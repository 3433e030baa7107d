"""A small archive for the bot's Dispatcher and end-to-end tests: enough "комиссия" hits for three pages,
hostile titles, an article without a URL and one far longer than a message."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.enums import ParseMode
from aiogram.types import Update

from bot.app import build_dispatcher
from bot.archive.models import Article
from bot.archive.parsing import make_article
from bot.config import Settings
from bot.telegram.throttle import FloodThrottle
from storage.sqlite import SqliteStorage
from storage.sqlite.articles import ArticleRepository
from storage.sqlite.database import Database
from tests.emulator.models import SentMessage
from tests.emulator.recording import RecordingSession, make_recording_bot
from tests.emulator.server import BotAPIEmulator

HOSTILE_TITLE = 'Комиссия <b>не жирная</b> & "кавычки" <script>alert(1)</script>'
LONG_TITLE = "Длинный доклад комиссии о дорогах"
NO_URL_TITLE = "Комиссия без ссылки на источник"
COMMISSION_HITS = 15  # articles matching "комиссия"
_START = datetime(2021, 10, 1, 9, 0, tzinfo=UTC)


def sample_articles() -> list[Article]:
    articles = [
        make_article(
            title=f"Правительственная комиссия по транспорту, заседание {i}",
            lead=f"Комиссия обсудила вопрос номер {i} о дорогах и мостах.",
            body=(f"Подробности заседания {i}. Члены комиссии решили продолжить работу.",),
            published_at=_START + timedelta(days=i),
            views=100 + i,
            source="Тестовые новости",
            url=f"https://example.org/news/{i}?utm=1&page={i}",
        )
        for i in range(12)
    ]
    articles.append(
        make_article(
            title=HOSTILE_TITLE,
            lead="Лид с <тегом> & амперсандом — комиссия.",
            body=("Текст.",),
            published_at=_START + timedelta(days=20),
            views=None,
            source="Источник <i>с тегом</i>",
            url="https://example.org/hostile?a=1&b=<2>",
        )
    )
    articles.append(
        make_article(
            title=NO_URL_TITLE,
            lead="Комиссия собралась без публикации ссылки.",
            body=("Решение комиссии опубликуют позже.",),
            published_at=_START + timedelta(days=21),
            views=5,
            source="Региональные вести",
            url=None,
        )
    )
    paragraphs = [
        f"Абзац {n} доклада. " + "Комиссия рассмотрела состояние дорог и мостов в регионе. " * 9
        for n in range(30)
    ]
    articles.append(
        make_article(
            title=LONG_TITLE,
            lead="Комиссия представила подробный доклад.",
            body=paragraphs,
            published_at=_START + timedelta(days=22),
            views=1000,
            source="Тестовые новости",
            url="https://example.org/long-report",
        )
    )
    articles += [
        make_article(
            title=f"Погода в Москве, выпуск {i}",
            lead="Синоптики обещают дождь.",
            body=("Без осадков не обойдётся.",),
            published_at=_START + timedelta(days=30 + i),
            views=1,
            source="Погода",
            url=f"https://example.org/weather/{i}",
        )
        for i in range(3)
    ]
    return articles


async def seed(db: Database) -> list[int]:
    result = await ArticleRepository(db).add_many(sample_articles())
    return result.new_ids


@dataclass
class Harness:
    """The real Dispatcher (all routers) fed updates directly; replies go to a RecordingSession whose
    in-process emulator validates them like Telegram (HTML, lengths, callback data)."""

    dispatcher: Dispatcher
    bot: Bot
    session: RecordingSession
    db: Database

    @property
    def emulator(self) -> BotAPIEmulator:
        return self.session.emulator

    async def feed(self, update: dict[str, Any]) -> None:
        await self.dispatcher.feed_update(self.bot, Update.model_validate(update, context={"bot": self.bot}))

    async def message(self, text: str, **kwargs: Any) -> list[SentMessage]:
        """Send a user's message; the messages the bot sent in reply (to any chat)."""
        before = len(self.emulator.sent_messages)
        await self.feed(self.emulator.message(text, **kwargs))
        return self.emulator.sent_messages[before:]

    async def click(self, message: SentMessage, label: str, **kwargs: Any) -> list[SentMessage]:
        before = len(self.emulator.sent_messages)
        await self.feed(self.emulator.click(message, label, **kwargs))
        return self.emulator.sent_messages[before:]


@asynccontextmanager
async def harness(
    settings: Settings, db: Database, *, throttle: FloodThrottle | None = None
) -> AsyncIterator[Harness]:
    """Throttling is off unless a `throttle` is given."""
    await seed(db)
    session = RecordingSession()
    bot = make_recording_bot(session)
    bot.default = DefaultBotProperties(parse_mode=ParseMode.HTML, link_preview_is_disabled=True)
    dispatcher = build_dispatcher(
        settings, SqliteStorage(db), throttle=throttle, throttling=throttle is not None
    )
    try:
        yield Harness(dispatcher, bot, session, db)
    finally:
        await bot.session.close()


def entity_texts(message: SentMessage, kind: str) -> list[str]:
    """The text under each entity of type `kind` (offsets are UTF-16 code units, as Telegram counts)."""
    encoded = message.text.encode("utf-16-le")
    return [
        encoded[e["offset"] * 2 : (e["offset"] + e["length"]) * 2].decode("utf-16-le")
        for e in message.entities
        if e["type"] == kind
    ]
