"""`govdigest health` reaches the database through storage.open_storage: a file that is no database is one
"unhealthy" line (StorageError), not a traceback."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from bot.cli.run import health_command
from bot.config import Settings

ARGS = argparse.Namespace(max_age=120.0)


def settings_for(url: str) -> Settings:
    return Settings.from_env({"DATABASE_URL": url}, env_file=None)


async def test_a_file_that_is_no_database_is_unhealthy(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "govdigest.db"
    path.write_bytes(b"this is not an SQLite database, just bytes " * 100)
    assert await health_command(ARGS, settings_for(f"sqlite:///{path}")) == 1
    out = capsys.readouterr().out
    assert out.startswith("unhealthy: ") and str(path) in out and "Traceback" not in out


async def test_a_missing_file_is_unhealthy(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert await health_command(ARGS, settings_for(f"sqlite:///{tmp_path / 'none.db'}")) == 1
    assert capsys.readouterr().out.startswith("unhealthy: no database at ")


async def test_in_memory_database_opens(capsys: pytest.CaptureFixture[str]) -> None:
    assert await health_command(ARGS, settings_for("sqlite:///:memory:")) == 0
    assert capsys.readouterr().out.startswith("ok: database opens")
