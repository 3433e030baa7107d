"""Fixtures for the Bot API emulator (loaded by tests/conftest.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiogram import Bot

from tests.emulator.recording import RecordingSession, make_recording_bot
from tests.emulator.server import BotAPIEmulator


@pytest.fixture
async def emulator() -> AsyncIterator[BotAPIEmulator]:
    """A started emulator with Telegram's flood limits on; token = DEFAULT_TOKEN (same as `settings`)."""
    server = BotAPIEmulator()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
async def bot(emulator: BotAPIEmulator) -> AsyncIterator[Bot]:
    """An aiogram Bot talking HTTP to `emulator` (HTML parse mode); its session is closed afterwards."""
    client = emulator.make_bot()
    try:
        yield client
    finally:
        await client.session.close()


@pytest.fixture
def recording_session() -> RecordingSession:
    """A RecordingSession over an unstarted emulator (flood limits off): `.calls`, `.emulator`."""
    return RecordingSession()


@pytest.fixture
def recording_bot(recording_session: RecordingSession) -> Bot:
    """A Bot whose calls go to `recording_session` (no HTTP)."""
    return make_recording_bot(recording_session)
