from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from bot.cli import main
from bot.cli.sources import poll_command
from bot.config import Settings
from storage.database import Database
from storage.sources import NewSource, SourceRepository
from tests.bot.sources.feed_server import FeedServer
from tests.conftest import FIXTURES

MOS = (FIXTURES / "rss" / "mos.ru_news_rss_2022-07-27.xml").read_bytes()


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)  # no stray .env
    database = tmp_path / "cli.db"
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{database}")
    monkeypatch.delenv("BOT_TOKEN", raising=False)
    monkeypatch.setenv("LOG_LEVEL", "WARNING")
    return database


def test_add_list_disable_enable_remove(cli_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sources", "add", "http://government.ru/all/rss/", "--name", "Правительство"]) == 0
    assert "added source 1: Правительство [rss]" in capsys.readouterr().out
    assert main(["sources", "add", "https://tularegion.ru/press_center/news/", "--interval", "30"]) == 0
    assert "tularegion.ru [html]" in capsys.readouterr().out
    assert main(["sources", "add", "http://government.ru/all/rss/"]) == 1
    assert "already exists" in capsys.readouterr().err
    assert main(["sources", "add", "government.ru/rss"]) == 1
    assert "not an http(s) URL" in capsys.readouterr().err

    assert main(["sources", "disable", "1"]) == 0
    assert main(["sources", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out.split("\n", 1)[1])
    assert [(s["id"], s["enabled"], s["health"], s["interval_minutes"]) for s in listed] == [
        (1, False, "disabled", 15),
        (2, True, "new", 30),
    ]
    assert main(["sources", "enable", "1"]) == 0
    assert main(["sources", "remove", "2"]) == 0
    assert main(["sources", "remove", "2"]) == 1
    capsys.readouterr()
    assert main(["sources", "list"]) == 0
    out = capsys.readouterr().out
    assert "Правительство" in out and "new: last success never" in out and "1 sources" in out


def test_interval_is_checked(cli_env: Path) -> None:
    with pytest.raises(SystemExit):
        main(["sources", "add", "http://x.ru/rss", "--interval", "0"])


def test_list_loads_the_defaults_on_an_empty_database(
    cli_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["sources", "list"]) == 0
    assert "http://government.ru/all/rss/" in capsys.readouterr().out


async def test_poll_once_for_cron(
    settings: Settings, server: FeedServer, capsys: pytest.CaptureFixture[str]
) -> None:
    async with await Database.connect(settings.database_path) as db:
        repo = SourceRepository(db)
        await repo.add(
            NewSource(url=server.add("/rss", MOS.replace(b"https://www.mos.ru/", b"/")), name="Москва")
        )
        await repo.add(NewSource(url=server.url("/missing.xml"), name="Нет"))
    args = argparse.Namespace(all=False, json=True)
    assert await poll_command(args, settings) == 0
    summary = json.loads(capsys.readouterr().out)
    assert (summary["polled"], summary["new"], summary["errors"]) == (2, 10, 1)
    args = argparse.Namespace(all=True, json=False)
    assert await poll_command(args, settings) == 0
    out = capsys.readouterr().out
    assert "Москва: not modified" in out and "Нет: ERROR HTTP 404" in out
