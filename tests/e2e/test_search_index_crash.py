"""kill -9 of a real `govdigest ingest` at three points: the table and its ranking index beside the file end up
holding the same articles, each once (storage/search_index.py's catch-up)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bot.archive.morphology import stem_text
from bot.archive.query import parse_query, word_family
from bot.clock import FixedClock
from storage.sqlite import SqliteStorage, body
from tests.conftest import FIXTURES

pytestmark = pytest.mark.slow

RECORDS = 2_000
KILL_AFTER = (300, 800, 1_400)  # articles in the table when the process is killed


def _records(path: Path) -> None:
    """RECORDS distinct articles: the sample corpus's records, each title and URL made unique."""
    sample = [
        json.loads(line) for line in (FIXTURES / "search" / "corpus_sample.jsonl").read_text().splitlines()
    ]
    with path.open("w", encoding="utf-8") as out:
        for number in range(RECORDS):
            record = dict(sample[number % len(sample)])
            record["title"] = f"{record['title']} (выпуск {number})"
            record["url"] = f"https://example.ru/news/{number}"
            record["text"] = f"Выпуск {number}. {record['text']}"
            out.write(json.dumps(record, ensure_ascii=False) + "\n")


def _stored(database: Path) -> int:
    if not database.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=5) as conn:
            return int(conn.execute("SELECT count(*) FROM articles").fetchone()[0])
    except sqlite3.OperationalError:  # not created yet
        return 0


def _ingest(records: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "bot", "ingest", str(records)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group: the kill takes the parse workers too
    )


def _kill_three_times_then_finish(records: Path, database: Path) -> None:
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{database}"}
    kills = 0
    for threshold in KILL_AFTER:
        process = _ingest(records, env)
        deadline = time.monotonic() + 60
        while _stored(database) < threshold and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)  # a condition polled: the table's count reaching the kill point
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            kills += 1
        process.wait(timeout=30)
    assert kills >= 2, "the ingest finished before it could be killed: make RECORDS larger"
    finished = subprocess.run(
        [sys.executable, "-m", "bot", "ingest", str(records)],
        check=False,
        env=env,
        capture_output=True,
        timeout=120,
    )
    assert finished.returncode == 0, finished.stderr.decode()[-2000:]


async def test_kill_9_mid_ingest_loses_and_doubles_nothing_in_the_index(
    tmp_path: Path, clock: FixedClock
) -> None:
    records = tmp_path / "records.jsonl"
    _records(records)
    database = tmp_path / "archive.db"
    await asyncio.to_thread(_kill_three_times_then_finish, records, database)
    storage = await SqliteStorage.open(database, clock=clock)
    try:
        assert (await storage.articles.stats()).articles == RECORDS
        assert storage.db.search_index.document_count() == RECORDS
        rows = await storage.db.fetchall("SELECT title, lead, body FROM articles")
        stems = [set(stem_text(f"{row[0]}\n{row[1]}\n{body.unpack(row[2])}").split()) for row in rows]
        for text in ("выпуск", "россия", "путин"):
            family = set(word_family(text))
            in_table = sum(1 for article in stems if family & article)  # counted from the table itself
            assert await storage.articles.count(parse_query(text), cap=10**6) == in_table, text
        hits = await storage.articles.search(parse_query("выпуск"), limit=RECORDS)
        assert len(hits) == len({hit.article_id for hit in hits}) == RECORDS
    finally:
        await storage.close()
