"""/stats and /broadcast: admins (settings.admin_ids) in a private chat only; everyone else gets silence."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.config import Settings
from storage.sqlite.database import Database
from tests.handlers.digest_ui_support import ADMIN_ID, GROUP_ID, USER_ID, Harness, add_group, make_harness


@pytest.fixture
async def ui(settings: Settings, db: Database) -> Harness:
    harness = await make_harness(settings, db)
    await harness.reply("/subscribe")  # user 2000
    await harness.reply("/subscribe", user_id=2001)
    await harness.reply("/subscribe", user_id=2002)
    await harness.reply("/pause", user_id=2002)
    return harness


async def test_stats_for_the_admin(ui: Harness) -> None:
    await ui.chats.deactivate(2001, "blocked")
    answer = await ui.reply("/stats", user_id=ADMIN_ID)
    assert answer.text.startswith("📊 Статистика")
    assert "Материалов в архиве: 0" in answer.text
    assert "Чатов: 3 (активных 2, неактивных 1, на паузе 1)" in answer.text
    assert "Активных подписчиков: 2" in answer.text
    assert "Рассылок ещё не было." in answer.text


async def test_stats_shows_the_last_fanout(ui: Harness) -> None:
    started = datetime(2026, 11, 26, 6, 0, tzinfo=UTC)
    fanout = await ui.outbox.start_fanout("digest", now=started)
    await ui.outbox.finish_fanout(fanout, jobs=3, sent=2, retried=4, failed=1, messages=5)
    answer = await ui.reply("/stats", user_id=ADMIN_ID)
    assert "Последняя рассылка (digest, 26.11.2026 09:00)" in answer.text
    assert "задач 3, отправлено 2, повторов 4, ошибок 1, сообщений 5" in answer.text


@pytest.mark.parametrize("command", ["/stats", "/broadcast Всем привет"])
async def test_non_admins_get_silence(ui: Harness, command: str) -> None:
    assert await ui.send(command) == []
    add_group(ui.emulator, admin_id=ADMIN_ID)
    # Even the admin gets nothing in a group: statistics are not for a group to read.
    assert await ui.send(command, chat_id=GROUP_ID, chat_type="supergroup", user_id=ADMIN_ID) == []
    assert (await ui.outbox.counts()).total == 0


async def test_broadcast_goes_through_the_outbox_to_active_unpaused_subscribers(ui: Harness) -> None:
    await ui.chats.deactivate(2001, "blocked")
    answer = await ui.reply("/broadcast Завтра дайджест <выйдет> позже & короче", user_id=ADMIN_ID)
    assert answer.text.startswith("📣 Рассылка №1 поставлена в очередь (чатов: 1)")
    jobs = await ui.outbox.jobs_for_chat(USER_ID)
    assert [(job.kind, job.state) for job in jobs] == [("broadcast", "pending")]
    parts = await ui.outbox.parts(jobs[0].id)
    assert [part.text for part in parts] == ["Завтра дайджест &lt;выйдет&gt; позже &amp; короче"]
    assert await ui.outbox.jobs_for_chat(2001) == []  # inactive
    assert await ui.outbox.jobs_for_chat(2002) == []  # paused


async def test_broadcast_keeps_the_admins_formatting(ui: Harness) -> None:
    text = "/broadcast Важно: новый раздел"
    entities = [
        {"type": "bot_command", "offset": 0, "length": 10},
        {"type": "bold", "offset": 11, "length": 5},
    ]
    await ui.feed(ui.emulator.message(text, user_id=ADMIN_ID, entities=entities))
    job = (await ui.outbox.jobs_for_chat(USER_ID))[0]
    assert [part.text for part in await ui.outbox.parts(job.id)] == ["<b>Важно</b>: новый раздел"]


async def test_broadcast_without_text_shows_usage(ui: Harness) -> None:
    answer = await ui.reply("/broadcast", user_id=ADMIN_ID)
    assert "/broadcast Завтра дайджест выйдет позже" in answer.text
    assert (await ui.outbox.counts()).total == 0


async def test_longest_broadcast_fits_one_message(ui: Harness) -> None:
    from bot.telegram.html_split import visible_length

    body = "и & " * 1000  # 4000 characters; escaped, its HTML is twice as long
    await ui.reply("/broadcast " + body.strip(), user_id=ADMIN_ID)
    job = (await ui.outbox.jobs_for_chat(USER_ID))[0]
    [part] = await ui.outbox.parts(job.id)
    assert len(part.text) > 4096 and visible_length(part.text) <= 4096
    assert part.text.startswith("и &amp; и")


async def test_broadcast_with_nobody_subscribed(settings: Settings, db: Database) -> None:
    ui = await make_harness(settings, db)
    answer = await ui.reply("/broadcast Привет", user_id=ADMIN_ID)
    assert "рассылать некому" in answer.text


def test_duration_formatting() -> None:
    from handlers.admin import format_duration

    assert format_duration(timedelta(seconds=42.4), "ru") == "42 с"
    assert format_duration(timedelta(seconds=125), "en") == "2 min 05 s"
    assert format_duration(None, "ru") == "ещё идёт"
