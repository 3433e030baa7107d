from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from datetime import datetime
from functools import partial
from pathlib import Path

import pytest

from bot.archive import ingest
from bot.archive.ingest import (
    Parsed,
    Rejected,
    WorkItem,
    ingest_paths,
    iter_work,
    process_batch,
    record_paragraphs,
)
from bot.archive.query import parse_query
from storage.sqlite.articles import ArticleRepository
from storage.sqlite.database import Database
from tests.conftest import FIXTURES, TEST_NOW

INGEST = FIXTURES / "ingest"


def test_iter_work_walks_folders_and_records() -> None:
    items = list(iter_work([INGEST, Path("/no/such/place")]))
    pages = sorted(Path(i.path).name for i in items if isinstance(i, WorkItem) and i.record is None)
    records = [i for i in items if isinstance(i, WorkItem) and i.record is not None]
    missing = [i for i in items if isinstance(i, Rejected)]
    assert pages == ["binary.txt", "empty.txt", "seed-page.txt"]
    assert len(records) == 6
    assert [m.reason for m in missing] == ["no such file or folder"]


def test_process_batch_never_raises_and_keeps_order() -> None:
    items = [i for i in iter_work([INGEST]) if isinstance(i, WorkItem)]
    results = process_batch(items, TEST_NOW)
    assert [r.where for r in results] == [i.where for i in items]
    reasons = {Path(r.where.split(":")[0]).name: r.reason for r in results if isinstance(r, Rejected)}
    assert set(reasons) >= {"empty.txt", "binary.txt", "records.jsonl"}
    parsed = [r for r in results if isinstance(r, Parsed)]
    assert {p.article.title for p in parsed} >= {
        "Алексей Дюмин провел заседание комиссии Госсовета РФ по промышленности"
    }
    assert all(p.stemmed.title for p in parsed)


@pytest.mark.parametrize("use_processes", [False, True])
async def test_ingest_twice_reports_zero_new(db: Database, use_processes: bool) -> None:
    archive = ArticleRepository(db)
    executor = None if use_processes else ThreadPoolExecutor(max_workers=2)
    first = await ingest_paths(archive, [INGEST], executor=executor, now=TEST_NOW)
    assert first.new == 5  # the seed page and four dated records
    assert first.duplicates == 0
    reasons = sorted(r.reason for r in first.rejected)
    assert len(reasons) == 4  # empty page, binary page, record without date, broken JSON line
    assert any("JSON" in reason for reason in reasons)
    second = await ingest_paths(archive, [INGEST], executor=executor, now=TEST_NOW)
    assert (second.new, second.duplicates, len(second.rejected)) == (0, 5, 4)
    assert second.summary() == "0 new, 5 duplicates, 4 rejected"
    hits = await archive.search(parse_query("импортозамещение"))
    assert any("Госсовета" in hit.title for hit in hits)
    if executor:
        executor.shutdown()


def batch_in_a_worker_that_is_sent_a_signal(
    signum: int, items: Sequence[WorkItem], now: datetime
) -> list[Parsed | Rejected]:
    """process_batch, in a worker that first gets the signal an operator's `kill <worker pid>` sends."""
    if multiprocessing.parent_process() is not None:
        os.kill(os.getpid(), signum)
    return process_batch(items, now)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
async def test_a_signal_sent_to_an_ingest_worker_kills_the_worker_and_not_its_parent(
    db: Database, signum: signal.Signals, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ingest, "process_batch", partial(batch_in_a_worker_that_is_sent_a_signal, signum))
    loop = asyncio.get_running_loop()
    handled: list[int] = []
    loop.add_signal_handler(signum, handled.append, signum)  # the parent's own handling, as `govdigest run`'s
    try:
        with pytest.raises(BrokenProcessPool):  # the worker died of it, rather than carrying on
            await ingest_paths(ArticleRepository(db), [INGEST], now=TEST_NOW)
    finally:
        loop.remove_signal_handler(signum)
    assert handled == []


@pytest.mark.parametrize(
    ("text", "paragraphs"),
    [
        ("Первая строка.\nВторая строка.", ["Первая строка.", "Вторая строка."]),
        (
            "Заместитель Председателя\nПравительства провёл совещание.\n\nВторой абзац.",
            [
                "Заместитель Председателя Правительства провёл совещание.",
                "Второй абзац.",
            ],
        ),
        ("Абзац.\r\n \r\nЕщё абзац.\r\n", ["Абзац.", "Ещё абзац."]),
        ("\n\n", []),
    ],
)
def test_record_paragraphs(text: str, paragraphs: list[str]) -> None:
    assert record_paragraphs(text) == paragraphs
