"""/search, plain-text search, page buttons, "Подробнее", hostile queries and groups (Dispatcher layer)."""

from __future__ import annotations

import pytest
from aiogram.methods import AnswerCallbackQuery, EditMessageText, SendMessage

from bot.clock import FixedClock
from bot.config import Settings
from bot.telegram.callbacks import SearchPage
from bot.telegram.limits import CALLBACK_DATA_LIMIT, MESSAGE_TEXT_LIMIT
from bot.telegram.search_state import KEY_LIFETIME, SearchKeys
from storage.sqlite import SqliteStorage
from storage.sqlite.database import Database
from tests.handlers.bot_harness import HOSTILE_TITLE, LONG_TITLE, NO_URL_TITLE, entity_texts, harness

USER = 2000


async def test_search_shows_five_results_with_links_snippets_and_buttons(
    settings: Settings, db: Database
) -> None:
    async with harness(settings, db) as h:
        [reply] = await h.message("/search комиссия")
        assert "Найдено: 15. Страница 1 из 3." in reply.text
        assert (
            reply.text.count("Тестовые новости")
            + reply.text.count("Региональные вести")
            + reply.text.count("Источник")
            == 5
        )
        # The title is a link; the matched word in the snippet is bold.
        links = [e for e in reply.entities if e["type"] == "text_link"]
        assert links and all(e["url"].startswith("https://example.org/") for e in links)
        bold = set(entity_texts(reply, "bold"))
        assert "Комиссия" in bold or "комиссия" in bold
        # Without a URL: the title in bold and the article number.
        assert NO_URL_TITLE in reply.text and "статья №" in reply.text
        labels = [b["text"] for b in reply.buttons]
        assert labels == [f"Подробнее · {i}" for i in range(1, 6)] + ["Дальше »"]
        assert all(len(b["callback_data"].encode()) <= CALLBACK_DATA_LIMIT for b in reply.buttons)


async def test_hostile_title_shows_as_written(settings: Settings, db: Database) -> None:
    async with harness(settings, db) as h:
        [reply] = await h.message("/search кавычки")
        assert HOSTILE_TITLE in reply.text  # the text after entity parsing: exactly as written
        assert "Источник <i>с тегом</i>" in reply.text
        assert entity_texts(reply, "italic") == []


async def test_page_buttons_edit_the_same_message(settings: Settings, db: Database) -> None:
    async with harness(settings, db) as h:
        [first] = await h.message("/search комиссия")
        assert await h.click(first, "Дальше") == []  # no new message: an edit
        page2 = h.emulator.get_message(first.chat_id, first.message_id)
        assert "Страница 2 из 3" in page2.text
        assert [b["text"] for b in page2.buttons][-2:] == ["« Назад", "Дальше »"]
        assert page2.buttons[0]["text"] == "Подробнее · 6"
        await h.click(page2, "Дальше")
        page3 = h.emulator.get_message(first.chat_id, first.message_id)
        assert "Страница 3 из 3" in page3.text and [b["text"] for b in page3.buttons][-1] == "« Назад"
        await h.click(page3, "Назад")
        assert "Страница 2 из 3" in h.emulator.get_message(first.chat_id, first.message_id).text
        assert len(h.session.calls_of(EditMessageText)) == 3
        assert len(h.session.calls_of(AnswerCallbackQuery)) == 3


async def test_page_buttons_work_after_a_restart(settings: Settings, db: Database) -> None:
    """The query behind a page button is kept in the database, not in the process: a new Dispatcher (a
    restart, or another instance on the same database) turns the page."""
    async with harness(settings, db) as h:
        [first] = await h.message("/search комиссия")
        h.dispatcher["search_keys"] = SearchKeys(
            SqliteStorage(db).search_keys, db.clock
        )  # as a restart builds
        await h.click(first, "Дальше")
        assert "Страница 2 из 3" in h.emulator.get_message(first.chat_id, first.message_id).text


async def test_expired_page_key_answers_with_an_alert(settings: Settings, db: Database) -> None:
    async with harness(settings, db) as h:
        [first] = await h.message("/search комиссия")
        assert isinstance(db.clock, FixedClock)
        db.clock.advance(seconds=KEY_LIFETIME.total_seconds() + 1)  # the key was not used for too long
        await h.click(first, "Дальше")
        [answer] = h.session.calls_of(AnswerCallbackQuery)
        assert answer.show_alert and "устарел" in (answer.text or "")
        assert not h.session.calls_of(EditMessageText)


