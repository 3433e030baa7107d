"""Inline mode (Dispatcher layer): results, paging through next_offset, hostile input."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.archive.parsing import make_article
from bot.config import Settings
from storage.sqlite.articles import ArticleRepository
from storage.sqlite.database import Database
from tests.handlers.bot_harness import HOSTILE_TITLE, harness


async def test_inline_query_lists_articles_with_title_date_and_snippet(
    settings: Settings, db: Database
) -> None:
    async with harness(settings, db) as h:
        await h.feed(h.emulator.inline_query("кавычки"))
        [answer] = h.emulator.inline_answers
        [result] = answer.results
        assert result["type"] == "article" and result["title"] == HOSTILE_TITLE
        assert result["description"].startswith("21.10.2021 · ")
        content = result["input_message_content"]
        assert content["parse_mode"] == "HTML"
        assert "&lt;script&gt;" in content["message_text"] and "<script>" not in content["message_text"]
        assert (
            'href="https://example.org/hostile?a=1&amp;b=&lt;2&gt;"' not in content["message_text"]
        )  # unsafe URL
        assert answer.next_offset == ""


async def test_inline_paging_with_next_offset(settings: Settings, db: Database) -> None:
    start = datetime(2020, 1, 1, tzinfo=UTC)
    extra = [
        make_article(
            title=f"Комиссия, сообщение {i}",
            lead=f"Комиссия сообщила новость {i}.",
            body=(f"Текст {i}.",),
            published_at=start + timedelta(hours=i),
            views=None,
            source="Лента",
            url=f"https://example.org/feed/{i}",
        )
        for i in range(60)
    ]
    async with harness(settings, db) as h:
        await ArticleRepository(db).add_many(extra)
        await h.feed(h.emulator.inline_query("комиссия"))
        first = h.emulator.inline_answers[-1]
        assert len(first.results) == 50 and first.next_offset == "50"
        await h.feed(h.emulator.inline_query("комиссия", offset=first.next_offset))
        second = h.emulator.inline_answers[-1]
        assert len(second.results) == 75 - 50 and second.next_offset == ""
        ids = [r["id"] for r in first.results + second.results]
        assert len(set(ids)) == 75


@pytest.mark.parametrize("offset", ["", "abc", "-5", "999999999", "50"])
@pytest.mark.parametrize("query", ["", '"', "<b>", "-", "😀" * 100])
async def test_inline_hostile_input_never_fails(
    settings: Settings, db: Database, query: str, offset: str
) -> None:
    async with harness(settings, db) as h:
        await h.feed(h.emulator.inline_query(query, offset=offset))
        [answer] = h.emulator.inline_answers
        assert len(answer.results) <= 50


async def test_empty_inline_query_lists_the_newest(settings: Settings, db: Database) -> None:
    async with harness(settings, db) as h:
        await h.feed(h.emulator.inline_query(""))
        [answer] = h.emulator.inline_answers
        assert answer.results[0]["title"] == "Погода в Москве, выпуск 2"
        assert len(answer.results) == 18


async def test_inline_answers_are_personal(settings: Settings, db: Database) -> None:
    """The texts depend on the user's language: Telegram must not serve one user's cached answer to another."""
    async with harness(settings, db) as h:
        await h.feed(h.emulator.inline_query("комиссия"))
        await h.feed(h.emulator.inline_query(""))
        assert [answer.is_personal for answer in h.emulator.inline_answers] == [True, True]
        assert all(answer.button is None for answer in h.emulator.inline_answers)


@pytest.mark.parametrize(
    ("query", "language", "label"),
    [
        ("комиссия с:31.02.2021", "ru", "⚠️ Не понял: с:31.02.2021 — фильтр не применён."),
        ("комиссия тема:погода", "en", "⚠️ Not understood: тема:погода — filter not applied."),
        (
            "с:31.02.2021 по:40.01.2021",
            "ru",
            "⚠️ Не понял: с:31.02.2021, по:40.01.2021 — фильтры не применены.",
        ),
    ],
)
async def test_inline_names_unreadable_filters_on_the_button(
    settings: Settings, db: Database, query: str, language: str, label: str
) -> None:
    async with harness(settings, db) as h:
        await h.feed(h.emulator.inline_query(query, language_code=language))
        [answer] = h.emulator.inline_answers
        assert answer.button is not None and answer.button["text"] == label
        # Pressing it opens the private chat with the same search, where the note and the syntax are shown.
        [reply] = await h.message("/start " + answer.button["start_parameter"], language_code=language)
        assert ("Не понял" if language == "ru" else "Not understood") in reply.text
        assert answer.results  # the search still ran without the filter
