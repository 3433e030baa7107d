"""/subscribe, /subscriptions, /unsubscribe and `/start subscribe` through a Dispatcher (RecordingSession)."""

from __future__ import annotations

import pytest

from bot.chats.records import MAX_SAVED_QUERIES
from bot.config import Settings
from bot.telegram.callbacks import SavedQueryDelete, UnsubscribeChoice
from storage.sqlite.database import Database
from tests.handlers.digest_ui_support import (
    CHANNEL_ID,
    CHANNEL_USERNAME,
    GROUP_ID,
    USER_ID,
    Harness,
    add_channel,
    add_group,
    make_harness,
)


@pytest.fixture
async def ui(settings: Settings, db: Database) -> Harness:
    return await make_harness(settings, db)


async def test_subscribe_in_private_chat(ui: Harness) -> None:
    answer = await ui.reply("/subscribe")
    assert answer.text.startswith("✅ Подписка оформлена")
    assert "ежедневно в 09:00 (Europe/Moscow)" in answer.text
    assert "Следующий дайджест:" in answer.text
    subscription = await ui.subscriptions.get(USER_ID)
    assert subscription.gov_news and subscription.active
    chat = await ui.chats.get(USER_ID)
    assert chat is not None and chat.type == "private" and chat.locale == "ru"

    again = await ui.reply("/subscribe")
    assert again.text.startswith("Этот чат уже подписан")


async def test_english_user_gets_english_and_an_english_digest(ui: Harness) -> None:
    answer = await ui.reply("/subscribe", language_code="en-GB")
    assert answer.text.startswith("✅ Subscribed")
    assert "daily at 09:00 (Europe/Moscow)" in answer.text
    chat = await ui.chats.get(USER_ID)
    assert chat is not None and chat.locale == "en"


async def test_deep_link_subscribes_and_the_greeting_stays_out(ui: Harness) -> None:
    sent = await ui.send("/start subscribe")
    assert [message.text.split(":")[0] for message in sent] == ["✅ Подписка оформлена"]
    assert await ui.subscriptions.is_subscribed(USER_ID)


async def test_plain_start_still_greets(ui: Harness) -> None:
    sent = await ui.send("/start")
    assert len(sent) == 1 and not sent[0].text.startswith("✅")
    assert not await ui.subscriptions.is_subscribed(USER_ID)


@pytest.mark.parametrize(
    ("words", "shown"),
    [
        ("губернатор   Комиссия -учения", "губернатор комиссия -учения"),
        ('"дорожное строительство" с:01.10.2021', '"дорожное строительство" с:01.10.2021'),
    ],
)
async def test_saved_query_is_shown_back_in_canonical_form(ui: Harness, words: str, shown: str) -> None:
    answer = await ui.reply(f"/subscribe {words}")
    assert answer.text.startswith("🔎 Запрос сохранён: " + shown)
    assert "Запросов: 1 из 20" in answer.text
    assert "/subscribe без слов" in answer.text  # government news are not on yet
    subscription = await ui.subscriptions.get(USER_ID)
    assert [query.text for query in subscription.queries] == [shown]
    assert subscription.active and not subscription.gov_news

    again = await ui.reply(f"/subscribe {words}")
    assert again.text.startswith("Такой запрос уже сохранён")
    assert await ui.subscriptions.count_queries(USER_ID) == 1


async def test_empty_query_is_refused_with_an_example(ui: Harness) -> None:
    answer = await ui.reply("/subscribe и в на")
    assert "нет слов для поиска" in answer.text and "/subscribe губернатор" in answer.text
    assert await ui.subscriptions.count_queries(USER_ID) == 0


async def test_unreadable_filter_is_reported_escaped(ui: Harness) -> None:
    answer = await ui.reply("/subscribe налоги тема:<b>погода")
    assert "налоги" in answer.text
    assert "тема:<b>погода" in answer.text  # shown as text: the emulator parsed the HTML and found no tag
    assert "⚠️ Не понял: тема:<b>погода — фильтр не применён." in answer.text  # the same words as /search
    assert not answer.entities or all(entity["type"] != "bold" for entity in answer.entities)


async def test_at_most_twenty_saved_queries(ui: Harness) -> None:
    for number in range(MAX_SAVED_QUERIES):
        await ui.reply(f"/subscribe запрос{number}")
    answer = await ui.reply("/subscribe ещё один")
    assert "не больше 20 запросов" in answer.text
    assert await ui.subscriptions.count_queries(USER_ID) == MAX_SAVED_QUERIES


