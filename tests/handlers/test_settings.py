"""/settings menu and the text commands /time, /tz, /frequency, /limit, /notices, /pause, /resume."""

from __future__ import annotations

from datetime import time

import pytest

from bot.chats.records import Chat
from bot.config import Settings
from bot.telegram.callbacks import SettingsAction
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
    harness = await make_harness(settings, db)
    await harness.reply("/subscribe")
    return harness


async def stored(ui: Harness, chat_id: int = USER_ID) -> Chat:
    chat = await ui.chats.get(chat_id)
    assert chat is not None
    return chat


@pytest.mark.parametrize(
    ("command", "reply_start", "check"),
    [
        (
            "/time 08:30",
            "🕗 Дайджест будет приходить в 08:30 (Europe/Moscow).",
            ("delivery_time", time(8, 30)),
        ),
        ("/time 7", "🕗 Дайджест будет приходить в 07:00", ("delivery_time", time(7, 0))),
        (
            "/tz asia/yekaterinburg",
            "🌍 Часовой пояс: Asia/Yekaterinburg.",
            ("timezone", "Asia/Yekaterinburg"),
        ),
        (
            "/timezone Europe/Kaliningrad",
            "🌍 Часовой пояс: Europe/Kaliningrad",
            ("timezone", "Europe/Kaliningrad"),
        ),
        ("/frequency weekdays", "📅 Дайджест будет приходить по будням.", ("frequency", "weekdays")),
        ("/frequency по пятницам", "📅 Дайджест будет приходить по пятницам.", ("weekday", 4)),
        ("/limit 10", "🔢 Материалов в выпуске: 10.", ("max_items", 10)),
        ("/limit all", "🔢 Материалов в выпуске: все.", ("max_items", None)),
        ("/notices on", "🔔 Когда нового нет", ("notify_empty", True)),
        ("/pause", "⏸ Дайджест на паузе.", ("paused", True)),
    ],
)
async def test_text_commands_change_the_setting(
    ui: Harness, command: str, reply_start: str, check: tuple[str, object]
) -> None:
    answer = await ui.reply(command)
    assert answer.text.startswith(reply_start), answer.text
    field, value = check
    assert getattr(await stored(ui), field) == value


async def test_schedule_changes_show_the_next_digest(ui: Harness) -> None:
    answer = await ui.reply("/time 21:15")
    assert "Следующий дайджест:" in answer.text and " 21:15." in answer.text


@pytest.mark.parametrize(
    ("command", "error_start", "example"),
    [
        ("/time 25:00", "Не понимаю время «25:00»", "/time 08:30"),
        ("/time утром", "Не понимаю время «утром»", "/time 08:30"),
        ("/tz Moscow+3", "Не знаю часовой пояс «Moscow+3»", "/tz Europe/Moscow"),
        ("/tz <b>Mars</b>", "Не знаю часовой пояс «<b>Mars</b>»", "/tz Europe/Moscow"),
        ("/frequency hourly", "Не понимаю частоту «hourly»", "weekly fri"),
        ("/frequency weekly", "Для еженедельного дайджеста укажите день", "/frequency weekly fri"),
        ("/limit 0", "«0» не подходит: нужно число от 1 до 50", "/limit 10"),
        ("/limit many", "«many» не подходит", "/limit 10"),
        ("/notices maybe", "Не понимаю «maybe»", "/notices on"),
    ],
)
async def test_bad_input_gets_a_clear_error_and_changes_nothing(
    ui: Harness, command: str, error_start: str, example: str
) -> None:
    before = await stored(ui)
    answer = await ui.reply(command)
    assert answer.text.startswith(error_start), answer.text
    assert example in answer.text
    after = await stored(ui)
    assert (after.delivery_time, after.timezone, after.frequency, after.max_items, after.notify_empty) == (
        before.delivery_time,
        before.timezone,
        before.frequency,
        before.max_items,
        before.notify_empty,
    )


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("/time", "Дайджест приходит в 09:00 (Europe/Moscow). Изменить: /time 08:30"),
        ("/tz", "Часовой пояс: Europe/Moscow."),
        ("/frequency", "Дайджест приходит ежедневно."),
        ("/limit", "Материалов в выпуске: все."),
        ("/notices", "Сообщать, когда нового нет: выкл."),
    ],
)
async def test_commands_without_argument_show_the_current_value(
    ui: Harness, command: str, expected: str
) -> None:
    answer = await ui.reply(command)
    assert answer.text.startswith(expected), answer.text


async def test_pause_and_resume(ui: Harness) -> None:
    assert (await ui.reply("/resume")).text.startswith("Дайджест и так не на паузе")
    assert (await ui.reply("/pause")).text.startswith("⏸")
    assert (await ui.reply("/pause")).text.startswith("Дайджест уже на паузе")
    resumed = await ui.reply("/resume")
    assert resumed.text.startswith("▶️ Дайджест возобновлён: ежедневно в 09:00")
    assert not (await stored(ui)).paused


async def test_settings_before_subscribing_say_so(settings: Settings, db: Database) -> None:
    ui = await make_harness(settings, db)
    answer = await ui.reply("/time 10:00")
    assert "настройки применятся после /subscribe" in answer.text
    assert (await stored(ui)).delivery_time == time(10, 0)


