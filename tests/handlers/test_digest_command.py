"""/digest (the next digest now, schedule untouched) and the digest's "next page" button."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.archive.parsing import make_article
from bot.config import Settings
from bot.digest.on_demand import COOLDOWN_KEY, ChatCooldown
from bot.telegram.callbacks import DigestPage
from storage.sqlite.articles import ArticleRepository
from storage.sqlite.database import Database
from tests.conftest import TEST_NOW
from tests.handlers.digest_ui_support import GROUP_ID, USER_ID, Harness, add_group, make_harness


async def add_gov_articles(db: Database, count: int, *, hours_ago: float = 2.0) -> list[str]:
    now = TEST_NOW
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
    return await make_harness(settings, db)


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


async def test_group_digest_once_per_ten_minutes_with_one_notice(ui: Harness) -> None:
    now = [1000.0]
    ui.dispatcher.workflow_data[COOLDOWN_KEY] = ChatCooldown(600, clock=lambda: now[0])
    titles = await add_gov_articles(ui.db, 2)
    add_group(ui.emulator)
    group = {"chat_id": GROUP_ID, "chat_type": "supergroup"}
    await ui.reply("/subscribe", **group)
    ui.emulator.add_user(3000)
    first = await ui.send("/digest", user_id=3000, **group)
    assert titles[0] in "\n".join(message.text for message in first)
    now[0] += 60
    notice = await ui.reply("/digest", user_id=3001, **group)
    assert notice.text.startswith("Дайджест в этот чат недавно отправлялся")
    assert "раз в 10 минут" in notice.text and "через 9 мин." in notice.text
    now[0] += 60
    assert await ui.send("/digest", user_id=3000, **group) == []  # told once; then silence
    now[0] += 480
    again = await ui.send("/digest", user_id=3000, **group)
    assert titles[0] in "\n".join(message.text for message in again)


async def test_private_digest_has_no_cooldown(ui: Harness) -> None:
    titles = await add_gov_articles(ui.db, 1)
    await ui.reply("/subscribe")
    for _ in range(3):
        sent = await ui.send("/digest")
        assert titles[0] in "\n".join(message.text for message in sent)


@pytest.mark.parametrize(
    ("until", "page"),
    [
        (10**20, 1),  # past datetime's range: was OverflowError
        (253402300800, 1),  # year 10000: was ValueError
        (-5, 1),
        (0, 1),
        (1, 1),  # 1970: older than any preview button
        (int(TEST_NOW.timestamp()) + 86400, 1),  # the future
        (int(TEST_NOW.timestamp()), 10**9),
        (int(TEST_NOW.timestamp()), 0),
    ],
)
async def test_forged_preview_page_buttons_answer_page_gone(ui: Harness, until: int, page: int) -> None:
    await add_gov_articles(ui.db, 3)
    await ui.reply("/subscribe")
    await ui.reply("/limit 1")
    last = (await ui.send("/digest"))[-1]
    forged = DigestPage(job=0, page=page, until=until).pack()
    assert await ui.press_data(last, forged, strict=False) == []
    assert ui.last_callback_answer() == "Эта страница дайджеста больше недоступна."
    assert ui.emulator.callback_answers[-1].show_alert
    assert any(
        b.get("callback_data", "").startswith("dg:")
        for b in ui.emulator.get_message(last.chat_id, last.message_id).buttons
    )