async def test_subscriptions_list_pages_and_delete_buttons(ui: Harness) -> None:
    await ui.reply("/subscribe")
    for number in range(1, 13):
        await ui.reply(f"/subscribe тема{number} налоги")
    listing = await ui.reply("/subscriptions")
    assert "Сохранённые запросы (12 из 20), страница 1 из 3" in listing.text
    assert "1. тема1 налоги" in listing.text and "6. " not in listing.text
    labels = [button["text"] for button in listing.buttons]
    assert labels == ["🗑 1", "🗑 2", "🗑 3", "🗑 4", "🗑 5", "▶️"]

    page2 = await ui.press(listing, "▶️")
    assert "страница 2 из 3" in page2.text and "6. тема6 налоги" in page2.text
    assert [button["text"] for button in page2.buttons] == ["🗑 6", "🗑 7", "🗑 8", "🗑 9", "🗑 10", "◀️", "▶️"]

    page2_ids = [SavedQueryDelete.unpack(b["callback_data"]).query_id for b in page2.buttons[:5]]
    after = await ui.press(page2, "🗑 7")
    assert ui.last_callback_answer() == "Запрос удалён."
    assert "(11 из 20)" in after.text and "тема7 " not in after.text
    assert "тема7 налоги" not in [query.text for query in (await ui.subscriptions.get(USER_ID)).queries]

    # A stale delete button (pressed in another copy of the list) says the query is gone and changes nothing.
    stale = SavedQueryDelete(chat_id=USER_ID, query_id=page2_ids[1], page=1).pack()
    await ui.press_data(after, stale, strict=False)
    assert ui.last_callback_answer() == "Этого запроса уже нет."
    assert await ui.subscriptions.count_queries(USER_ID) == 11


async def test_unsubscribe_with_one_source_stops_at_once(ui: Harness) -> None:
    await ui.reply("/subscribe")
    answer = await ui.reply("/unsubscribe")
    assert answer.text.startswith("Дайджест остановлен")
    assert not await ui.subscriptions.is_subscribed(USER_ID)
    nothing = await ui.reply("/unsubscribe")
    assert "не подписан" in nothing.text


async def test_unsubscribe_asks_which_and_keeps_queries_for_a_comeback(ui: Harness) -> None:
    await ui.reply("/subscribe")
    await ui.reply("/subscribe налоги")
    await ui.reply("/subscribe транспорт")
    question = await ui.reply("/unsubscribe")
    assert question.text.startswith("Что отключить?")
    labels = [button["text"] for button in question.buttons]
    assert labels == [
        "⏹ Всё — остановить дайджест",
        "🏛 Новости правительственных комиссий",
        "🔎 налоги",
        "🔎 транспорт",
        "Отмена",
    ]

    done = await ui.press(question, "🔎 налоги")
    assert done.text.startswith("Запрос налоги отключён") and "продолжит приходить" in done.text
    assert done.buttons == []
    subscription = await ui.subscriptions.get(USER_ID)
    assert [(q.text, q.enabled) for q in subscription.queries] == [("налоги", False), ("транспорт", True)]

    question = await ui.reply("/unsubscribe")
    stopped = await ui.press(question, "Всё")
    assert stopped.text.startswith("Дайджест остановлен. Сохранённые запросы (2)")
    assert not await ui.subscriptions.is_subscribed(USER_ID)

    back = await ui.reply("/subscribe")
    assert "Снова включены сохранённые запросы: 2" in back.text
    subscription = await ui.subscriptions.get(USER_ID)
    assert subscription.gov_news and all(query.enabled for query in subscription.queries)


async def test_unsubscribe_cancel_changes_nothing(ui: Harness) -> None:
    await ui.reply("/subscribe")
    await ui.reply("/subscribe налоги")
    question = await ui.reply("/unsubscribe")
    cancelled = await ui.press(question, "Отмена")
    assert cancelled.text == "Ничего не изменилось."
    assert (await ui.subscriptions.get(USER_ID)).gov_news


# --- groups --------------------------------------------------------------------------------------------------


async def test_group_admin_subscribes_and_others_are_refused(ui: Harness) -> None:
    add_group(ui.emulator, admin_id=USER_ID)
    refused = await ui.reply("/subscribe", chat_id=GROUP_ID, chat_type="supergroup", user_id=3000)
    assert refused.text == "Менять подписку и настройки в группе могут только её администраторы."
    assert not await ui.subscriptions.is_subscribed(GROUP_ID)

    answer = await ui.reply("/subscribe", chat_id=GROUP_ID, chat_type="supergroup", user_id=USER_ID)
    assert answer.text.startswith("✅ Подписка оформлена")
    chat = await ui.chats.get(GROUP_ID)
    assert chat is not None and chat.type == "supergroup" and chat.title == "Администрация"

    question = await ui.reply("/subscribe налоги", chat_id=GROUP_ID, chat_type="supergroup", user_id=USER_ID)
    assert question.text.startswith("🔎 Запрос сохранён")
    ask = await ui.reply("/unsubscribe", chat_id=GROUP_ID, chat_type="supergroup", user_id=USER_ID)
    # A non-admin pressing the admin's button is refused, nothing changes.
    data = UnsubscribeChoice(chat_id=GROUP_ID, what="all").pack()
    await ui.press_data(ask, data, user_id=3000)
    assert ui.last_callback_answer() == "Менять подписку и настройки в группе могут только её администраторы."
    assert await ui.subscriptions.is_subscribed(GROUP_ID)
    await ui.press_data(ask, data, user_id=USER_ID)
    assert not await ui.subscriptions.is_subscribed(GROUP_ID)


