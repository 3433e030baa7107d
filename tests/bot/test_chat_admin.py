"""bot/chats/admins.py: the brief admin cache and the channel check, against the in-process emulator."""

from __future__ import annotations

import pytest
from aiogram import Bot
from aiogram.types import Chat, User

from bot.chats.admins import ChannelProblem, ChatAdminCache, can_manage, check_channel
from tests.emulator.recording import RecordingSession

GROUP = -1002000000001
CHANNEL = -1002000000002


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def member_calls(session: RecordingSession) -> int:
    return sum(1 for call in session.calls if type(call).__name__ == "GetChatMember")


@pytest.fixture
def group(recording_session: RecordingSession) -> RecordingSession:
    emulator = recording_session.emulator
    emulator.add_chat(GROUP, "supergroup", "Группа")
    emulator.add_user(1)
    emulator.add_user(2)
    emulator.set_member(GROUP, 1, "administrator")
    emulator.set_member(GROUP, 2, "member")
    return recording_session


async def test_answers_are_cached_for_the_ttl(group: RecordingSession, recording_bot: Bot) -> None:
    clock = Clock()
    cache = ChatAdminCache(ttl=30, clock=clock)
    assert await cache.is_admin(recording_bot, GROUP, 1)
    assert not await cache.is_admin(recording_bot, GROUP, 2)
    assert await cache.is_admin(recording_bot, GROUP, 1)
    assert member_calls(group) == 2

    group.emulator.set_member(GROUP, 1, "member")  # demoted
    clock.now = 29.9
    assert await cache.is_admin(recording_bot, GROUP, 1)  # still the cached answer
    clock.now = 30.0
    assert not await cache.is_admin(recording_bot, GROUP, 1)
    assert member_calls(group) == 3


async def test_forget_and_size_bound(group: RecordingSession, recording_bot: Bot) -> None:
    cache = ChatAdminCache(max_entries=1)
    await cache.is_admin(recording_bot, GROUP, 1)
    await cache.is_admin(recording_bot, GROUP, 2)
    assert len(cache) == 1
    cache.forget(GROUP)
    assert len(cache) == 0
    await cache.is_admin(recording_bot, GROUP, 1)
    cache.forget(GROUP, 1)
    assert len(cache) == 0


async def test_telegram_refusal_means_no(recording_bot: Bot, recording_session: RecordingSession) -> None:
    cache = ChatAdminCache()
    assert not await cache.is_admin(recording_bot, -100999, 12345)  # unknown user: 400 "user not found"
    assert len(cache) == 0  # a failure is not remembered


@pytest.mark.parametrize(
    ("chat", "user_id", "sender_chat", "expected"),
    [
        (Chat(id=5, type="private"), 5, None, True),
        (Chat(id=GROUP, type="supergroup"), 1, None, True),
        (Chat(id=GROUP, type="supergroup"), 2, None, False),
        (Chat(id=GROUP, type="supergroup"), 2, Chat(id=GROUP, type="supergroup"), True),  # anonymous admin
        (Chat(id=GROUP, type="supergroup"), None, None, False),
        (Chat(id=CHANNEL, type="channel"), 1, None, False),
    ],
)
async def test_can_manage(
    group: RecordingSession,
    recording_bot: Bot,
    chat: Chat,
    user_id: int | None,
    sender_chat: Chat | None,
    expected: bool,
) -> None:
    user = None if user_id is None else User(id=user_id, is_bot=False, first_name="U")
    assert await can_manage(recording_bot, ChatAdminCache(), chat, user, sender_chat) is expected


@pytest.mark.parametrize(
    ("bot_status", "user_status", "problem"),
    [
        ("administrator", "administrator", None),
        ("administrator", "creator", None),
        ("member", "administrator", ChannelProblem.BOT_NOT_ADMIN),
        ("administrator", "member", ChannelProblem.USER_NOT_ADMIN),
        ("left", "administrator", ChannelProblem.BOT_NOT_ADMIN),
    ],
)
async def test_check_channel(
    recording_session: RecordingSession,
    recording_bot: Bot,
    bot_status: str,
    user_status: str,
    problem: ChannelProblem | None,
) -> None:
    emulator = recording_session.emulator
    emulator.add_chat(CHANNEL, "channel", "Канал", "somechannel", bot_status=bot_status)
    emulator.add_user(7)
    emulator.set_member(CHANNEL, 7, user_status)
    for ref in ("@somechannel", CHANNEL):
        check = await check_channel(recording_bot, ChatAdminCache(), ref, 7)
        assert check.problem is problem
        assert check.ok is (problem is None)
        assert check.chat is not None and check.chat.id == CHANNEL


async def test_check_channel_not_found_and_not_a_channel(
    recording_session: RecordingSession, recording_bot: Bot
) -> None:
    missing = await check_channel(recording_bot, ChatAdminCache(), "@nosuchchannel", 7)
    assert missing.problem is ChannelProblem.NOT_FOUND and missing.chat is None
    recording_session.emulator.add_chat(GROUP, "supergroup", "Группа", "somegroup")
    group = await check_channel(recording_bot, ChatAdminCache(), "@somegroup", 7)
    assert group.problem is ChannelProblem.NOT_CHANNEL
