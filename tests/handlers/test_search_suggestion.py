""" "Did you mean" on /search (Dispatcher layer, the real build_dispatcher): a query one typo away from a word
in several articles gets the corrected query and a button that runs it."""

from __future__ import annotations

import pytest

from bot.config import Settings
from bot.telegram.callbacks import SearchPage
from bot.telegram.limits import CALLBACK_DATA_LIMIT
from storage.sqlite.articles import ArticleRepository
from storage.sqlite.database import Database
from tests.handlers.bot_harness import entity_texts, harness
from tests.storage.test_articles import make

IMPORT_ARTICLES = 4


@pytest.fixture(autouse=True)
async def import_articles(db: Database) -> None:
    """Articles about импортозамещение, besides the harness's own."""
    await ArticleRepository(db).add_many(
        [
            make(
                f"Импортозамещение в отрасли {n}", "Итоги программы импортозамещения", url=f"https://x.ru/{n}"
            )
            for n in range(IMPORT_ARTICLES)
        ]
    )


async def test_a_typo_gets_did_you_mean_and_its_button_shows_results(
    settings: Settings, db: Database
) -> None:
    async with harness(settings, db) as h:
        [reply] = await h.message("/search импортозамищение")
        assert "ничего не найдено" in reply.text
        assert "Возможно, вы имели в виду: импортозамещение" in reply.text
        assert "импортозамещение" in entity_texts(reply, "bold")
        [button] = reply.buttons
        assert button["text"] == "🔎 импортозамещение"
        assert len(button["callback_data"].encode()) <= CALLBACK_DATA_LIMIT
        assert SearchPage.unpack(button["callback_data"]).page == 0
        assert await h.click(reply, "🔎 импортозамещение") == []  # an edit of the same message
        shown = h.emulator.get_message(reply.chat_id, reply.message_id)
        assert f"Найдено: {IMPORT_ARTICLES}." in shown.text and "Возможно" not in shown.text


async def test_plain_text_and_english(settings: Settings, db: Database) -> None:
    async with harness(settings, db) as h:
        [reply] = await h.message("Импортозамищение", language_code="en")
        assert "Nothing found" in reply.text and "Did you mean: Импортозамещение" in reply.text


@pytest.mark.parametrize(
    "query", ["импортозамещение", "комиссия", "несуществующееслово", "импортозамищение xyzzy"]
)
async def test_no_suggestion_when_found_or_nothing_better(
    settings: Settings, db: Database, query: str
) -> None:
    async with harness(settings, db) as h:
        [reply] = await h.message("/search " + query)
        assert "Возможно, вы имели в виду" not in reply.text
        assert not any(b["text"].startswith("🔎") for b in reply.buttons)


async def test_hostile_text_in_the_suggestion_is_escaped(settings: Settings, db: Database) -> None:
    async with harness(settings, db) as h:
        query = "импортозамищение -<b>жирный</b> -&amp; <>"
        [reply] = await h.message("/search " + query)
        suggestion = "импортозамещение -<b>жирный</b> -&amp; <>"
        assert f"Возможно, вы имели в виду: {suggestion}" in reply.text  # shown as written, not as HTML
        assert entity_texts(reply, "bold") == [suggestion]
        [button] = reply.buttons
        assert button["text"] == f"🔎 {suggestion}"
        await h.click(reply, button["text"])
        assert f"Найдено: {IMPORT_ARTICLES}." in h.emulator.get_message(reply.chat_id, reply.message_id).text
