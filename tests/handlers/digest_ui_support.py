"""A Dispatcher harness for the subscription, settings, digest, admin and membership routers: real routers and
repositories on a fresh database, Telegram answered in-process by RecordingSession's emulator (its validation of
HTML, lengths and callback data applies)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiogram import Bot, Dispatcher, Router
from aiogram.types import Update

from bot.chats.admins import ChatAdminCache
from bot.config import Settings
from bot.digest.on_demand import GROUP_DIGEST_COOLDOWN_SECONDS, ChatCooldown, PagesInFlight
from handlers import admin, digest, membership, settings, start, subscribe
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


# This feature's routers in the order bot.app.ROUTER_FACTORIES must hold them (membership first, all of them
# before handlers.start).
UI_ROUTER_FACTORIES: tuple[Callable[[], Router], ...] = (
    membership.create_router,
    subscribe.create_router,
    settings.create_router,
    digest.create_router,
    admin.create_router,
)


def ui_routers() -> list[Router]:
    return [factory() for factory in UI_ROUTER_FACTORIES]


def dependencies(app_settings: Settings, db: Database) -> dict[str, Any]:
    storage = SqliteStorage(db)
    return {
        "settings": app_settings,
        "store": storage,
        "clock": storage.clock,
        "archive": storage.articles,
        "chats": storage.chats,
        "subscriptions": storage.subscriptions,
        "outbox": storage.outbox,
        "chat_admins": ChatAdminCache(),
        "digest_cooldown": ChatCooldown(GROUP_DIGEST_COOLDOWN_SECONDS),
        "pages_in_flight": PagesInFlight(),
    }


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


async def make_harness(app_settings: Settings, db: Database, *, with_start: bool = True) -> Harness:
    session = RecordingSession()
    bot = make_recording_bot(session)
    deps = dependencies(app_settings, db)
    dispatcher = Dispatcher(**deps)
    for router in ui_routers():
        dispatcher.include_router(router)
    if with_start:
        dispatcher.include_router(start.create_router())
        from bot.telegram.search_state import QueryStore

        dispatcher.workflow_data["search_keys"] = QueryStore()
        dispatcher.workflow_data["locale"] = "ru"
    return Harness(dispatcher, bot, session, db, deps["chats"], deps["subscriptions"], deps["outbox"])


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