async def test_admin_check_is_cached_briefly(ui: Harness) -> None:
    add_group(ui.emulator, admin_id=USER_ID)
    for words in ("налоги", "транспорт", "связь"):
        await ui.reply(f"/subscribe {words}", chat_id=GROUP_ID, chat_type="supergroup", user_id=USER_ID)
    assert len(ui.emulator.requests_for("getChatMember")) == 1


# --- channels ------------------------------------------------------------------------------------------------


async def test_channel_subscribed_from_private_chat(ui: Harness) -> None:
    add_channel(ui.emulator)
    answer = await ui.reply(f"/subscribe @{CHANNEL_USERNAME}")
    assert answer.text.startswith(f"✅ Канал @{CHANNEL_USERNAME} подписан")
    assert f"/settings @{CHANNEL_USERNAME}" in answer.text
    assert await ui.subscriptions.is_subscribed(CHANNEL_ID)
    assert not await ui.subscriptions.is_subscribed(USER_ID)
    chat = await ui.chats.get(CHANNEL_ID)
    assert chat is not None and chat.type == "channel" and chat.username == CHANNEL_USERNAME
    assert ui.emulator.messages_to(CHANNEL_ID) == []  # nothing posted in the channel by subscribing

    again = await ui.reply(f"/subscribe {CHANNEL_ID}")
    assert again.text.startswith(f"Канал @{CHANNEL_USERNAME} уже подписан")

    saved = await ui.reply(f"/subscribe @{CHANNEL_USERNAME} налоги")
    assert saved.text.startswith("🔎 Запрос сохранён: налоги")
    assert [q.text for q in (await ui.subscriptions.get(CHANNEL_ID)).queries] == ["налоги"]

    listing = await ui.reply(f"/subscriptions @{CHANNEL_USERNAME}")
    assert listing.text.startswith(f"📋 Подписка — @{CHANNEL_USERNAME}")
    question = await ui.reply(f"/unsubscribe @{CHANNEL_USERNAME}")
    await ui.press(question, "Всё")
    assert not await ui.subscriptions.is_subscribed(CHANNEL_ID)


@pytest.mark.parametrize(
    ("setup", "expected"),
    [
        ("missing", "Не нахожу канал @govchannel"),
        ("group", "@govchannel — не канал"),
        ("bot_member", "Бот не администратор в @govchannel"),
        ("user_member", "только администраторы канала"),
    ],
)
async def test_channel_refusals_are_clear(ui: Harness, setup: str, expected: str) -> None:
    if setup == "group":
        ui.emulator.add_chat(CHANNEL_ID, "supergroup", "Группа", CHANNEL_USERNAME)
    elif setup == "bot_member":
        add_channel(ui.emulator, bot_status="member")
    elif setup == "user_member":
        add_channel(ui.emulator, admin_id=None)
        ui.emulator.add_user(USER_ID)
        ui.emulator.set_member(CHANNEL_ID, USER_ID, "member")
    answer = await ui.reply(f"/subscribe @{CHANNEL_USERNAME}")
    assert expected in answer.text
    assert not await ui.subscriptions.is_subscribed(CHANNEL_ID)


async def test_channel_cannot_be_subscribed_from_a_group(ui: Harness) -> None:
    add_group(ui.emulator, admin_id=USER_ID)
    add_channel(ui.emulator)
    answer = await ui.reply(
        f"/subscribe @{CHANNEL_USERNAME}", chat_id=GROUP_ID, chat_type="supergroup", user_id=USER_ID
    )
    assert "из личного чата" in answer.text
    assert not await ui.subscriptions.is_subscribed(CHANNEL_ID)


async def test_unknown_channel_cannot_be_managed(ui: Harness) -> None:
    answer = await ui.reply("/subscriptions @nochannel")
    assert "Канал @nochannel у меня не подписан" in answer.text


async def test_channel_managed_only_by_its_admins(ui: Harness) -> None:
    add_channel(ui.emulator)
    await ui.reply(f"/subscribe @{CHANNEL_USERNAME}")
    ui.emulator.add_user(3000)
    answer = await ui.reply(f"/unsubscribe @{CHANNEL_USERNAME}", user_id=3000)
    assert "только администраторы канала" in answer.text
    assert await ui.subscriptions.is_subscribed(CHANNEL_ID)


def test_published_commands_have_descriptions_in_both_locales() -> None:
    from bot.telegram.commands import bot_commands

    for locale in ("ru", "en"):
        commands = bot_commands(locale, groups=True)
        assert [command.command for command in commands][-5:] == [
            "subscribe",
            "subscriptions",
            "unsubscribe",
            "settings",
            "digest",
        ]
        assert all(3 <= len(command.description) <= 256 for command in commands)


async def test_long_saved_queries_keep_the_list_within_telegram_limits(ui: Harness) -> None:
    for number in range(5):
        words = " ".join(f"слово{number}x{index}" + "я" * 50 for index in range(16))
        await ui.reply(f"/subscribe {words}")
    listing = await ui.reply("/subscriptions")  # the emulator rejects a text over 4096 characters
    assert listing.text.count("…") == 5
    assert len(listing.text) < 4096
