"""A Dispatcher harness for the subscription, settings, digest, admin and membership handlers: the application's
own Dispatcher (its dependencies, every router in its order) and real repositories on a fresh database, Telegram
answered in-process by RecordingSession's emulator (its validation of HTML, lengths and callback data applies)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.types import Update

from bot.app import build_dispatcher
from bot.config import Settings
from storage.sqlite import SqliteStorage
from storage.sqlite.chats import ChatRepository
from storage.sqlite.database import Database
from storage.sqlite.outbox import OutboxRepository
from storage.sqlite.subscriptions import SubscriptionRepository
from tests.emulator.models import SentMessage
from tests.emulator.recording import RecordingSession, make_recording_bot
from tests.emulator.server import BotAPIEmulator

ADMIN_ID = 1000  # tests/conftest.py settings.admin_ids
USER_ID = 2000
GROUP_ID = -1001000000001
CHANNEL_ID = -1001000000002
CHANNEL_USERNAME = "govchannel"


@dataclass
class Harness:
    dispatcher: Dispatcher
    bot: Bot
    session: RecordingSession
    db: Database
    chats: ChatRepository
    subscriptions: SubscriptionRepository
    outbox: OutboxRepository
    seen: int = field(default=0)

    @property
    def emulator(self) -> BotAPIEmulator:
        return self.session.emulator

    async def feed(self, update: dict[str, Any]) -> list[SentMessage]:
        """Handle one update; return the messages the bot sent while handling it."""
        before = len(self.emulator.sent_messages)
        await self.dispatcher.feed_update(self.bot, Update.model_validate(update, context={"bot": self.bot}))
        return self.emulator.sent_messages[before:]

    async def send(self, text: str, **kwargs: Any) -> list[SentMessage]:
        return await self.feed(self.emulator.message(text, **kwargs))

    async def reply(self, text: str, **kwargs: Any) -> SentMessage:
        """Send and return the bot's one answer."""
        sent = await self.send(text, **kwargs)
        assert len(sent) == 1, [message.text for message in sent]
        return sent[0]

    async def press(self, message: SentMessage, label: str, *, user_id: int | None = None) -> SentMessage:
        """Press a button by its label; return the (possibly edited) message."""
        await self.feed(self.emulator.click(message, label, user_id=user_id))
        return self.emulator.get_message(message.chat_id, message.message_id)

    async def press_data(
        self, message: SentMessage, data: str, *, user_id: int | None = None, strict: bool = True
    ) -> list[SentMessage]:
        return await self.feed(
            self.emulator.callback_query(data, message=message, user_id=user_id, strict=strict)
        )

    def last_callback_answer(self) -> str | None:
        answers = self.emulator.callback_answers
        return answers[-1].text if answers else None


async def make_harness(app_settings: Settings, db: Database) -> Harness:
    """The application's own Dispatcher (bot.app.build_dispatcher: its dependencies, its routers in their
    order, its update middleware setting the locale from the sender), without flood throttling."""
    session = RecordingSession()
    bot = make_recording_bot(session)
    storage = SqliteStorage(db)
    dispatcher = build_dispatcher(app_settings, storage, throttling=False)
    return Harness(dispatcher, bot, session, db, storage.chats, storage.subscriptions, storage.outbox)


def add_group(emulator: BotAPIEmulator, *, admin_id: int = USER_ID, chat_id: int = GROUP_ID) -> None:
    emulator.add_chat(chat_id, "supergroup", "Администрация")
    emulator.add_user(admin_id)
    emulator.set_member(chat_id, admin_id, "administrator")


def add_channel(
    emulator: BotAPIEmulator,
    *,
    admin_id: int | None = USER_ID,
    bot_status: str = "administrator",
    chat_id: int = CHANNEL_ID,
    username: str = CHANNEL_USERNAME,
) -> None:
    emulator.add_chat(chat_id, "channel", "Новости комиссий", username, bot_status=bot_status)
    if admin_id is not None:
        emulator.add_user(admin_id)
        emulator.set_member(chat_id, admin_id, "administrator")
