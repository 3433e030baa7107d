"""/start, its deep links, and /help (Dispatcher layer)."""

from __future__ import annotations

import re

import pytest

from bot.archive.classify import TOPICS
from bot.config import Settings
from bot.telegram.commands import COMMANDS
from bot.telegram.deep_links import search_payload, search_words_from_payload
from storage.sqlite.database import Database
from tests.handlers.bot_harness import harness


@pytest.mark.parametrize(
    ("language", "expected"), [("ru", "Здравствуйте"), ("en", "Hello"), (None, "Здравствуйте")]
)
async def test_start_says_what_the_bot_does(
    settings: Settings, db: Database, language: str | None, expected: str
) -> None:
    async with harness(settings, db) as h:
        [reply] = await h.message("/start", language_code=language)
        assert reply.text.startswith(expected)
        for command in ("/search", "/latest", "/export", "/help"):
            assert command in reply.text


async def test_start_search_deep_link_runs_the_search(settings: Settings, db: Database) -> None:
    async with harness(settings, db) as h:
        [reply] = await h.message("/start search_комиссия_транспорт")
        assert "Найдено:" in reply.text and "комиссия транспорт" in reply.text


async def test_start_search_deep_link_carries_russian_words_in_base64(
    settings: Settings, db: Database
) -> None:
    payload = search_payload("комиссия транспорт")
    assert payload is not None and re.fullmatch(r"[A-Za-z0-9_-]{1,64}", payload)
    async with harness(settings, db) as h:
        [reply] = await h.message(f"/start {payload}")
        assert "Найдено:" in reply.text and "комиссия транспорт" in reply.text


@pytest.mark.parametrize(
    ("words", "payload"),
    [
        ("covid vaccine", "search_covid_vaccine"),
        ("Госсовет", "search__0JPQvtGB0YHQvtCy0LXRgg"),
        ("импортозамещение медицинской техники в регионах", None),  # past 64 characters
    ],
)
def test_search_payload_round_trip(words: str, payload: str | None) -> None:
    assert search_payload(words) == payload
    if payload is not None:
        assert search_words_from_payload(payload) == words


@pytest.mark.parametrize("payload", ["search__", "search__!!!", "search__gA", "search_"])
def test_broken_search_payload_gives_no_words(payload: str) -> None:
    assert search_words_from_payload(payload) == ""


async def test_start_subscribe_is_left_to_the_subscription_router(settings: Settings, db: Database) -> None:
    """Our /start declines the "subscribe" payload, so the subscription feature's router takes it wherever it
    is placed; it never gets the greeting from us."""
    async with harness(settings, db) as h:
        replies = await h.message("/start subscribe")
        assert not any(r.text.startswith("Здравствуйте") for r in replies)


async def test_start_with_an_unknown_payload_greets(settings: Settings, db: Database) -> None:
    async with harness(settings, db) as h:
        [reply] = await h.message("/start somethingold")
        assert reply.text.startswith("Здравствуйте")


@pytest.mark.parametrize("language", ["ru", "en"])
async def test_help_lists_every_command_once_and_the_syntax(
    settings: Settings, db: Database, language: str
) -> None:
    async with harness(settings, db) as h:
        [reply] = await h.message("/help", language_code=language)
        lines = reply.text.splitlines()
        for spec in COMMANDS:
            listed = [line for line in lines if line.startswith(f"/{spec.name} — ")]
            # A bot admin's commands are not told to anyone else (they are silent to others too).
            assert len(listed) == (0 if spec.admin else 1), spec.name
        for command in (
            "time",
            "tz",
            "frequency",
            "limit",
            "notices",
            "pause",
            "resume",
            "settings",
            "digest",
        ):
            assert f"/{command} — " in reply.text
        for syntax in (
            '"правительственная комиссия"',
            "-москва",
            "с:01.10.2021 по:31.10.2021",
            "тема:Госсовет",
            "@govdigest_bot",
        ):
            assert syntax in reply.text
        assert len(reply.text) < 4096


async def test_help_shows_the_admin_commands_to_a_bot_admin_in_private_only(
    settings: Settings, db: Database
) -> None:
    async with harness(settings, db) as h:
        [reply] = await h.message("/help", user_id=1000, chat_id=1000)
        for spec in COMMANDS:
            assert len([line for line in reply.text.splitlines() if line.startswith(f"/{spec.name} — ")]) == 1
        assert "Для администраторов бота" in reply.text
        [group] = await h.message("/help", user_id=1000, chat_id=-100700, chat_type="supergroup")
        assert "/stats — " not in group.text and "/sources — " not in group.text


def test_every_topic_named_in_help_is_one_the_search_reads() -> None:
    from bot.archive.query import parse_query
    from handlers.help import topic_names

    for locale in ("ru", "en"):
        names = topic_names(locale).split(", ")
        assert len(names) == len(TOPICS)
        assert {topic for name in names for topic in parse_query("x тема:" + name).topics} == set(TOPICS)


def test_the_menu_is_the_main_commands_and_never_an_admin_one() -> None:
    from bot.telegram.commands import bot_commands

    for groups in (False, True):
        published = [command.command for command in bot_commands("ru", groups=groups)]
        assert "search" in published and "settings" in published
        assert not {"time", "pause", "stats", "broadcast", "sources", "addsource"} & set(published)
    assert "start" not in [command.command for command in bot_commands("ru", groups=True)]


async def test_help_in_a_group_with_botname(settings: Settings, db: Database) -> None:
    async with harness(settings, db) as h:
        [reply] = await h.message("/help@govdigest_bot", chat_id=-100700, chat_type="supergroup")
        assert reply.chat_id == -100700 and "/search — " in reply.text


def test_readme_lists_every_chat_command() -> None:
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Chat commands", 1)[1].split("\n## ", 1)[0]
    for spec in COMMANDS:
        assert f"`/{spec.name}" in section, spec.name
    assert "тема:" in readme
