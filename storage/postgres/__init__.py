"""The PostgreSQL backend (the shared store for several bot instances): an asyncpg pool, migrations recorded in
`schema_version` under an advisory lock, Russian search over a `tsvector` of the archive's own stems.
`PostgresStorage` bundles its repositories; `open_storage` (storage/__init__.py) picks it for
`postgresql://` URLs."""

from __future__ import annotations

from pathlib import Path

import asyncpg

from bot.clock import Clock
from storage.errors import StorageError
from storage.postgres.articles import ArticleRepository
from storage.postgres.chats import ChatRepository
from storage.postgres.database import DEFAULT_POOL_SIZE, PgDatabase
from storage.postgres.outbox import OutboxRepository
from storage.postgres.search_keys import SearchKeyRepository
from storage.postgres.shared_limits import SharedLimitRepository
from storage.postgres.sources import SourceRepository
from storage.postgres.subscriptions import SubscriptionRepository

# What a failure to reach or use the server raises: the server's errors, the driver's, the network's.
CONNECTION_ERRORS = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError)


class PostgresStorage:
    """The repositories of one PostgreSQL database, built once (implements storage.interfaces.Storage)."""

    def __init__(self, db: PgDatabase, *, description: str) -> None:
        self.db = db
        self.description = description
        self.articles = ArticleRepository(db)
        self.chats = ChatRepository(db)
        self.subscriptions = SubscriptionRepository(db)
        self.outbox = OutboxRepository(db)
        self.sources = SourceRepository(db)
        self.search_keys = SearchKeyRepository(db)
        self.shared_limits = SharedLimitRepository(db)

    @property
    def clock(self) -> Clock:
        return self.db.clock

    @classmethod
    async def open(
        cls,
        url: str,
        *,
        clock: Clock,
        migrate: bool = True,
        pool_size: int = DEFAULT_POOL_SIZE,
        schema: str | None = None,
        search_index_dir: Path | None = None,
    ) -> PostgresStorage:
        """`search_index_dir`: where this instance keeps its ranking index, checked and caught up here; None:
        in memory, built by the first search or by `articles.prepare_search()` (`govdigest run` calls it at start;
        a command that never searches does not index the archive for nothing)."""
        description = describe_url(url)
        try:
            db = await PgDatabase.connect(
                url,
                clock=clock,
                migrate=migrate,
                pool_size=pool_size,
                schema=schema,
                search_index_dir=search_index_dir,
            )
            storage = cls(db, description=description)
            if migrate and search_index_dir is not None:  # a read-only look leaves the index as it is
                try:
                    await storage.articles.prepare_search()
                except BaseException:
                    await db.close()
                    raise
        except CONNECTION_ERRORS as error:
            raise StorageError(
                f"cannot open the PostgreSQL database {description}: {_reason(error)}"
            ) from error
        return storage

    async def ping(self) -> None:
        try:
            await self.db.ping()
        except CONNECTION_ERRORS as error:
            raise StorageError(
                f"the PostgreSQL database {self.description} does not answer: {_reason(error)}"
            ) from error

    async def close(self) -> None:
        await self.db.close()


def describe_url(url: str) -> str:
    """user@host:port/database of a postgresql:// URL, never its password."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    user = f"{parts.username}@" if parts.username else ""
    host = parts.hostname or "localhost"
    port = f":{parts.port}" if parts.port else ""
    return f"{user}{host}{port}{parts.path or '/'}"


def _reason(error: BaseException) -> str:
    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return text[:200]
