"""/latest [N] and /export (Dispatcher layer)."""

from __future__ import annotations

import csv
import io

import pytest
from aiogram.methods import SendDocument

from bot.config import Settings
from storage.sqlite.database import Database
from tests.handlers.bot_harness import HOSTILE_TITLE, harness


async def test_latest_default_five_newest_first(settings: Settings, db: Database) -> None:
    async with harness(settings, db) as h:
        [reply] = await h.message("/latest")
        assert "Последние статьи: 5" in reply.text
        assert reply.text.index("выпуск 2") < reply.text.index("выпуск 1") < reply.text.index("выпуск 0")
        assert [b["text"] for b in reply.buttons] == [f"Подробнее · {i}" for i in range(1, 6)]
        parts = await h.click(reply, "Подробнее · 1")
        assert parts[0].text.startswith("Погода в Москве, выпуск 2")


@pytest.mark.parametrize(("args", "count"), [("1", 1), ("20", 18), (" 3 ", 3)])
async def test_latest_n(settings: Settings, db: Database, args: str, count: int) -> None:
    async with harness(settings, db) as h:
        replies = await h.message(f"/latest {args}")
        assert f"Последние статьи: {count}" in replies[0].text
        assert len([b for r in replies for b in r.buttons]) == count


@pytest.mark.parametrize("args", ["0", "21", "-1", "abc", "٣", "99999999999999999999", "1.5"])
async def test_latest_bad_n_gives_usage(settings: Settings, db: Database, args: str) -> None:
    async with harness(settings, db) as h:
        [reply] = await h.message(f"/latest {args}")
        assert "от 1 до 20" in reply.text


async def test_latest_on_an_empty_archive(settings: Settings, db: Database) -> None:
    async with harness(settings, db) as h:
        await db.execute("DELETE FROM articles")
        [reply] = await h.message("/latest")
        assert "пуст" in reply.text


async def test_export_sends_a_csv_excel_can_open(settings: Settings, db: Database) -> None:
    async with harness(settings, db) as h:
        [reply] = await h.message("/export комиссия")
        assert reply.document is not None
        assert reply.document.file_name.endswith(".csv")
        data = reply.document.data
        assert data.startswith("\ufeff".encode())
        rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
        assert rows[0] == ["date", "source", "title", "url", "lead"]
        assert len(rows) == 1 + 15
        titles = {row[2] for row in rows[1:]}
        assert HOSTILE_TITLE in titles  # CSV holds the raw text, no HTML escaping
        no_url = next(row for row in rows[1:] if row[3] == "")
        assert no_url[2].startswith("Комиссия без ссылки")
        assert "Найдено статей: 15" in reply.caption
        assert len(h.session.calls_of(SendDocument)) == 1


async def test_export_says_which_filters_it_could_not_read(settings: Settings, db: Database) -> None:
    async with harness(settings, db) as h:
        [reply] = await h.message("/export комиссия с:31.02.2021")
        assert reply.document is not None
        assert "Не понял: с:31.02.2021" in reply.caption


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("/export", "Напишите, что выгрузить"),
        ("/export ---", "Напишите"),
        ("/export небывальщина", "файл не создан"),
    ],
)
async def test_export_without_results(settings: Settings, db: Database, command: str, expected: str) -> None:
    async with harness(settings, db) as h:
        [reply] = await h.message(command)
        assert expected in reply.text and reply.document is None


async def test_export_neutralises_spreadsheet_formulas(settings: Settings, db: Database) -> None:
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    from bot.archive.export import articles_csv
    from bot.archive.models import SearchHit

    hit = SearchHit(
        1, '=HYPERLINK("x")', "+1", "@src", None, datetime(2021, 1, 1, tzinfo=UTC), None, frozenset(), "", 0.0
    )
    rows = list(csv.reader(io.StringIO(articles_csv([hit], ZoneInfo("Europe/Moscow")).decode("utf-8-sig"))))
    assert rows[1][1:] == ["'@src", '\'=HYPERLINK("x")', "", "'+1"]
