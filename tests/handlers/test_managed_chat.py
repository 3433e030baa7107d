"""The managed-chat middleware (bot/chats/managed_middleware.py) on a probe router: a flagged handler gets
`managing` when the sender may manage the chat; otherwise the refusal is answered and the handler never runs."""

from __future__ import annotations

from typing import Any

import pytest
from aiogram import Dispatcher, Router
from aiogram.filters import Command
from aiogram.types import CallbackQuery, Message, Update

from bot.chats.admins import ChatAdminCache
from bot.chats.managed import Managing
from bot.chats.managed_middleware import MANAGES_CHAT, ManagedTarget, install_managed_chat
from bot.telegram.callbacks import SettingsAction
from bot.telegram.updates import InFlight, UpdateMiddleware
from storage.sqlite import SqliteStorage
from storage.sqlite.database import Database
from tests.emulator.recording import RecordingSession, make_recording_bot
from tests.handlers.digest_ui_support import GROUP_ID, USER_ID, add_group

MEMBER_ID = 3000
GROUP_REFUSAL = "Менять подписку и настройки в группе могут только её администраторы."


class Probe:
    """A router whose handlers only record what they were called with."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Managing | None]] = []
        self.router = Router(name="probe")
        install_managed_chat(self.router)
        self.router.message.register(self.manage, Command("manage"), flags={MANAGES_CHAT: ManagedTarget.HERE})
        self.router.message.register(self.plain, Command("plain"))
        self.router.callback_query.register(
            self.button, SettingsAction.filter(), flags={MANAGES_CHAT: ManagedTarget.BUTTON}
        )

    async def manage(self, message: Message, managing: Managing) -> None:
        self.calls.append(("manage", managing))

    async def plain(self, message: Message, **data: Any) -> None:
        self.calls.append(("plain", data.get("managing")))

    async def button(self, callback: CallbackQuery, managing: Managing) -> None:
        self.calls.append(("button", managing))


@pytest.fixture
async def setup(db: Database) -> tuple[Dispatcher, Probe, RecordingSession]:
    storage = SqliteStorage(db)
    probe = Probe()
    dispatcher = Dispatcher(chats=storage.chats, chat_admins=ChatAdminCache())
    dispatcher.update.outer_middleware(UpdateMiddleware(InFlight()))
    dispatcher.include_router(probe.router)
    return dispatcher, probe, RecordingSession()


async def _feed(dispatcher: Dispatcher, session: RecordingSession, update: dict[str, Any]) -> list[str]:
    bot = make_recording_bot(session)
    before = len(session.emulator.sent_messages)
    await dispatcher.feed_update(bot, Update.model_validate(update, context={"bot": bot}))
    return [message.text for message in session.emulator.sent_messages[before:]]


async def test_a_group_member_gets_the_refusal_and_the_handler_is_not_called(
    setup: tuple[Dispatcher, Probe, RecordingSession],
) -> None:
    dispatcher, probe, session = setup
    add_group(session.emulator, admin_id=USER_ID)
    group = {"chat_id": GROUP_ID, "chat_type": "supergroup"}
    sent = await _feed(dispatcher, session, session.emulator.message("/manage", user_id=MEMBER_ID, **group))
    assert sent == [GROUP_REFUSAL]
    assert probe.calls == []

    assert (
        await _feed(dispatcher, session, session.emulator.message("/manage", user_id=USER_ID, **group)) == []
    )
    ((name, managing),) = probe.calls
    assert name == "manage" and managing is not None and managing.chat.id == GROUP_ID


async def test_a_button_for_the_group_is_refused_to_a_member(
    setup: tuple[Dispatcher, Probe, RecordingSession],
) -> None:
    dispatcher, probe, session = setup
    add_group(session.emulator, admin_id=USER_ID)
    await _feed(
        dispatcher,
        session,
        session.emulator.message("/manage", user_id=USER_ID, chat_id=GROUP_ID, chat_type="supergroup"),
    )
    probe.calls.clear()
    await make_recording_bot(session).send_message(GROUP_ID, "menu")
    menu = session.emulator.last_message(GROUP_ID)
    press = SettingsAction(chat_id=GROUP_ID, action="open").pack()
    await _feed(
        dispatcher,
        session,
        session.emulator.callback_query(press, message=menu, user_id=MEMBER_ID, strict=False),
    )
    assert session.emulator.callback_answers[-1].text == GROUP_REFUSAL
    assert probe.calls == []

    await _feed(
        dispatcher,
        session,
        session.emulator.callback_query(press, message=menu, user_id=USER_ID, strict=False),
    )
    ((name, managing),) = probe.calls
    assert name == "button" and managing is not None and managing.chat.id == GROUP_ID


async def test_a_private_chat_passes_and_unflagged_handlers_are_left_alone(
    setup: tuple[Dispatcher, Probe, RecordingSession],
) -> None:
    dispatcher, probe, session = setup
    assert await _feed(dispatcher, session, session.emulator.message("/manage", user_id=USER_ID)) == []
    assert await _feed(dispatcher, session, session.emulator.message("/plain", user_id=USER_ID)) == []
    (manage, plain) = probe.calls
    assert manage[0] == "manage" and manage[1] is not None
    assert (manage[1].chat.id, manage[1].chat.type, manage[1].locale) == (USER_ID, "private", "ru")
    assert plain == ("plain", None)
