"""Storage: the only package that holds SQL. `open_storage(database_url, clock=...)` opens the backend the
URL names and returns its repositories, built once (storage.interfaces.Storage); the application injects
them and never sees a connection.

- storage/interfaces.py: the boundary, as Protocols (what every backend implements);
- storage/sqlite/: the embedded default (aiosqlite, FTS5, migrations by PRAGMA user_version);
- a second backend is a new package beside it, chosen here by the URL's scheme."""

from __future__ import annotations

from pathlib import Path

from bot.clock import Clock
from storage.errors import StorageError
from storage.interfaces import Storage

__all__ = ["Storage", "StorageError", "database_url_problem", "open_storage", "sqlite_path"]

SQLITE_PREFIX = "sqlite:///"


def sqlite_path(database_url: str) -> Path | str | None:
    """The SQLite file a `sqlite:///...` URL names (":memory:" stays a string); None for another scheme."""
    if not database_url.startswith(SQLITE_PREFIX):
        return None
    rest = database_url.removeprefix(SQLITE_PREFIX)
    return rest if rest == ":memory:" else Path(rest)


def database_url_problem(database_url: str) -> str | None:
    """Why `database_url` names no database a backend here can open (one line for the settings error, without
    any password), or None when it does."""
    if database_url.startswith(SQLITE_PREFIX) and database_url != SQLITE_PREFIX:
        return None
    if database_url.startswith("sqlite:") or "://" not in database_url:
        return f"expected sqlite:///path/to/file.db, got {database_url!r}"
    scheme = database_url.split(":", 1)[0]
    return f"unsupported scheme {scheme!r} (expected sqlite:///path/to/file.db)"


async def open_storage(database_url: str, *, clock: Clock, migrate: bool = True) -> Storage:
    """Open (and by default migrate) the database `database_url` names. StorageError when it cannot."""
    path = sqlite_path(database_url)
    if path is not None:
        from storage.sqlite import SqliteStorage

        return await SqliteStorage.open(path, clock=clock, migrate=migrate)
    scheme = database_url.split(":", 1)[0]
    raise StorageError(f"unsupported database URL scheme {scheme!r} (expected sqlite:///PATH)")