async def test_menu_buttons_change_every_setting(ui: Harness) -> None:
    menu = await ui.reply("/settings")
    assert menu.text.startswith("⚙️ Настройки дайджеста")
    assert "Время: 09:00" in menu.text and "Дайджест: приходит, ежедневно в 09:00" in menu.text

    picker = await ui.press(menu, "🕗 Время")
    assert picker.text.startswith("Во сколько присылать дайджест?")
    assert "✓ 09:00" in [button["text"] for button in picker.buttons]
    menu = await ui.press(picker, "07:30")
    assert ui.last_callback_answer() == "Сохранено"
    assert "Время: 07:30" in menu.text
    assert (await stored(ui)).delivery_time == time(7, 30)

    picker = await ui.press(menu, "🌍 Часовой пояс")
    menu = await ui.press(picker, "Yekaterinburg")
    assert (await stored(ui)).timezone == "Asia/Yekaterinburg"
    assert "Часовой пояс: Asia/Yekaterinburg" in menu.text

    picker = await ui.press(menu, "📅 Частота")
    days = await ui.press(picker, "Раз в неделю…")
    assert days.text == "В какой день недели?"
    menu = await ui.press(days, "Пт")
    chat = await stored(ui)
    assert (chat.frequency, chat.weekday) == ("weekly", 4)
    assert "Частота: по пятницам" in menu.text
    picker = await ui.press(menu, "📅 Частота")
    menu = await ui.press(picker, "По будням")
    assert (await stored(ui)).frequency == "weekdays"

    picker = await ui.press(menu, "🔢 Сколько материалов")
    menu = await ui.press(picker, "10")
    assert (await stored(ui)).max_items == 10
    picker = await ui.press(menu, "🔢 Сколько материалов")
    menu = await ui.press(picker, "Все")
    assert (await stored(ui)).max_items is None

    menu = await ui.press(menu, "🔔 Сообщать «нового нет»")
    assert (await stored(ui)).notify_empty
    assert "🔕 Не сообщать «нового нет»" in [button["text"] for button in menu.buttons]
    menu = await ui.press(menu, "⏸ Пауза")
    assert (await stored(ui)).paused and "на паузе" in menu.text
    menu = await ui.press(menu, "▶️ Возобновить")
    assert not (await stored(ui)).paused

    picker = await ui.press(menu, "🕗 Время")
    menu = await ui.press(picker, "« Назад")
    assert menu.text.startswith("⚙️ Настройки дайджеста")
    closed = await ui.press(menu, "✖️ Закрыть")
    assert closed.text.endswith("Настройки сохранены.") and closed.buttons == []


async def test_every_callback_fits_the_limit(ui: Harness) -> None:
    add_channel(ui.emulator)
    await ui.reply(f"/subscribe @{CHANNEL_USERNAME}")
    menu = await ui.reply(f"/settings @{CHANNEL_USERNAME}")
    for section in ("🕗 Время", "🌍 Часовой пояс", "🔢 Сколько материалов"):
        picker = await ui.press(menu, section)
        # The emulator rejects > 64 bytes (BUTTON_DATA_INVALID); check the margin explicitly too.
        assert all(len(button["callback_data"].encode()) <= 64 for button in picker.buttons)
        menu = await ui.press(picker, "« Назад")


async def test_forged_button_values_are_rejected(ui: Harness) -> None:
    menu = await ui.reply("/settings")
    forged = SettingsAction(chat_id=USER_ID, action="set_tz", value="..-..-etc-passwd").pack()
    await ui.press_data(menu, forged, strict=False)
    alert = ui.last_callback_answer() or ""
    assert alert.startswith("Не знаю часовой пояс «..-..-etc-passwd»") and "<code>" not in alert
    assert "/tz Europe/Moscow" in alert and len(alert) <= 200
    assert (await stored(ui)).timezone == "Europe/Moscow"


async def test_button_for_another_chat_is_refused(ui: Harness) -> None:
    menu = await ui.reply("/settings")
    other = SettingsAction(chat_id=GROUP_ID, action="set_time", value="0600").pack()
    await ui.press_data(menu, other, strict=False)
    assert ui.last_callback_answer() == "Это может сделать только администратор чата."
    assert await ui.chats.get(GROUP_ID) is None


async def test_group_settings_only_for_admins(ui: Harness) -> None:
    add_group(ui.emulator, admin_id=USER_ID)
    kwargs = {"chat_id": GROUP_ID, "chat_type": "supergroup"}
    refused = await ui.reply("/time 06:00", user_id=3000, **kwargs)
    assert refused.text == "Менять подписку и настройки в группе могут только её администраторы."
    assert await ui.chats.get(GROUP_ID) is None

    menu = await ui.reply("/settings", user_id=USER_ID, **kwargs)
    picker = await ui.press(menu, "🕗 Время", user_id=USER_ID)
    await ui.press(picker, "06:00", user_id=3000)  # a member presses the admin's menu
    assert ui.last_callback_answer() == "Менять подписку и настройки в группе могут только её администраторы."
    assert (await stored(ui, GROUP_ID)).delivery_time == time(9, 0)
    await ui.press(picker, "06:00", user_id=USER_ID)
    assert (await stored(ui, GROUP_ID)).delivery_time == time(6, 0)


async def test_channel_settings_from_private_chat(ui: Harness) -> None:
    add_channel(ui.emulator)
    await ui.reply(f"/subscribe @{CHANNEL_USERNAME}")
    menu = await ui.reply(f"/settings @{CHANNEL_USERNAME}")
    assert menu.text.startswith(f"⚙️ Настройки дайджеста — @{CHANNEL_USERNAME}")
    picker = await ui.press(menu, "🕗 Время")
    await ui.press(picker, "18:00")
    assert (await stored(ui, CHANNEL_ID)).delivery_time == time(18, 0)
    assert (await stored(ui, USER_ID)).delivery_time == time(9, 0)

    # The user stops being an admin of the channel: the same menu no longer works (after the cache expires).
    ui.emulator.set_member(CHANNEL_ID, USER_ID, "member")

    ui.dispatcher["chat_admins"].forget(CHANNEL_ID)
    picker = await ui.press(menu, "🕗 Время")
    assert ui.last_callback_answer() == "Это может сделать только администратор чата."
