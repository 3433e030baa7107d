"""The embedded backend (the default): one aiosqlite connection in WAL mode, migrations by
`PRAGMA user_version`, FTS5 for Russian search. `SqliteStorage` bundles its repositories."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from bot.clock import Clock
from storage.errors import StorageError
from storage.sqlite.articles import ArticleRepository
from storage.sqlite.chats import ChatRepository
from storage.sqlite.database import Database
from storage.sqlite.outbox import OutboxRepository
from storage.sqlite.search_keys import SearchKeyRepository
from storage.sqlite.sources import SourceRepository
from storage.sqlite.subscriptions import SubscriptionRepository


class SqliteStorage:
    """The repositories of one SQLite database, built once (implements storage.interfaces.Storage)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.articles = ArticleRepository(db)
        self.chats = ChatRepository(db)
        self.subscriptions = SubscriptionRepository(db)
        self.outbox = OutboxRepository(db)
        self.sources = SourceRepository(db)
        self.search_keys = SearchKeyRepository(db)

    @property
    def shared_limits(self) -> None:
        """One process owns a SQLite database: its in-memory limits (send budget, throttle, cooldown) are the
        whole story."""
        return None

    @property
    def clock(self) -> Clock:
        return self.db.clock

    @classmethod
    async def open(cls, path: Path | str, *, clock: Clock, migrate: bool = True) -> SqliteStorage:
        try:
            storage = cls(await Database.connect(path, clock=clock, migrate=migrate))
        except (sqlite3.Error, OSError, ValueError) as error:
            raise StorageError(f"cannot open the SQLite database {path}: {error}") from error
        if migrate:  # a read-only look (the health check) leaves the ranking index as it is
            try:
                await storage.articles.prepare_search()
            except BaseException:
                await storage.close()
                raise
        return storage

    async def ping(self) -> None:
        try:
            await self.db.ping()
        except sqlite3.Error as error:
            raise StorageError(f"the SQLite database {self.db.path} does not answer: {error}") from error

    async def close(self) -> None:
        await self.db.close()
