"""/digest (the next digest now, schedule untouched) and the digest's "next page" button."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.callbacks import DigestPage
from bot.config import Settings
from bot.parsing import make_article
from storage.articles import ArticleRepository
from storage.database import Database
from tests.handlers.digest_ui_support import USER_ID, Harness, make_harness


async def add_gov_articles(db: Database, count: int, *, hours_ago: float = 2.0) -> list[str]:
    now = datetime.now(UTC)
    titles = [f"Правительственная комиссия по вопросу №{number} приняла решение" for number in range(count)]
    articles = [
        make_article(
            title=title,
            lead=f"Заседание правительственной комиссии №{number} прошло в Москве.",
            body=["Комиссия рассмотрела вопросы и приняла решения."],
            published_at=now - timedelta(hours=hours_ago, minutes=number),
            views=100 + number,
            source="government.ru",
            url=f"https://government.ru/news/{number}/",
        )
        for number, title in enumerate(titles)
    ]
    await ArticleRepository(db).add_many(articles)
    return titles


@pytest.fixture
async def ui(settings: Settings, db: Database) -> Harness:
    return await make_harness(settings, db, with_start=False)


async def test_digest_needs_a_subscription(ui: Harness) -> None:
    answer = await ui.reply("/digest")
    assert answer.text.startswith("Этот чат не подписан")


async def test_digest_now_leaves_schedule_and_outbox_alone(ui: Harness) -> None:
    titles = await add_gov_articles(ui.db, 3)
    await ui.reply("/subscribe")
    before = await ui.chats.get(USER_ID)
    sent = await ui.send("/digest")
    assert sent, "no digest sent"
    text = "\n".join(message.text for message in sent)
    for title in titles:
        assert title in text
    after = await ui.chats.get(USER_ID)
    assert before is not None and after is not None
    assert after.last_period_end == before.last_period_end
    assert (await ui.outbox.counts()).total == 0


async def test_next_page_button_sends_the_rest_once(ui: Harness) -> None:
    titles = await add_gov_articles(ui.db, 3)
    await ui.reply("/subscribe")
    await ui.reply("/limit 1")
    sent = await ui.send("/digest")
    last = sent[-1]
    page_buttons = [b for b in last.buttons if b.get("callback_data", "").startswith("dg:")]
    assert len(page_buttons) == 1
    data = DigestPage.unpack(page_buttons[0]["callback_data"])
    assert (data.job, data.page) == (0, 1)
    shown_first = "\n".join(message.text for message in sent)
    assert sum(title in shown_first for title in titles) == 1

    next_page = await ui.press_data(last, page_buttons[0]["callback_data"])
    assert next_page, "the next page was not sent"
    assert ui.emulator.get_message(last.chat_id, last.message_id).buttons == []  # the button is gone
    second = "\n".join(message.text for message in next_page)
    assert sum(title in second for title in titles) == 1 and second != shown_first

    # A press that raced the first one (same button data) sends nothing more.
    again = await ui.press_data(last, page_buttons[0]["callback_data"], strict=False)
    assert again == []
