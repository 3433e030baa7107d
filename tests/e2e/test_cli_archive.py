"""The archive through the `govdigest` command line, in-process (main(argv)) and as a real subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.cli import main
from tests.conftest import FIXTURES

INGEST = FIXTURES / "ingest"


@pytest.fixture
def database_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)  # no stray .env is read, and the default data/ folder lands in tmp
    path = tmp_path / "db" / "archive.db"
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{path}")
    return path


def test_ingest_search_stats(database_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ingest", str(INGEST)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[-1] == "5 new, 0 duplicates, 4 rejected"
    assert sum(line.startswith("rejected ") for line in out) == 4
    assert any("empty.txt" in line for line in out)

    assert main(["ingest", str(INGEST)]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "0 new, 5 duplicates, 4 rejected"

    assert main(["search", "Госсовет", "импортозамещение"]) == 0
    text = capsys.readouterr().out
    assert "1. 27.10.2021 22:29" in text
    assert "*импортозамещения*" in text

    assert main(["search", "--json", "--limit", "3", "комиссия"]) == 0
    results = json.loads(capsys.readouterr().out)
    assert 1 <= len(results) <= 3
    assert {"id", "title", "published_at", "snippet", "url", "source"} <= set(results[0])

    assert main(["search", "--since", "01.01.2025", "Госсовет", "импортозамещение"]) == 0
    assert capsys.readouterr().out.strip() == "nothing found"

    assert main(["stats", "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["articles"] == 5
    assert stats["by_topic"]["state_council"] >= 1


@pytest.mark.parametrize(
    "query", ['"', "NEAR(", "AND OR NOT", "'; DROP TABLE articles;--", "x" * 10_000, "-*:^"]
)
def test_hostile_queries_never_crash(
    database_env: Path, capsys: pytest.CaptureFixture[str], query: str
) -> None:
    assert main(["ingest", str(INGEST)]) == 0
    capsys.readouterr()
    code = main(["search", "--", query])
    captured = capsys.readouterr()
    assert code in (0, 2)
    assert "Traceback" not in captured.err
    if code == 2:
        assert "nothing to search" in captured.err


def test_ingest_of_nothing_readable_fails(database_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ingest", str(INGEST / "pages" / "empty.txt"), "/no/such/file"]) == 1
    assert capsys.readouterr().out.splitlines()[-1] == "0 new, 0 duplicates, 2 rejected"


def test_bad_setting_is_one_line_and_exit_2(database_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env = {**os.environ, "DIGEST_TIMEZONE": "Nowhere/City"}
    result = subprocess.run(
        [sys.executable, "-m", "bot", "stats"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "govdigest: DIGEST_TIMEZONE: unknown IANA timezone 'Nowhere/City'"
    ]
