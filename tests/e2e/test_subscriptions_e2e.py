"""Subscriptions end to end: the real application Dispatcher (bot.app.build_dispatcher, its routers in its
order) polling the Bot API emulator over HTTP with Telegram's flood limits on, the real Bot (429 retry and
pacing), a fresh database. Updates are injected into the emulator as Telegram would push them; answers are
read from what the emulator recorded."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from datetime import datetime, timedelta

import pytest
from aiogram import Bot, Dispatcher

from bot import app
from bot.archive.parsing import make_article
from bot.config import Settings
from bot.digest.pacing import DeliveryConfig
from bot.digest.schedule import next_due
from bot.digest.sender import deliver_ready
from bot.digest.service import run_due
from bot.telegram.callbacks import SettingsAction
from storage.sqlite import SqliteStorage
from storage.sqlite.articles import ArticleRepository
from storage.sqlite.chats import ChatRepository
from storage.sqlite.database import Database
from storage.sqlite.outbox import OutboxRepository
from storage.sqlite.subscriptions import SubscriptionRepository
from tests.conftest import TEST_NOW
from tests.emulator.models import SentMessage
from tests.emulator.server import BotAPIEmulator
from tests.handlers.digest_ui_support import (
    ADMIN_ID,
    CHANNEL_ID,
    CHANNEL_USERNAME,
    GROUP_ID,
    USER_ID,
    add_channel,
    add_group,
)

MEMBER_ID = 3000
WAIT = 10.0


@dataclasses.dataclass
class Live:
    emulator: BotAPIEmulator
    bot: Bot
    dispatcher: Dispatcher
    db: Database
    settings: Settings
    chats: ChatRepository
    subscriptions: SubscriptionRepository
    outbox: OutboxRepository

    def inject(self, text: str, *, chat_id: int, user_id: int | None) -> None:
        """A user's message as Telegram pushes it: private chats are the user's own, negative ids groups."""
        if chat_id < 0:
            self.emulator.message(text, chat_id=chat_id, chat_type="supergroup", user_id=user_id or USER_ID)
        else:
            self.emulator.message(text, user_id=chat_id)

    async def say(
        self, text: str, *, expect: int = 1, chat_id: int = USER_ID, user_id: int | None = None
    ) -> list[SentMessage]:
        """Send as a user and wait for `expect` new messages from the bot in that chat."""
        before = len(self.emulator.messages_to(chat_id))
        self.inject(text, chat_id=chat_id, user_id=user_id)
        messages = await self.emulator.wait_for_messages(chat_id, before + expect, timeout=WAIT)
        return messages[before:]

    async def silent(self, text: str, *, chat_id: int = USER_ID) -> None:
        """Send as a user and check the bot answers nothing: the answer to a /time probe sent right after
        (updates are handled in order) is the only new message."""
        before = len(self.emulator.messages_to(chat_id))
        self.inject(text, chat_id=chat_id, user_id=None)
        [probe] = await self.say("/time", chat_id=chat_id)
        assert len(self.emulator.messages_to(chat_id)) == before + 1
        assert probe.text.startswith("Дайджест приходит")

    async def click(self, message: SentMessage, label: str, *, user_id: int | None = None) -> SentMessage:
        """Press a button and wait until the bot answered the callback; the message as it is then."""
        answers = len(self.emulator.callback_answers)
        self.emulator.click(message, label, user_id=user_id)
        await self.emulator.wait_for(lambda: len(self.emulator.callback_answers) > answers, timeout=WAIT)
        # The edit (if any) comes after the answer. Updates are handled one at a time and the next getUpdates
        # (which wakes this wait) is only sent once the handler is done.
        await self.emulator.wait_for(self._idle, timeout=WAIT)
        return self.emulator.get_message(message.chat_id, message.message_id)

    def _idle(self) -> bool:
        flight = self.dispatcher.workflow_data.get("in_flight")
        return flight is None or flight.count == 0


@pytest.fixture
async def live(emulator: BotAPIEmulator, settings: Settings, db: Database) -> AsyncIterator[Live]:
    app_settings = dataclasses.replace(settings, telegram_api_url=emulator.base_url)
    storage = SqliteStorage(db)
    chats, subscriptions, outbox = storage.chats, storage.subscriptions, storage.outbox
    dispatcher = app.build_dispatcher(app_settings, storage, throttling=False)
    bot = app.create_bot(app_settings)
    polling = asyncio.create_task(
        dispatcher.start_polling(bot, handle_signals=False, handle_as_tasks=False, polling_timeout=1)
    )
    try:
        yield Live(emulator, bot, dispatcher, db, app_settings, chats, subscriptions, outbox)
    finally:
        await dispatcher.stop_polling()
        await asyncio.wait_for(polling, timeout=WAIT)
        await bot.session.close()


async def add_gov_articles(db: Database, published: datetime, count: int = 2) -> list[str]:
    titles = [f"Правительственная комиссия по связи №{n} одобрила программу" for n in range(count)]
    await ArticleRepository(db).add_many(
        [
            make_article(
                title=title,
                lead="Заседание правительственной комиссии прошло в Москве.",
                body=["Комиссия рассмотрела вопросы и приняла решения."],
                published_at=published - timedelta(minutes=n),
                views=10,
                source="government.ru",
                url=f"https://government.ru/news/e2e-{n}/",
            )
            for n, title in enumerate(titles)
        ]
    )
    return titles


async def test_private_chat_subscribe_settings_unsubscribe(live: Live) -> None:
    [answer] = await live.say("/subscribe")
    assert answer.text.startswith("✅ Подписка оформлена")

    [menu] = await live.say("/settings")
    picker = await live.click(menu, "🕗 Время")
    menu = await live.click(picker, "07:30")
    assert "Время: 07:30" in menu.text

    [error] = await live.say("/time 25:00")
    assert error.text.startswith("Не понимаю время «25:00»") and "/time 08:30" in error.text
    [changed] = await live.say("/tz Europe/Berlin")
    assert changed.text.startswith("🌍 Часовой пояс: Europe/Berlin")
    chat = await live.chats.get(USER_ID)
    assert chat is not None and chat.timezone == "Europe/Berlin" and chat.delivery_time.hour == 7

    await live.say("/subscribe налоги")
    [question] = await live.say("/unsubscribe")
    done = await live.click(question, "Всё")
    assert done.text.startswith("Дайджест остановлен. Сохранённые запросы (1)")
    assert not await live.subscriptions.is_subscribed(USER_ID)
    assert [q.enabled for q in (await live.subscriptions.get(USER_ID)).queries] == [False]


async def test_group_admin_and_non_admin(live: Live) -> None:
    add_group(live.emulator, admin_id=USER_ID)
    [refused] = await live.say("/subscribe", chat_id=GROUP_ID, user_id=MEMBER_ID)
    assert refused.text == "Менять подписку и настройки в группе могут только её администраторы."
    [answer] = await live.say("/subscribe", chat_id=GROUP_ID, user_id=USER_ID)
    assert answer.text.startswith("✅ Подписка оформлена")

    [menu] = await live.say("/settings", chat_id=GROUP_ID, user_id=USER_ID)
    picker = await live.click(menu, "🔢 Сколько материалов", user_id=USER_ID)
    await live.click(picker, "5", user_id=MEMBER_ID)
    assert live.emulator.callback_answers[-1].show_alert
    chat = await live.chats.get(GROUP_ID)
    assert chat is not None and chat.max_items is None
    await live.click(picker, "5", user_id=USER_ID)
    chat = await live.chats.get(GROUP_ID)
    assert chat is not None and chat.max_items == 5

    [refused] = await live.say("/unsubscribe", chat_id=GROUP_ID, user_id=MEMBER_ID)
    assert "только её администраторы" in refused.text
    [stopped] = await live.say("/unsubscribe", chat_id=GROUP_ID, user_id=USER_ID)
    assert stopped.text.startswith("Дайджест остановлен")


async def test_channel_subscription_and_its_digest_posted_in_the_channel(live: Live) -> None:
    add_channel(live.emulator)
    [answer] = await live.say(f"/subscribe @{CHANNEL_USERNAME}")
    assert answer.text.startswith(f"✅ Канал @{CHANNEL_USERNAME} подписан")
    [menu] = await live.say(f"/settings @{CHANNEL_USERNAME}")
    assert all(
        SettingsAction.unpack(button["callback_data"]).chat_id == CHANNEL_ID for button in menu.buttons
    )

    channel = await live.chats.get(CHANNEL_ID)
    subscription = await live.subscriptions.get(CHANNEL_ID)
    assert channel is not None and subscription.since is not None
    due = next_due(channel, after=subscription.since, after_digest=False)
    titles = await add_gov_articles(live.db, due - timedelta(hours=1))
    config = DeliveryConfig.from_settings(live.settings, backoff_base=0.05)
    result = await run_due(live.bot, SqliteStorage(live.db), config, now=due + timedelta(minutes=1))
    assert result.sent == 1 and result.failed == 0
    posted = "\n".join(message.text for message in live.emulator.messages_to(CHANNEL_ID))
    assert all(title in posted for title in titles)
    assert live.emulator.messages_to(USER_ID)[-1].message_id == menu.message_id  # nothing extra in private


async def test_digest_command_now(live: Live) -> None:
    titles = await add_gov_articles(live.db, TEST_NOW - timedelta(hours=1))
    [not_yet] = await live.say("/digest")
    assert not_yet.text.startswith("Этот чат не подписан")
    await live.say("/subscribe")
    sent = await live.say("/digest")
    assert all(title in sent[0].text for title in titles)
    assert (await live.outbox.counts()).total == 0


async def test_stats_and_broadcast_by_admin_and_by_others(live: Live) -> None:
    await live.say("/subscribe")
    await live.silent("/stats")
    await live.silent("/broadcast Всем привет")
    assert (await live.outbox.counts()).total == 0

    [stats] = await live.say("/stats", chat_id=ADMIN_ID)
    assert "Активных подписчиков: 1" in stats.text and "Рассылок ещё не было." in stats.text
    [queued] = await live.say("/broadcast Завтра <b>дайджест</b> выйдет позже", chat_id=ADMIN_ID)
    assert queued.text.startswith("📣 Рассылка №1 поставлена в очередь (чатов: 1)")
    result = await deliver_ready(
        live.bot, SqliteStorage(live.db), DeliveryConfig.from_settings(live.settings), kind="broadcast"
    )
    assert (result.sent, result.failed) == (1, 0)
    delivered = live.emulator.last_message(USER_ID)
    assert delivered.text == "Завтра <b>дайджест</b> выйдет позже"  # the admin's text, shown as written

    [stats] = await live.say("/stats", chat_id=ADMIN_ID)
    assert "Последняя рассылка (broadcast" in stats.text and "отправлено 1" in stats.text