async def test_more_sends_the_whole_article_split_past_4096(settings: Settings, db: Database) -> None:
    async with harness(settings, db) as h:
        [reply] = await h.message("/search доклад")
        parts = await h.click(reply, "Подробнее · 1")
        assert len(parts) >= 4
        assert parts[0].text.startswith(LONG_TITLE)
        assert all(len(p.text.encode("utf-16-le")) // 2 <= MESSAGE_TEXT_LIMIT for p in parts)
        full = "\n".join(p.text for p in parts)
        assert all(f"Абзац {n} доклада." in full for n in range(30))


async def test_plain_text_in_private_chat_is_a_search_and_empty_gives_usage(
    settings: Settings, db: Database
) -> None:
    async with harness(settings, db) as h:
        [reply] = await h.message("комиссия")
        assert "Найдено: 15" in reply.text
        [usage] = await h.message("/search")
        assert "/search комиссия транспорт" in usage.text
        [nothing] = await h.message("/search несуществующееслово")
        assert "ничего не найдено" in nothing.text
        [unknown] = await h.message("/nosuchcommand")
        assert "/help" in unknown.text


@pytest.mark.parametrize(
    "query",
    [
        '"',
        '"""',
        "-",
        "- - -",
        "с:99.99.9999",
        "по:",
        "*",
        "NEAR(a b)",
        "комиссия OR 1=1; DROP TABLE articles; --",
        "<script>alert(1)</script>",
        "&amp; &lt;",
        "\x00\x01\x02",
        "комиссия " * 450,  # just under what a client sends in one message
        "😀" * 1000,
        "a:b:c:d",
        "^комиссия",
        "комиссия -комиссия",
    ],
)
async def test_hostile_queries_get_a_clear_answer(settings: Settings, db: Database, query: str) -> None:
    async with harness(settings, db) as h:
        replies = await h.message("/search " + query)
        assert len(replies) == 1
        text = replies[0].text
        assert "Что-то пошло не так" not in text
        assert any(marker in text for marker in ("Найдено", "ничего не найдено", "Напишите, что искать"))
        assert all(len(b["callback_data"].encode()) <= CALLBACK_DATA_LIMIT for b in replies[0].buttons)
        assert await db.fetchval("SELECT count(*) FROM articles") == 18


async def test_long_query_pages_through_a_short_key(settings: Settings, db: Database) -> None:
    async with harness(settings, db) as h:
        query = "комиссия " + " ".join(f"-слово{i}" for i in range(60))
        [reply] = await h.message("/search " + query)
        assert "Найдено: 15" in reply.text
        await h.click(reply, "Дальше")
        assert "Страница 2 из 3" in h.emulator.get_message(reply.chat_id, reply.message_id).text


@pytest.mark.parametrize("command", ["/search комиссия", "/search@govdigest_bot комиссия"])
async def test_group_commands_with_and_without_botname(
    settings: Settings, db: Database, command: str
) -> None:
    async with harness(settings, db) as h:
        [reply] = await h.message(command, chat_id=-100500, chat_type="supergroup")
        assert reply.chat_id == -100500 and "Найдено: 15" in reply.text


@pytest.mark.parametrize("text", ["/search@other_bot комиссия", "комиссия", "привет всем", "/unknown"])
async def test_group_ignores_other_bots_and_plain_messages(
    settings: Settings, db: Database, text: str
) -> None:
    async with harness(settings, db) as h:
        assert await h.message(text, chat_id=-100500, chat_type="supergroup") == []
        assert not h.session.calls_of(SendMessage)


async def test_english_interface_for_en_users(settings: Settings, db: Database) -> None:
    async with harness(settings, db) as h:
        [reply] = await h.message("/search комиссия", language_code="en")
        assert "Found: 15. Page 1 of 3." in reply.text
        assert reply.buttons[0]["text"] == "More · 1"


@pytest.mark.parametrize("page", [-5, 10**9])
async def test_forged_page_numbers_are_clamped(settings: Settings, db: Database, page: int) -> None:
    async with harness(settings, db) as h:
        [reply] = await h.message("/search комиссия")
        key = SearchPage.unpack(reply.buttons[-1]["callback_data"]).key
        forged = SearchPage(key=key, page=page).pack()
        await h.feed(h.emulator.callback_query(forged, message=reply, strict=False))
        shown = h.emulator.get_message(reply.chat_id, reply.message_id).text
        assert "Страница 1 из 3" in shown or "Страница 3 из 3" in shown
        assert h.session.calls_of(AnswerCallbackQuery)


@pytest.mark.parametrize("data", ["am:not-a-number", "zz:1", "sp", "", "am:1:2:3"])
async def test_unknown_or_malformed_buttons_are_answered(settings: Settings, db: Database, data: str) -> None:
    async with harness(settings, db) as h:
        [reply] = await h.message("/search комиссия")
        await h.feed(h.emulator.callback_query(data, message=reply, strict=False))
        [answer] = h.session.calls_of(AnswerCallbackQuery)
        assert answer.text == "Эта кнопка больше не работает."


@pytest.mark.parametrize(
    ("query", "note", "found"),
    [
        ("комиссия с:31.02.2021", "⚠️ Не понял: с:31.02.2021 — фильтр не применён.", "Найдено: 15"),
        ("комиссия тема:погода", "⚠️ Не понял: тема:погода — фильтр не применён.", "Найдено: 15"),
        (
            "комиссия с:99.99.2021 тема:погода",
            "⚠️ Не понял: с:99.99.2021, тема:погода — фильтры не применены.",
            "Найдено: 15",
        ),
        ("несуществующееслово по:32.01.2021", "⚠️ Не понял: по:32.01.2021", "ничего не найдено"),
        ("с:31.02.2021", "⚠️ Не понял: с:31.02.2021", "Напишите, что искать"),
    ],
)
async def test_unreadable_filters_are_named(
    settings: Settings, db: Database, query: str, note: str, found: str
) -> None:
    async with harness(settings, db) as h:
        [reply] = await h.message("/search " + query)
        assert note in reply.text and found in reply.text
        assert "с:01.10.2021" in reply.text  # how to write a date


async def test_unreadable_filter_note_stays_on_every_page(settings: Settings, db: Database) -> None:
    async with harness(settings, db) as h:
        [first] = await h.message("комиссия тема:погода", language_code="en")
        assert "⚠️ Not understood: тема:погода — filter not applied." in first.text
        await h.click(first, "Next")
        page2 = h.emulator.get_message(first.chat_id, first.message_id).text
        assert "Page 2 of 3" in page2 and "Not understood: тема:погода" in page2


async def test_readable_filters_give_no_note(settings: Settings, db: Database) -> None:
    async with harness(settings, db) as h:
        [reply] = await h.message("/search комиссия с:01.10.2021 тема:комиссии")
        assert "Не понял" not in reply.text
