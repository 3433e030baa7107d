from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from bot.config import ConfigError, Settings


def test_defaults() -> None:
    settings = Settings.from_env({}, env_file=None)
    assert settings.database_url == "sqlite:///data/govdigest.db"
    assert settings.database_path == Path("data/govdigest.db")
    assert settings.digest_timezone == "Europe/Moscow"
    assert settings.admin_ids == frozenset()
    assert settings.telegram_api_url == "https://api.telegram.org"


def test_env_file_is_read_and_environment_wins(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text(
        "# comment\nADMIN_IDS=1, 2\nLOG_LEVEL='debug'\nDIGEST_TIMEZONE=Asia/Tokyo\n", encoding="utf-8"
    )
    settings = Settings.from_env({"DIGEST_TIMEZONE": "Europe/Berlin"}, env_file=env)
    assert settings.admin_ids == frozenset({1, 2})
    assert settings.log_level == "DEBUG"
    assert settings.digest_timezone == "Europe/Berlin"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DIGEST_TIMEZONE", "Mars/Olympus"),
        ("ADMIN_IDS", "12,abc"),
        ("LOG_LEVEL", "LOUD"),
        ("DATABASE_URL", "mysql://x"),
        ("DATABASE_URL", "postgresql://bot:pw@db:notaport/x"),
        ("DATABASE_POOL_SIZE", "0"),
        ("DATABASE_POOL_SIZE", "ten"),
        ("TELEGRAM_API_URL", "not a url"),
        ("MESSAGES_PER_SECOND", "-1"),
        ("SOURCES_ALLOW_PRIVATE_ADDRESSES", "maybe"),
    ],
)
def test_bad_value_names_the_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        Settings.from_env({name: value}, env_file=None)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("1", True), ("true", True), (" YES ", True), ("0", False), ("False", False), ("no", False)],
)
def test_private_fetch_flag(value: str, expected: bool) -> None:
    settings = Settings.from_env({"SOURCES_ALLOW_PRIVATE_ADDRESSES": value}, env_file=None)
    assert settings.allow_private_fetch is expected


def test_private_fetch_is_off_by_default() -> None:
    assert Settings.from_env({}, env_file=None).allow_private_fetch is False
    assert Settings().allow_private_fetch is False


@pytest.mark.parametrize("token", [None, "", "abc", "123:short"])
def test_missing_or_malformed_token(token: str | None) -> None:
    with pytest.raises(ConfigError, match="BOT_TOKEN"):
        Settings(bot_token=token).require_token()


def test_token_never_in_repr() -> None:
    token = "123456:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    settings = Settings(bot_token=token)
    assert settings.require_token() == token
    assert "AAAAAAAA" not in repr(settings)


def test_repr_shows_every_other_field() -> None:
    """The dataclass writes the repr, so a new setting shows up in it without anyone remembering to."""
    shown = repr(Settings(bot_token="123456:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"))
    assert shown.startswith("Settings(") and "bot_token" not in shown
    for name in (f.name for f in dataclasses.fields(Settings) if f.name != "bot_token"):
        assert f"{name}=" in shown


@pytest.mark.parametrize(("value", "expected"), [("0", False), ("no", False), ("1", True), ("TRUE", True)])
def test_load_default_sources_flag(value: str, expected: bool) -> None:
    assert Settings.from_env({"SOURCES_LOAD_DEFAULTS": value}, env_file=None).load_default_sources is expected
    assert Settings.from_env({}, env_file=None).load_default_sources is True


def test_env_example_is_a_valid_configuration() -> None:
    example = Path(__file__).resolve().parents[2] / ".env.example"
    settings = Settings.from_env({}, env_file=example)
    assert settings.bot_token is None
    assert settings.database_url == "sqlite:///data/govdigest.db"
    assert settings.load_default_sources is True and settings.allow_private_fetch is False
