"""Storage: the only package that holds SQL. `open_storage(database_url, clock=...)` opens the backend the
URL names and returns its repositories, built once (storage.interfaces.Storage); the application injects
them and never sees a connection.

- storage/interfaces.py: the boundary, as Protocols (what every backend implements);
- storage/sqlite/: the embedded default (aiosqlite, a tantivy search index beside the file, migrations by PRAGMA user_version);
- storage/postgres/: the shared store for several instances (asyncpg pool, each instance's own ranking index
  caught up from the table, tsvector matching in SQL), for
  `postgresql://` URLs. Each backend is a package beside the other, chosen here by the URL's scheme."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from bot.clock import Clock
from storage.errors import StorageError, StorageUnavailable
from storage.interfaces import Storage

__all__ = [
    "Storage",
    "StorageError",
    "StorageUnavailable",
    "database_url_problem",
    "open_storage",
    "sqlite_path",
]

SQLITE_PREFIX = "sqlite:///"
POSTGRES_SCHEMES = ("postgresql", "postgres")


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
        return f"expected sqlite:///path/to/file.db or postgresql://user@host/db, got {_no_password(database_url)!r}"
    scheme = database_url.split(":", 1)[0]
    if scheme in POSTGRES_SCHEMES:
        try:
            parts = urlsplit(database_url)
            parts.port  # noqa: B018 - raises ValueError for a port that is not a number
        except ValueError:
            return f"malformed PostgreSQL URL {_no_password(database_url)!r}"
        if not parts.hostname and "host=" not in parts.query:
            return f"no host in {_no_password(database_url)!r} (expected postgresql://user@host/db)"
        return None
    return f"unsupported scheme {scheme!r} (expected sqlite:///path/to/file.db or postgresql://user@host/db)"


def _no_password(url: str) -> str:
    """`url` with the password of its user part replaced by ***."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    authority, slash, tail = rest.partition("/")
    if "@" in authority:
        user, _, host = authority.rpartition("@")
        if ":" in user:
            user = user.split(":", 1)[0] + ":***"
        authority = f"{user}@{host}"
    return f"{scheme}://{authority}{slash}{tail}"


async def open_storage(
    database_url: str,
    *,
    clock: Clock,
    migrate: bool = True,
    pool_size: int = 10,
    search_index_dir: Path | None = None,
) -> Storage:
    """Open (and by default migrate) the database `database_url` names. StorageError when it cannot.
    `pool_size` caps a server backend's connections (SQLite has one connection); `search_index_dir` is where a
    server backend's instance keeps its ranking index (None: in memory; SQLite's is beside its file)."""
    path = sqlite_path(database_url)
    if path is not None:
        from storage.sqlite import SqliteStorage

        return await SqliteStorage.open(path, clock=clock, migrate=migrate)
    scheme = database_url.split(":", 1)[0]
    if scheme in POSTGRES_SCHEMES and database_url_problem(database_url) is None:
        from storage.postgres import PostgresStorage

        return await PostgresStorage.open(
            database_url,
            clock=clock,
            migrate=migrate,
            pool_size=pool_size,
            search_index_dir=search_index_dir,
        )
    raise StorageError(
        f"unsupported database URL scheme {scheme!r} (expected sqlite:///PATH or postgresql://user@host/db)"
    )
