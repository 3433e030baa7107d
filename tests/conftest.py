"""Shared fixtures: settings, a fresh migrated database. The Bot API emulator comes from its own plugin."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.config import Settings
from storage.database import Database

pytest_plugins = ["tests.emulator.pytest_plugin"]

SHARED = Path(__file__).resolve().parent.parent.parent / "shared"
FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        bot_token="123456:TEST-token-for-the-emulator-000000000",
        database_url=f"sqlite:///{tmp_path / 'govdigest.db'}",
        admin_ids=frozenset({1000}),
    )


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = await Database.connect(tmp_path / "test.db")
    try:
        yield database
    finally:
        await database.close()
