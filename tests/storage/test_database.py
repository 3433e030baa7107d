from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from storage.sqlite.database import PAGE_SIZE, Database
from storage.sqlite.migrations import MIGRATIONS, Migration


async def test_fresh_database_is_migrated_to_latest(tmp_path: Path) -> None:
    db = await Database.connect(tmp_path / "sub" / "a.db")
    try:
        latest = max((m.version for m in MIGRATIONS), default=0)
        assert await db.user_version() == latest
        assert await db.fetchval("PRAGMA journal_mode") == "wal"
        assert await db.fetchval("PRAGMA foreign_keys") == 1
    finally:
        await db.close()


async def test_a_new_database_has_16k_pages_and_an_old_one_keeps_its_own(tmp_path: Path) -> None:
    async with await Database.connect(tmp_path / "new.db") as db:
        assert await db.fetchval("PRAGMA page_size") == PAGE_SIZE == 16_384
    old = tmp_path / "old.db"
    with sqlite3.connect(old) as conn:  # a database made before: 4 KB pages, already WAL
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("CREATE TABLE before (x)")
    async with await Database.connect(old) as db:
        assert await db.fetchval("PRAGMA page_size") == 4_096
        assert await db.user_version() == max(m.version for m in MIGRATIONS)


async def test_migrating_a_migrated_database_applies_nothing(tmp_path: Path) -> None:
    path = tmp_path / "a.db"
    async with await Database.connect(path):
        pass
    async with await Database.connect(path, migrate=False) as db:
        assert await db.migrate() == []


async def test_failed_migration_leaves_no_trace(db: Database) -> None:
    version = await db.user_version()
    broken = Migration(version + 1, "broken", "CREATE TABLE t_ok (x INTEGER); CREATE TABLE broken (")
    with pytest.raises(sqlite3.OperationalError):
        await db.migrate([broken])
    assert await db.user_version() == version
    assert await db.fetchval("SELECT count(*) FROM sqlite_master WHERE name = 't_ok'") == 0


async def test_transaction_rolls_back_on_error(db: Database) -> None:
    await db.execute("CREATE TABLE kv (k TEXT PRIMARY KEY, v TEXT)")
    with pytest.raises(RuntimeError):
        async with db.transaction() as conn:
            await conn.execute("INSERT INTO kv VALUES (?, ?)", ("a", "1"))
            raise RuntimeError("boom")
    assert await db.fetchval("SELECT count(*) FROM kv") == 0


async def test_ping_answers_on_a_database_and_connect_refuses_other_files(
    db: Database, tmp_path: Path
) -> None:
    await db.ping()
    path = tmp_path / "not.db"
    path.write_bytes(b"this is not an SQLite file" * 100)
    with pytest.raises(sqlite3.DatabaseError):
        await Database.connect(path, migrate=False)
