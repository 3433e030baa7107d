"""my_chat_member, /start reactivation and group → supergroup migration through a Dispatcher."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.config import Settings
from bot.digest.jobs import create_due_jobs
from bot.digest.records import PartDraft
from storage.sqlite import SqliteStorage
from storage.sqlite.database import Database
from tests.conftest import TEST_NOW
from tests.e2e.digest_seed import add_articles, make_articles
from tests.handlers.digest_ui_support import GROUP_ID, USER_ID, Harness, add_group, make_harness


@pytest.fixture
async def ui(settings: Settings, db: Database) -> Harness:
    return await make_harness(settings, db)


async def is_active(ui: Harness, chat_id: int) -> bool:
    chat = await ui.chats.get(chat_id)
    assert chat is not None
    return chat.active


@pytest.mark.parametrize(
    ("chat_type", "chat_id", "gone"),
    [("private", USER_ID, "kicked"), ("supergroup", GROUP_ID, "kicked"), ("supergroup", GROUP_ID, "left")],
)
async def test_kicked_or_left_makes_the_chat_inactive_and_coming_back_reactivates(
    ui: Harness, chat_type: str, chat_id: int, gone: str
) -> None:
    if chat_type == "private":
        await ui.reply("/subscribe")
    else:
        add_group(ui.emulator, admin_id=USER_ID)
        await ui.reply("/subscribe", chat_id=GROUP_ID, chat_type=chat_type, user_id=USER_ID)
    now = TEST_NOW
    job = await ui.outbox.create_digest_job(
        chat_id, period_start=now - timedelta(days=1), period_end=now, parts=[PartDraft("дайджест")]
    )
    assert job is not None

    await ui.feed(ui.emulator.my_chat_member(chat_id, old_status="member", new_status=gone))
    assert not await is_active(ui, chat_id)
    chat = await ui.chats.get(chat_id)
    assert chat is not None and chat.inactive_reason == f"bot {gone}"
    parked = await ui.outbox.get_job(job)
    assert parked is not None and parked.state == "inactive"
    assert await ui.subscriptions.is_subscribed(chat_id)  # subscriptions stay

    back_status = "member" if chat_type == "private" else "administrator"
    await ui.feed(ui.emulator.my_chat_member(chat_id, old_status=gone, new_status=back_status))
    assert await is_active(ui, chat_id)
    # The parked digest would arrive late: superseded; the next digest starts where it started.
    superseded = await ui.outbox.get_job(job)
    assert superseded is not None and superseded.superseded and superseded.state == "inactive"
    chat = await ui.chats.get(chat_id)
    assert chat is not None and chat.last_period_end == superseded.period_start


async def test_restricted_but_still_member_stays_active(ui: Harness) -> None:
    add_group(ui.emulator, admin_id=USER_ID)
    await ui.reply("/subscribe", chat_id=GROUP_ID, chat_type="supergroup", user_id=USER_ID)
    await ui.feed(ui.emulator.my_chat_member(GROUP_ID, old_status="member", new_status="restricted"))
    assert await is_active(ui, GROUP_ID)


async def test_membership_update_of_an_unknown_chat_is_harmless(ui: Harness) -> None:
    await ui.feed(ui.emulator.my_chat_member(-100555, old_status="left", new_status="member"))
    await ui.feed(ui.emulator.my_chat_member(-100555, old_status="member", new_status="kicked"))
    assert await ui.chats.get(-100555) is None


async def test_start_from_an_inactive_chat_reactivates_it_and_still_greets(ui: Harness) -> None:
    await ui.reply("/subscribe")
    await ui.chats.deactivate(USER_ID, "Forbidden: bot was blocked by the user")
    assert not await is_active(ui, USER_ID)
    greeting = await ui.reply("/start")
    assert not greeting.text.startswith("✅")  # the start router's greeting
    assert await is_active(ui, USER_ID)


async def test_start_subscribe_from_an_inactive_chat(ui: Harness) -> None:
    await ui.reply("/subscribe")
    await ui.reply("/unsubscribe")
    await ui.chats.deactivate(USER_ID, "blocked")
    answer = await ui.reply("/start subscribe")
    assert answer.text.startswith("✅ Подписка оформлена")
    assert await is_active(ui, USER_ID) and await ui.subscriptions.is_subscribed(USER_ID)


def _service_message(chat: dict[str, object], user_id: int, **fields: object) -> dict[str, object]:
    return {
        "update_id": int(TEST_NOW.timestamp() * 1000) % 2**31,
        "message": {
            "message_id": 99,
            "date": int(TEST_NOW.timestamp()),
            "chat": chat,
            "from": {"id": user_id, "is_bot": False, "first_name": "Admin"},
            **fields,
        },
    }


async def test_group_upgraded_to_supergroup_moves_everything(ui: Harness) -> None:
    old_id, new_id = -4001, -1004001
    ui.emulator.add_chat(old_id, "group", "Группа")
    ui.emulator.set_member(old_id, USER_ID, "administrator")
    await ui.reply("/subscribe", chat_id=old_id, chat_type="group", user_id=USER_ID)
    await ui.reply("/subscribe налоги", chat_id=old_id, chat_type="group", user_id=USER_ID)
    await ui.reply("/time 07:00", chat_id=old_id, chat_type="group", user_id=USER_ID)

    group = {"id": old_id, "type": "group", "title": "Группа"}
    await ui.feed(_service_message(group, USER_ID, migrate_to_chat_id=new_id))
    assert await ui.chats.get(old_id) is None
    moved = await ui.chats.get(new_id)
    assert moved is not None and moved.type == "supergroup" and moved.delivery_time.hour == 7
    subscription = await ui.subscriptions.get(new_id)
    assert subscription.gov_news and [q.text for q in subscription.queries] == ["налоги"]

    # The twin service message in the new supergroup finds nothing left to move.
    supergroup = {"id": new_id, "type": "supergroup", "title": "Группа"}
    await ui.feed(_service_message(supergroup, USER_ID, migrate_from_chat_id=old_id))
    assert (await ui.subscriptions.get(new_id)).gov_news


async def test_admin_cache_forgets_a_chat_on_membership_change(ui: Harness) -> None:
    add_group(ui.emulator, admin_id=USER_ID)
    await ui.reply("/subscribe", chat_id=GROUP_ID, chat_type="supergroup", user_id=USER_ID)
    ui.emulator.set_member(GROUP_ID, USER_ID, "member")  # demoted; the cache still says admin
    await ui.feed(ui.emulator.my_chat_member(GROUP_ID, old_status="member", new_status="administrator"))
    refused = await ui.reply("/unsubscribe", chat_id=GROUP_ID, chat_type="supergroup", user_id=USER_ID)
    assert "только её администраторы" in refused.text


async def test_subscribe_from_an_inactive_group_reactivates_it(ui: Harness) -> None:
    # The my_chat_member update of the comeback was missed (the bot was down): the command itself proves it.
    add_group(ui.emulator, admin_id=USER_ID)
    await ui.reply("/subscribe", chat_id=GROUP_ID, chat_type="supergroup", user_id=USER_ID)
    now = TEST_NOW
    job = await ui.outbox.create_digest_job(
        GROUP_ID, period_start=now - timedelta(days=1), period_end=now, parts=[PartDraft("дайджест")]
    )
    assert job is not None
    await ui.chats.deactivate(GROUP_ID, "bot kicked")
    await ui.reply("/subscribe налоги", chat_id=GROUP_ID, chat_type="supergroup", user_id=USER_ID)
    assert await is_active(ui, GROUP_ID)
    superseded = await ui.outbox.get_job(job)
    assert superseded is not None and superseded.superseded


# 09:00 Moscow on three days: the last digest the user got ended on the 24th; the 25th's and 26th's were
# parked (the user had blocked the bot).
D0, D1, D2 = (datetime(2026, 11, day, 6, 0, tzinfo=UTC) for day in (24, 25, 26))


@pytest.mark.parametrize("back_at_hours", [0.25, 6.0, 30.0])
async def test_coming_back_brings_one_catch_up_digest_instead_of_the_stale_ones(
    ui: Harness, back_at_hours: float
) -> None:
    await ui.reply("/subscribe")
    await ui.db.execute("UPDATE subscriptions SET since = ?", ((D0 - timedelta(days=30)).isoformat(),))
    # News of the 25th: in a superseded digest's period, so only the catch-up can bring it.
    [missed] = await add_articles(ui.db, make_articles(1, end=D1))
    delivered = await ui.outbox.create_digest_job(
        USER_ID, period_start=D0 - timedelta(days=1), period_end=D0, parts=[PartDraft("24.11")], now=D0
    )
    assert delivered is not None
    await ui.outbox.complete_job(delivered)
    stale = []
    for start, end in ((D0, D1), (D1, D2)):
        job = await ui.outbox.create_digest_job(
            USER_ID, period_start=start, period_end=end, parts=[PartDraft(f"{end:%d.%m}")], now=end
        )
        assert job is not None
        stale.append(job)
    await ui.feed(ui.emulator.my_chat_member(USER_ID, old_status="member", new_status="kicked"))
    await ui.outbox.create_broadcast("Новая функция", created_by=1000, chat_ids=[USER_ID])
    await ui.feed(ui.emulator.my_chat_member(USER_ID, old_status="kicked", new_status="member"))
    assert await is_active(ui, USER_ID)

    back = D2 + timedelta(hours=back_at_hours)
    created, _ = await create_due_jobs(SqliteStorage(ui.db), now=back)
    assert created == 1
    ready = await ui.outbox.ready_jobs(TEST_NOW + timedelta(days=3))  # whatever is queued
    assert sorted(job.kind for job in ready) == ["broadcast", "digest"]  # the fresh broadcast still goes
    [catch_up] = [job for job in ready if job.kind == "digest"]
    # One digest from the end of the last delivered one to the latest due time: the whole gap, once.
    latest_due = D2 + timedelta(days=1) if back_at_hours >= 24 else D2
    assert (catch_up.period_start, catch_up.period_end) == (D0, latest_due)
    assert catch_up.items == (missed,)
    assert all(job.id not in stale for job in ready)
    assert (await create_due_jobs(SqliteStorage(ui.db), now=back))[0] == 0
