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
        ("postgresql://bot:s3cret@db.example/govdigest", True),
        ("postgres://bot@127.0.0.1:5432/govdigest", True),
        ("postgresql://bot:s3cret@db.example:port/govdigest", False),
        ("postgresql:///govdigest", False),
        ("mysql://bot:s3cret@db.example/govdigest", False),
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
        await open_storage("mysql://h/db", clock=FixedClock(TEST_NOW))
    (tmp_path / "not-a-db").write_bytes(b"\x00garbage" * 512)
    with pytest.raises(StorageError, match="cannot open"):
        await open_storage(f"sqlite:///{tmp_path / 'not-a-db'}", clock=FixedClock(TEST_NOW))


async def test_a_postgresql_url_opens_the_postgresql_backend(postgres_schema: tuple[str, str]) -> None:
    from storage.postgres import PostgresStorage

    url, schema = postgres_schema
    storage = await PostgresStorage.open(url, clock=FixedClock(TEST_NOW), schema=schema, pool_size=2)
    try:
        await storage.ping()
        assert storage.clock() == TEST_NOW
    finally:
        await storage.close()


async def test_a_postgresql_database_that_refuses_is_one_line_without_the_password() -> None:
    # Port 1 on loopback: nothing listens there, so the connection is refused at once.
    with pytest.raises(StorageError) as caught:
        await open_storage("postgresql://bot:s3cret@127.0.0.1:1/govdigest", clock=FixedClock(TEST_NOW))
    message = str(caught.value)
    assert "bot@127.0.0.1:1/govdigest" in message and "s3cret" not in message and "\n" not in message
