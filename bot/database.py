"""Opening the configured database for a command or the bot: the storage backend DATABASE_URL names, with the
clock its rows are stamped by (the wall clock unless a caller passes another)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from bot.clock import Clock, system_clock
from bot.config import Settings
from storage import Storage, open_storage


@asynccontextmanager
async def opened_storage(
    settings: Settings, *, clock: Clock = system_clock, migrate: bool = True
) -> AsyncIterator[Storage]:
    storage = await open_storage(
        settings.database_url,
        clock=clock,
        migrate=migrate,
        pool_size=settings.database_pool_size,
        search_index_dir=settings.search_index_dir,
    )
    try:
        yield storage
    finally:
        await storage.close()
