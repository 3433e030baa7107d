"""One settings object, read from the environment and an optional `.env` file."""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from storage import database_url_problem, sqlite_path

DEFAULT_TELEGRAM_API_URL = "https://api.telegram.org"
DEFAULT_DATABASE_URL = "sqlite:///data/govdigest.db"
_TOKEN_RE = re.compile(r"^\d{3,20}:[A-Za-z0-9_-]{30,64}$")


class ConfigError(ValueError):
    """A setting has a bad value; the message names the variable."""


@dataclass(frozen=True, slots=True)
class Settings:
    # Left out of the generated repr: the token never reaches a log line through repr().
    bot_token: str | None = field(default=None, repr=False)
    telegram_api_url: str = DEFAULT_TELEGRAM_API_URL
    database_url: str = DEFAULT_DATABASE_URL
    # Connections of a PostgreSQL backend's pool per process (SQLite always has one).
    database_pool_size: int = 10
    # Where a PostgreSQL instance keeps its own ranking index of the archive (storage/search_index.py); None:
    # in memory, built from the table at every start (fine for small archives; SQLite keeps it beside its file).
    search_index_dir: Path | None = None
    # Where `govdigest run` writes its heartbeat for `govdigest health`; None: next to a SQLite file (a
    # server database has no file to sit next to: set it, e.g. /tmp/govdigest.heartbeat in a container).
    heartbeat_file: Path | None = None
    digest_timezone: str = "Europe/Moscow"
    admin_ids: frozenset[int] = field(default_factory=frozenset)
    log_level: str = "INFO"
    # Overall outgoing pace for digests and broadcasts (Telegram allows about 30 messages/s).
    messages_per_second: float = 30.0
    # Let the sources poller connect to loopback/private/link-local addresses (tests, local deployments);
    # off, it fetches from public addresses only (bot/sources/addresses.py).
    allow_private_fetch: bool = False
    # The shipped default sources are added on first start; off for tests and for archives fed only by hand.
    load_default_sources: bool = True

    @property
    def timezone(self) -> ZoneInfo:
        return ZoneInfo(self.digest_timezone)

    @property
    def database_path(self) -> Path | str | None:
        """The SQLite file named by DATABASE_URL (":memory:" stays a string); None for another backend."""
        return sqlite_path(self.database_url)

    def require_token(self) -> str:
        """The bot token, or ConfigError when it is missing or malformed."""
        if not self.bot_token:
            raise ConfigError("BOT_TOKEN: not set (get one from @BotFather)")
        if not _TOKEN_RE.match(self.bot_token):
            raise ConfigError("BOT_TOKEN: malformed (expected <digits>:<secret>)")
        return self.bot_token

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, env_file: Path | None = Path(".env")
    ) -> Settings:
        """Read settings; a value in the environment wins over the same key in `.env`."""
        values: dict[str, str] = {}
        if env_file is not None and env_file.is_file():
            values.update(read_env_file(env_file))
        values.update(os.environ if environ is None else environ)
        return cls(
            bot_token=values.get("BOT_TOKEN") or None,
            telegram_api_url=_url(
                "TELEGRAM_API_URL", values.get("TELEGRAM_API_URL", DEFAULT_TELEGRAM_API_URL)
            ),
            database_url=_database_url(values.get("DATABASE_URL", DEFAULT_DATABASE_URL)),
            database_pool_size=_positive_int("DATABASE_POOL_SIZE", values.get("DATABASE_POOL_SIZE", "10")),
            search_index_dir=Path(values["SEARCH_INDEX_DIR"])
            if values.get("SEARCH_INDEX_DIR", "").strip()
            else None,
            heartbeat_file=Path(values["HEARTBEAT_FILE"])
            if values.get("HEARTBEAT_FILE", "").strip()
            else None,
            digest_timezone=_timezone(values.get("DIGEST_TIMEZONE", "Europe/Moscow")),
            admin_ids=_admin_ids(values.get("ADMIN_IDS", "")),
            log_level=_log_level(values.get("LOG_LEVEL", "INFO")),
            messages_per_second=_positive_float(
                "MESSAGES_PER_SECOND", values.get("MESSAGES_PER_SECOND", "30")
            ),
            allow_private_fetch=_flag(
                "SOURCES_ALLOW_PRIVATE_ADDRESSES", values.get("SOURCES_ALLOW_PRIVATE_ADDRESSES", "0")
            ),
            load_default_sources=_flag("SOURCES_LOAD_DEFAULTS", values.get("SOURCES_LOAD_DEFAULTS", "1")),
        )


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines; blank lines and # comments skipped; one level of quotes stripped."""
    result: dict[str, str] = {}
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.removeprefix("export ").partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        result[key.strip()] = value
    return result


def _url(name: str, value: str) -> str:
    value = value.strip().rstrip("/")
    if not re.match(r"^https?://[^\s/]+", value):
        raise ConfigError(f"{name}: expected an http(s) URL, got {value!r}")
    return value


def _database_url(value: str) -> str:
    value = value.strip()
    problem = database_url_problem(value)  # the storage backends say which URLs they open
    if problem is not None:
        raise ConfigError(f"DATABASE_URL: {problem}")
    return value


def _timezone(value: str) -> str:
    value = value.strip()
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"DIGEST_TIMEZONE: unknown IANA timezone {value!r}") from None
    return value


def _admin_ids(value: str) -> frozenset[int]:
    ids: set[int] = set()
    for raw_part in value.replace(";", ",").split(","):
        part = raw_part.strip()
        if not part:
            continue
        if not re.fullmatch(r"-?\d{1,20}", part):
            raise ConfigError(f"ADMIN_IDS: expected comma-separated Telegram user ids, got {part!r}")
        ids.add(int(part))
    return frozenset(ids)


def _log_level(value: str) -> str:
    level = value.strip().upper()
    if level not in logging.getLevelNamesMapping():
        raise ConfigError(f"LOG_LEVEL: unknown level {value!r} (DEBUG, INFO, WARNING, ERROR)")
    return level


def _positive_float(name: str, value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise ConfigError(f"{name}: expected a number, got {value!r}") from None
    if number <= 0:
        raise ConfigError(f"{name}: must be positive, got {value!r}")
    return number


def _positive_int(name: str, value: str) -> int:
    try:
        number = int(value.strip())
    except ValueError:
        raise ConfigError(f"{name}: expected a whole number, got {value!r}") from None
    if number <= 0:
        raise ConfigError(f"{name}: must be positive, got {value!r}")
    return number


_FLAG_VALUES = {"1": True, "true": True, "yes": True, "0": False, "false": False, "no": False, "": False}


def _flag(name: str, value: str) -> bool:
    try:
        return _FLAG_VALUES[value.strip().lower()]
    except KeyError:
        raise ConfigError(f"{name}: expected 1/true/yes or 0/false/no, got {value!r}") from None
