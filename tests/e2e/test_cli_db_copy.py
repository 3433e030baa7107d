"""`govdigest db copy` as a real subprocess: a SQLite database made by `govdigest ingest` (plus a chat and its
subscription) copied into a fresh PostgreSQL database and back, the counts table, then `govdigest search` on
each copy finding what it finds on the original."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from bot.clock import FixedClock
from storage.sqlite import SqliteStorage
from tests.conftest import FIXTURES, TEST_NOW, postgres_test_url

pytestmark = pytest.mark.slow

INGEST = FIXTURES / "ingest"
QUERY = "Госсовет"  # finds three of the five fixture articles


def _run(*args: str, cwd: Path, database_url: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LOG_LEVEL": "WARNING"}
    if database_url is not None:
        env["DATABASE_URL"] = database_url
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def _admin(server_url: str, statement: str, name: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(server_url)
    try:
        quoted = await conn.fetchval("SELECT quote_ident($1)", name)
        await conn.execute(statement.format(quoted))
    finally:
        await conn.close()


@pytest.fixture
def postgres_database() -> Iterator[str]:
    """The URL of a fresh database on the test server (a schema cannot be named in a URL); dropped after."""
    server_url = postgres_test_url()
    name = f"govdigest_copy_{uuid.uuid4().hex[:12]}"
    asyncio.run(_admin(server_url, "CREATE DATABASE {}", name))
    parts = urlsplit(server_url)
    try:
        yield urlunsplit(parts._replace(path=f"/{name}"))
    finally:
        asyncio.run(_admin(server_url, "DROP DATABASE IF EXISTS {} WITH (FORCE)", name))


async def _add_chat(path: Path, chat_id: int = -1001234567890) -> None:
    storage = await SqliteStorage.open(path, clock=FixedClock(TEST_NOW))
    try:
        await storage.chats.upsert(chat_id, type="supergroup", title="Новости региона")
        await storage.subscriptions.set_gov_news(chat_id, True)
        await storage.subscriptions.add_query(chat_id, "импортозамещение")
    finally:
        await storage.close()


def _counts(stdout: str) -> dict[str, tuple[int, int]]:
    header, *rows = stdout.strip().splitlines()
    assert header.split() == ["table", "source", "destination"]
    return {name: (int(source), int(destination)) for name, source, destination in map(str.split, rows)}


def _found(cwd: Path, database_url: str) -> list[tuple[int, str]]:
    result = _run("search", "--json", "--limit", "50", QUERY, cwd=cwd, database_url=database_url)
    assert result.returncode == 0, result.stderr
    return sorted((hit["id"], hit["title"]) for hit in json.loads(result.stdout))


def test_copy_to_postgres_and_back(tmp_path: Path, postgres_database: str) -> None:
    source_path = tmp_path / "source.db"
    source_url = f"sqlite:///{source_path}"
    ingested = _run("ingest", str(INGEST), cwd=tmp_path, database_url=source_url)
    assert ingested.returncode == 0, ingested.stderr
    assert ingested.stdout.splitlines()[-1].startswith("5 new")
    asyncio.run(_add_chat(source_path))
    expected = _found(tmp_path, source_url)
    assert len(expected) == 3

    copied = _run("db", "copy", source_url, postgres_database, cwd=tmp_path)
    assert copied.returncode == 0, copied.stderr
    counts = _counts(copied.stdout)
    assert counts["articles"] == (5, 5)
    assert counts["chats"] == counts["subscriptions"] == counts["saved_queries"] == (1, 1)
    assert all(source == destination for source, destination in counts.values())
    assert "delivery_lease" not in counts and "send_slots" not in counts
    assert "articles: 5/5 rows" in copied.stderr.splitlines()
    assert _found(tmp_path, postgres_database) == expected

    again = _run("db", "copy", source_url, postgres_database, cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert "copied 0 rows" in again.stderr
    assert _counts(again.stdout) == counts

    back_url = f"sqlite:///{tmp_path / 'back.db'}"
    returned = _run("db", "copy", postgres_database, back_url, cwd=tmp_path)
    assert returned.returncode == 0, returned.stderr
    assert _counts(returned.stdout) == counts
    assert _found(tmp_path, back_url) == expected

    same = _run("db", "copy", source_url, source_url, cwd=tmp_path)
    assert same.returncode == 2
    assert same.stderr.strip().splitlines() == [
        "govdigest: db copy: the source and the destination are the same database"
    ]

    other_url = f"sqlite:///{tmp_path / 'other.db'}"
    asyncio.run(_add_chat(tmp_path / "other.db", chat_id=42))  # a database of its own, not a copy
    foreign = _run("db", "copy", source_url, other_url, cwd=tmp_path)
    assert foreign.returncode == 2
    assert len(foreign.stderr.strip().splitlines()) == 1
    assert "not an interrupted copy of the source" in foreign.stderr
