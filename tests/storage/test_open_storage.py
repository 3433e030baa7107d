"""The storage boundary's entry: which DATABASE_URLs a backend here opens, and opening one."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.clock import FixedClock
from storage import StorageError, database_url_problem, open_storage, sqlite_path
from tests.conftest import TEST_NOW


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("sqlite:///data/govdigest.db", True),
        ("sqlite:////abs/path.db", True),
        ("sqlite:///:memory:", True),
        ("sqlite:///", False),
        ("sqlite:data.db", False),
        ("data.db", False),
        ("postgresql://bot:s3cret@db.example/govdigest", False),
    ],
)
def test_database_url_problem(url: str, ok: bool) -> None:
    problem = database_url_problem(url)
    assert (problem is None) is ok
    assert problem is None or "s3cret" not in problem  # a password never reaches the error line


def test_sqlite_path() -> None:
    assert sqlite_path("sqlite:///data/x.db") == Path("data/x.db")
    assert sqlite_path("sqlite:///:memory:") == ":memory:"
    assert sqlite_path("postgresql://h/db") is None


async def test_open_storage_gives_the_repositories_and_the_clock(tmp_path: Path) -> None:
    clock = FixedClock(TEST_NOW)
    storage = await open_storage(f"sqlite:///{tmp_path / 'a.db'}", clock=clock)
    try:
        await storage.ping()
        assert storage.clock() == TEST_NOW
        chat = await storage.chats.upsert(1, type="private")
        assert chat.created_at == TEST_NOW  # rows are stamped by the injected clock
    finally:
        await storage.close()


async def test_open_storage_refuses_what_it_cannot_open(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="unsupported database URL scheme"):
        await open_storage("postgresql://h/db", clock=FixedClock(TEST_NOW))
    (tmp_path / "not-a-db").write_bytes(b"\x00garbage" * 512)
    with pytest.raises(StorageError, match="cannot open"):
        await open_storage(f"sqlite:///{tmp_path / 'not-a-db'}", clock=FixedClock(TEST_NOW))
