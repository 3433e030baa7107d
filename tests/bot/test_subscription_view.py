"""bot/chats/view.py: the texts and keyboards of subscriptions and settings, without a Dispatcher."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, time

import pytest

from bot.chats.admins import ManagedChat
from bot.chats.records import Chat, SavedQuery, Subscription
from bot.chats.view import (
    BUTTON_QUERY_CHARS,
    QUERIES_PER_PAGE,
    menu_text,
    next_digest_at,
    schedule_text,
    setting_reply_text,
    subscriptions_view,
    unsubscribe_keyboard,
)
from bot.telegram.callbacks import SavedQueryDelete, SubscriptionsPage
from bot.telegram.limits import CALLBACK_DATA_LIMIT, MESSAGE_TEXT_LIMIT
from tests.conftest import TEST_NOW

CREATED = datetime(2026, 11, 1, 6, 0, tzinfo=UTC)
CHAT = Chat(
    id=2000,
    type="private",
    title=None,
    username="alice",
    locale="ru",
    active=True,
    inactive_reason=None,
    timezone="Europe/Moscow",
    delivery_time=time(9, 0),
    frequency="daily",
    weekday=0,
    max_items=None,
    notify_empty=False,
    paused=False,
    last_period_end=None,
    created_at=CREATED,
    updated_at=CREATED,
)
SUBSCRIBED = Subscription(chat_id=2000, gov_news=True, since=CREATED, queries=())
NOT_SUBSCRIBED = Subscription(chat_id=2000, gov_news=False, since=None, queries=())


@pytest.mark.parametrize(
    ("chat", "locale", "expected"),
    [
        (CHAT, "ru", "ежедневно в 09:00 (Europe/Moscow)"),
        (
            replace(CHAT, frequency="weekly", weekday=4, delivery_time=time(7, 30)),
            "ru",
            "по пятницам в 07:30",
        ),
        (replace(CHAT, frequency="weekdays", timezone="Asia/Omsk"), "en", "(Asia/Omsk)"),
    ],
)
def test_schedule_text(chat: Chat, locale: str, expected: str) -> None:
    assert expected in schedule_text(chat, locale)


@pytest.mark.parametrize(
    ("reply", "subscription", "present", "absent"),
    [
        ("time_set", SUBSCRIBED, ["09:00 (Europe/Moscow)", "Следующий дайджест:"], ["/subscribe"]),
        ("time_set", NOT_SUBSCRIBED, ["не подписан", "/subscribe"], ["Следующий дайджест:"]),
        ("time_current", NOT_SUBSCRIBED, ["/time 08:30"], ["не подписан"]),
        ("limit_set", SUBSCRIBED, ["Материалов в выпуске: все."], ["Следующий дайджест:"]),
        ("resumed", SUBSCRIBED, ["ежедневно в 09:00", "Следующий дайджест:"], []),
    ],
)
def test_setting_reply_text(
    reply: str, subscription: Subscription, present: list[str], absent: list[str]
) -> None:
    answer = setting_reply_text(reply, CHAT, subscription, "ru", now=TEST_NOW)
    assert all(part in answer for part in present), answer
    assert not any(part in answer for part in absent), answer


def test_next_digest_is_due_after_now_or_none() -> None:
    now = datetime(2026, 11, 26, 7, 0, tzinfo=UTC)  # 10:00 in Moscow: today's 09:00 is past
    due = next_digest_at(CHAT, SUBSCRIBED, now=now)
    assert due is not None and due >= now
    assert next_digest_at(replace(CHAT, paused=True), SUBSCRIBED, now=now) is None
    assert next_digest_at(replace(CHAT, active=False), SUBSCRIBED, now=now) is None
    assert next_digest_at(CHAT, NOT_SUBSCRIBED, now=now) is None


def test_menu_names_a_channel_managed_from_a_private_chat() -> None:
    channel = ManagedChat(chat_id=-100, label="@news<&>")
    assert "— @news&lt;&amp;&gt;" in menu_text(CHAT, SUBSCRIBED, channel, "ru")
    assert "—" not in menu_text(CHAT, SUBSCRIBED, ManagedChat(chat_id=CHAT.id), "ru").split("\n")[0]


@pytest.mark.parametrize("page", [-3, 0, 1, 2, 99])
def test_subscriptions_view_clamps_pages_and_keeps_to_limits(page: int) -> None:
    queries = tuple(
        SavedQuery(
            id=n, chat_id=CHAT.id, text="запрос " + "я" * 500 + str(n), enabled=n % 2 == 0, created_at=CREATED
        )
        for n in range(1, 12)
    )
    html, markup = subscriptions_view(
        CHAT, replace(SUBSCRIBED, queries=queries), ManagedChat(CHAT.id), page, "ru"
    )
    pages = -(-len(queries) // QUERIES_PER_PAGE)
    shown = min(max(page, 0), pages - 1)
    assert f"страница {shown + 1} из {pages}" in html
    assert len(html) < MESSAGE_TEXT_LIMIT
    assert markup is not None
    data = [button.callback_data or "" for row in markup.inline_keyboard for button in row]
    assert all(len(item.encode()) <= CALLBACK_DATA_LIMIT for item in data)
    deletes = [
        SavedQueryDelete.unpack(item) for item in data if item.startswith(SavedQueryDelete.__prefix__ + ":")
    ]
    assert len(deletes) == len(queries[shown * QUERIES_PER_PAGE : (shown + 1) * QUERIES_PER_PAGE])
    targets = [
        SubscriptionsPage.unpack(item).page
        for item in data
        if item.startswith(SubscriptionsPage.__prefix__ + ":")
    ]
    assert targets == [target for target in (shown - 1, shown + 1) if 0 <= target < pages]


@pytest.mark.parametrize(
    ("saved", "label"),
    [
        ("AT&T", "🔎 AT&T"),
        ("<b>жирный</b> & курсив", "🔎 <b>жирный</b> & курсив"),
        ("цены > 100 & < 200", "🔎 цены > 100 & < 200"),
        ("&amp; уже сущность", "🔎 &amp; уже сущность"),
        ("запрос " + "&" * 60, "🔎 запрос " + "&" * 32 + "…"),  # shortened on the raw text
    ],
    ids=["ampersand", "tags", "comparisons", "entity-as-typed", "shortened"],
)
def test_unsubscribe_buttons_show_saved_queries_as_written(saved: str, label: str) -> None:
    """Button texts are plain text: Telegram shows `&amp;` there as is, so a label must not be escaped."""
    query = SavedQuery(id=7, chat_id=CHAT.id, text=saved, enabled=True, created_at=CREATED)
    markup = unsubscribe_keyboard(CHAT.id, replace(SUBSCRIBED, queries=(query,)), "ru")
    labels = [button.text for row in markup.inline_keyboard for button in row]
    assert label in labels
    assert len(label) - len("🔎 ") <= BUTTON_QUERY_CHARS


def test_list_text_still_escapes_saved_queries() -> None:
    query = SavedQuery(id=7, chat_id=CHAT.id, text="AT&T <ok>", enabled=True, created_at=CREATED)
    html, _ = subscriptions_view(CHAT, replace(SUBSCRIBED, queries=(query,)), ManagedChat(CHAT.id), 0, "ru")
    assert "AT&amp;T &lt;ok&gt;" in html
