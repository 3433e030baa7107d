from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

import pytest

from bot.cli import main
from bot.cli.sources import poll_command
from bot.config import Settings
from bot.sources.records import NewSource
from storage.sqlite.database import Database
from storage.sqlite.sources import SourceRepository
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
    # No DNS lookups from tests: adding government.ru & co. skips the public-address check here; the check
    # itself is tested below with IP literals (nothing to look up) and in test_addresses.py with a stub.
    monkeypatch.setenv("SOURCES_ALLOW_PRIVATE_ADDRESSES", "1")
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


@pytest.mark.parametrize(
    ("url", "address"),
    [
        ("http://169.254.169.254/latest/meta-data/", "169.254.169.254"),
        ("http://10.0.0.5/rss", "10.0.0.5"),
        ("http://127.0.0.1:8080/feed.xml", "127.0.0.1"),
        ("http://[::1]/rss", "::1"),
        ("https://[fd00::5]/news/", "fd00::5"),
    ],
)
def test_add_refuses_a_non_public_address(
    cli_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], url: str, address: str
) -> None:
    monkeypatch.setenv("SOURCES_ALLOW_PRIVATE_ADDRESSES", "0")
    assert main(["sources", "add", url]) == 1
    err = capsys.readouterr().err
    assert f"address {address} is not public" in err and "SOURCES_ALLOW_PRIVATE_ADDRESSES=1" in err
    assert main(["sources", "list", "--json"]) == 0
    assert url not in capsys.readouterr().out
    # A deployment that fetches from its own network says so.
    monkeypatch.setenv("SOURCES_ALLOW_PRIVATE_ADDRESSES", "yes")
    assert main(["sources", "add", url]) == 0
    assert "added source" in capsys.readouterr().out


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
    settings = replace(settings, allow_private_fetch=True)  # the feed server is on loopback
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


async def test_poll_refuses_loopback_without_the_setting(
    settings: Settings, server: FeedServer, capsys: pytest.CaptureFixture[str]
) -> None:
    async with await Database.connect(settings.database_path) as db:
        await SourceRepository(db).add(NewSource(url=server.add("/rss", MOS), name="Москва"))
    assert await poll_command(argparse.Namespace(all=False, json=False), settings) == 1
    assert "Москва: ERROR address 127.0.0.1 is not public" in capsys.readouterr().out
    assert server.hits.total() == 0
