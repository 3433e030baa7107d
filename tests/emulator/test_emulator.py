"""The emulator itself, driven through a real aiogram Bot over HTTP (and RecordingSession without HTTP)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiogram import Bot, Dispatcher, Router
from aiogram.exceptions import (
    ClientDecodeError,
    TelegramBadRequest,
    TelegramConflictError,
    TelegramForbiddenError,
    TelegramMigrateToChat,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiogram.filters import Command
from aiogram.methods import SendMessage
from aiogram.types import (
    BotCommand,
    BotCommandScopeAllPrivateChats,
    BufferedInputFile,
    CallbackQuery,
    ChatMemberAdministrator,
    ChatMemberBanned,
    ChatMemberLeft,
    ChatMemberMember,
    ChatMemberOwner,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InlineQueryResultArticle,
    InputTextMessageContent,
    Message,
    Update,
)
from aiogram.types.inline_query_result_union import InlineQueryResultUnion
from aiohttp import ClientSession, web

from tests.emulator import BotAPIEmulator, FloodLimits
from tests.emulator.flood import ManualClock
from tests.emulator.recording import RecordingSession, make_recording_bot

USER = 2000
GROUP = -4001
CHANNEL = -1001234567890


def keyboard(*data: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text=f"Button {item}", callback_data=item)] for item in data]
    )


@pytest.fixture
def private_chat(emulator: BotAPIEmulator) -> int:
    emulator.add_chat(USER, "private", first_name="Ivan")
    return USER


# ------------------------------------------------------------------ basics


async def test_get_me_describes_the_bot(bot: Bot) -> None:
    me = await bot.get_me()
    assert (me.id, me.username, me.is_bot, me.supports_inline_queries) == (
        123456,
        "govdigest_bot",
        True,
        True,
    )


async def test_wrong_token_is_unauthorized(emulator: BotAPIEmulator) -> None:
    other = emulator.make_bot(token="123456:another-secret-token-of-some-length")
    try:
        with pytest.raises(TelegramUnauthorizedError, match="Unauthorized"):
            await other.get_me()
    finally:
        await other.session.close()


async def test_unknown_method_is_404_not_found(emulator: BotAPIEmulator) -> None:
    async with (
        ClientSession() as http,
        http.post(f"{emulator.base_url}/bot{emulator.token}/sendTelepathy") as r,
    ):
        assert r.status == 404
        assert await r.json() == {"ok": False, "error_code": 404, "description": "Not Found"}


async def test_methods_accept_json_bodies_and_any_case(emulator: BotAPIEmulator, private_chat: int) -> None:
    url = f"{emulator.base_url}/bot{emulator.token}/SENDMESSAGE"
    async with (
        ClientSession() as http,
        http.post(url, json={"chat_id": private_chat, "text": "hi"}) as response,
    ):
        body = await response.json()
    assert body["ok"] is True and body["result"]["text"] == "hi"
    assert emulator.requests[-1].params == {"chat_id": private_chat, "text": "hi"}


# ------------------------------------------------------------------ sendMessage validation


@pytest.mark.parametrize(
    ("text", "description"),
    [
        ("", "Bad Request: message text is empty"),
        ("   \n ", "Bad Request: message text is empty"),
        ("<b></b>", "Bad Request: message text is empty"),
        ("a < b", 'Bad Request: can\'t parse entities: Unsupported start tag "" at byte offset 2'),
        ("<p>x</p>", 'Bad Request: can\'t parse entities: Unsupported start tag "p" at byte offset 0'),
        ("<b>x", "Bad Request: can't parse entities: Can't find end tag corresponding to start tag \"b\""),
        ("<b><i>x</b></i>", "Bad Request: can't parse entities: Unmatched end tag at byte offset 7"),
        ("Tom & Jerry", 'Bad Request: can\'t parse entities: Character "&" must be escaped'),
        ("x" * 4097, "Bad Request: message is too long"),
    ],
)
async def test_send_message_validation(bot: Bot, private_chat: int, text: str, description: str) -> None:
    with pytest.raises(TelegramBadRequest) as error:
        await bot.send_message(private_chat, text)
    assert error.value.message.startswith(description)


@pytest.mark.parametrize(
    ("text", "accepted"),
    [
        ("я" * 4096, True),
        ("я" * 4097, False),
        ("<b>" + "x" * 4096 + "</b>", True),  # tags do not count
        ("&lt;" * 4096, True),  # an entity is one character
        ("&lt;" * 4097, False),
        ("😀" * 2048, True),  # 4096 UTF-16 code units
        ("😀" * 2048 + "x", False),  # 2049 characters but 4097 code units
        ("  " + "x" * 4096 + "\n\n", True),  # surrounding whitespace is trimmed first
    ],
)
async def test_length_limit_counts_utf16_after_entity_parsing(
    bot: Bot, emulator: BotAPIEmulator, private_chat: int, text: str, accepted: bool
) -> None:
    if accepted:
        await bot.send_message(private_chat, text)
        assert len(emulator.last_message(private_chat).text.encode("utf-16-le")) == 4096 * 2
    else:
        with pytest.raises(TelegramBadRequest, match="message is too long"):
            await bot.send_message(private_chat, text)


async def test_sent_message_keeps_plain_text_entities_and_source(
    bot: Bot, emulator: BotAPIEmulator, private_chat: int
) -> None:
    message = await bot.send_message(private_chat, "<b>Итоги</b> &amp; <a href='https://gov.ru/a'>ссылка</a>")
    assert message.text == "Итоги & ссылка"
    assert [(e.type, e.offset, e.length, e.url) for e in message.entities or []] == [
        ("bold", 0, 5, None),
        ("text_link", 8, 6, "https://gov.ru/a"),
    ]
    sent = emulator.last_message(private_chat)
    assert sent.text == "Итоги & ссылка"
    assert sent.source == "<b>Итоги</b> &amp; <a href='https://gov.ru/a'>ссылка</a>"
    assert sent.parse_mode == "HTML"
    assert sent.html == '<b>Итоги</b> &amp; <a href="https://gov.ru/a">ссылка</a>'


async def test_entities_parameter_without_parse_mode(
    bot: Bot, emulator: BotAPIEmulator, private_chat: int
) -> None:
    from aiogram.utils.formatting import Bold, Text

    await bot.send_message(private_chat, **Text("a ", Bold("<b>")).as_kwargs())
    sent = emulator.last_message(private_chat)
    assert (sent.text, sent.parse_mode) == ("a <b>", None)
    assert sent.entities == ({"type": "bold", "offset": 2, "length": 3},)


async def test_message_ids_grow_per_chat_and_include_user_messages(
    bot: Bot, emulator: BotAPIEmulator, private_chat: int
) -> None:
    first = await bot.send_message(private_chat, "one")
    update = emulator.message("hello", user_id=private_chat)
    second = await bot.send_message(private_chat, "two", reply_to_message_id=update["message"]["message_id"])
    assert (first.message_id, update["message"]["message_id"], second.message_id) == (1, 2, 3)
    assert second.reply_to_message is not None and second.reply_to_message.text == "hello"


async def test_unknown_chat_and_missing_reply(bot: Bot, private_chat: int) -> None:
    with pytest.raises(TelegramBadRequest, match="chat not found"):
        await bot.send_message(777, "x")
    with pytest.raises(TelegramBadRequest, match="message to be replied not found"):
        await bot.send_message(private_chat, "x", reply_to_message_id=99)


@pytest.mark.parametrize(
    ("data", "accepted"),
    [("x" * 64, True), ("я" * 32, True), ("x" * 65, False), ("я" * 32 + "x", False)],
)
async def test_callback_data_limit_is_64_bytes(
    bot: Bot, private_chat: int, data: str, accepted: bool
) -> None:
    if accepted:
        await bot.send_message(private_chat, "k", reply_markup=keyboard(data))
    else:
        with pytest.raises(TelegramBadRequest, match="BUTTON_DATA_INVALID"):
            await bot.send_message(private_chat, "k", reply_markup=keyboard(data))


# ------------------------------------------------------------------ edits, deletes, documents


async def test_edit_message_text_rules(bot: Bot, emulator: BotAPIEmulator, private_chat: int) -> None:
    message = await bot.send_message(private_chat, "<b>v1</b>", reply_markup=keyboard("a"))
    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await bot.edit_message_text(
            "<b>v1</b>", chat_id=private_chat, message_id=message.message_id, reply_markup=keyboard("a")
        )
    with pytest.raises(TelegramBadRequest, match="message to edit not found"):
        await bot.edit_message_text("v2", chat_id=private_chat, message_id=999)
    edited = await bot.edit_message_text("v2", chat_id=private_chat, message_id=message.message_id)
    assert isinstance(edited, Message) and edited.reply_markup is None  # no reply_markup: keyboard removed
    sent = emulator.get_message(private_chat, message.message_id)
    assert (sent.text, sent.reply_markup, [version.text for version in sent.edits]) == ("v2", None, ["v1"])
    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await bot.edit_message_reply_markup(chat_id=private_chat, message_id=message.message_id)
    await bot.edit_message_reply_markup(
        chat_id=private_chat, message_id=message.message_id, reply_markup=keyboard("b")
    )
    assert emulator.get_message(private_chat, message.message_id).buttons[0]["callback_data"] == "b"


async def test_user_messages_cannot_be_edited_and_deleted_ones_are_gone(
    bot: Bot, emulator: BotAPIEmulator, private_chat: int
) -> None:
    user_message = emulator.message("hi", user_id=private_chat)["message"]["message_id"]
    with pytest.raises(TelegramBadRequest, match="message can't be edited"):
        await bot.edit_message_text("x", chat_id=private_chat, message_id=user_message)
    message = await bot.send_message(private_chat, "bye")
    assert await bot.delete_message(private_chat, message.message_id) is True
    with pytest.raises(TelegramBadRequest, match="message to delete not found"):
        await bot.delete_message(private_chat, message.message_id)
    assert emulator.messages_to(private_chat) == []
    assert len(emulator.messages_to(private_chat, include_deleted=True)) == 1


async def test_send_document_records_file_and_checks_caption(
    bot: Bot, emulator: BotAPIEmulator, private_chat: int
) -> None:
    message = await bot.send_document(
        private_chat, BufferedInputFile("дата;текст\n".encode(), "export.csv"), caption="<i>Экспорт</i>"
    )
    assert message.document is not None and message.document.file_name == "export.csv"
    assert message.caption == "Экспорт"
    document = emulator.documents[-1]
    assert (document.file_name, document.data, document.mime_type) == (
        "export.csv",
        "дата;текст\n".encode(),
        "text/csv",
    )
    assert emulator.last_message(private_chat).document is document
    with pytest.raises(TelegramBadRequest, match="message caption is too long"):
        await bot.send_document(private_chat, BufferedInputFile(b"x", "a.txt"), caption="x" * 1025)
    with pytest.raises(TelegramBadRequest, match="file must be non-empty"):
        await bot.send_document(private_chat, BufferedInputFile(b"", "a.txt"))


async def test_user_document_can_be_downloaded(bot: Bot, emulator: BotAPIEmulator) -> None:
    update = emulator.document(b"<html>page</html>", "page.html")
    file = await bot.get_file(update["message"]["document"]["file_id"])
    downloaded = await bot.download_file(file.file_path or "")
    assert downloaded is not None and downloaded.read() == b"<html>page</html>"


async def test_chat_action(bot: Bot, emulator: BotAPIEmulator, private_chat: int) -> None:
    assert await bot.send_chat_action(private_chat, "typing") is True
    with pytest.raises(TelegramBadRequest, match="wrong parameter action"):
        await bot.send_chat_action(private_chat, "dancing")
    assert emulator.chat_actions == [(private_chat, "typing")]


# ------------------------------------------------------------------ callback and inline queries


async def test_callback_query_answer_once(bot: Bot, emulator: BotAPIEmulator, private_chat: int) -> None:
    message = await bot.send_message(private_chat, "pick", reply_markup=keyboard("a", "b"))
    sent = emulator.last_message(private_chat)
    with pytest.raises(ValueError, match="no button"):
        emulator.callback_query("zzz", message=sent)
    update = emulator.click(sent, "Button b")
    query = update["callback_query"]
    assert (query["data"], query["message"]["message_id"], query["from"]["id"]) == (
        "b",
        message.message_id,
        USER,
    )
    assert await bot.answer_callback_query(query["id"], text="Done") is True
    with pytest.raises(TelegramBadRequest, match="query is too old"):
        await bot.answer_callback_query(query["id"])
    assert [(a.text, a.show_alert) for a in emulator.callback_answers] == [("Done", False)]


def article(result_id: str, text: str = "t") -> InlineQueryResultArticle:
    return InlineQueryResultArticle(
        id=result_id,
        title=f"title {result_id}",
        input_message_content=InputTextMessageContent(message_text=text),
    )


@pytest.mark.parametrize(
    ("results", "error"),
    [
        ([article(str(i)) for i in range(50)], None),
        ([article(str(i)) for i in range(51)], "RESULTS_TOO_MUCH"),
        ([article("1"), article("1")], "RESULT_ID_DUPLICATE"),
        ([article("x" * 65)], "RESULT_ID_INVALID"),
        ([article("1", "<b>x")], "can't parse entities"),
    ],
)
async def test_answer_inline_query(
    bot: Bot, emulator: BotAPIEmulator, results: list[InlineQueryResultUnion], error: str | None
) -> None:
    query_id = emulator.inline_query("комиссия")["inline_query"]["id"]
    if error is None:
        assert await bot.answer_inline_query(query_id, results, next_offset="50", cache_time=1) is True
        answer = emulator.inline_answers[-1]
        assert (len(answer.results), answer.next_offset) == (50, "50")
        assert answer.results[0]["input_message_content"]["parse_mode"] == "HTML"
        with pytest.raises(TelegramBadRequest, match="query is too old"):
            await bot.answer_inline_query(query_id, results)
    else:
        with pytest.raises(TelegramBadRequest, match=error):
            await bot.answer_inline_query(query_id, results)


# ------------------------------------------------------------------ updates: long polling and webhook


async def test_long_polling_waits_for_an_injected_update(bot: Bot, emulator: BotAPIEmulator) -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    loop.call_later(0.1, lambda: emulator.message("/start@govdigest_bot", chat_id=GROUP, chat_type="group"))
    updates = await bot.get_updates(timeout=5)
    assert 0.05 < loop.time() - started < 2
    assert len(updates) == 1 and updates[0].message is not None
    assert updates[0].message.text == "/start@govdigest_bot"
    assert updates[0].message.entities is not None and updates[0].message.entities[0].length == 20
    # not confirmed yet: the same update again; offset confirms it
    assert [u.update_id for u in await bot.get_updates()] == [updates[0].update_id]
    assert await bot.get_updates(offset=updates[0].update_id + 1) == []
    assert emulator.pending_updates == []


async def test_get_updates_honours_allowed_updates_and_limit(bot: Bot, emulator: BotAPIEmulator) -> None:
    emulator.inline_query("q")
    for index in range(3):
        emulator.message(f"m{index}")
    updates = await bot.get_updates(allowed_updates=["message"], limit=2)
    assert [u.message.text for u in updates if u.message] == ["m0", "m1"]
    assert all(u.inline_query is None for u in updates)


async def test_get_updates_times_out_with_nothing(bot: Bot) -> None:
    assert await bot.get_updates(timeout=1) == []


async def test_dispatcher_polling_end_to_end(bot: Bot, emulator: BotAPIEmulator) -> None:
    router = Router()

    @router.message(Command("start"))
    async def start(message: Message) -> None:
        await message.answer("Привет, <b>мир</b>!", reply_markup=keyboard("go"))

    @router.callback_query()
    async def pressed(query: CallbackQuery) -> None:
        await query.answer("ok")

    dispatcher = Dispatcher()
    dispatcher.include_router(router)
    async with emulator.polling(dispatcher, bot):
        [reply] = await emulator.ask("/start")
        assert (reply.text, reply.entities[0]["type"]) == ("Привет, мир!", "bold")
        emulator.click(reply, "Button go")
        await emulator.wait_for(lambda: emulator.callback_answers)
        assert emulator.callback_answers[0].text == "ok"
        emulator.message("just text")  # no handler answers it
        await emulator.wait_until_idle(quiet=0.1)
        assert emulator.pending_updates == [] and len(emulator.messages_to(USER)) == 1


@dataclass
class Receiver:
    """A stand-in for the bot's webhook endpoint: records (secret header, body); answers `statuses` in turn."""

    url: str = ""
    received: list[tuple[str | None, dict[str, Any]]] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    state = Receiver()

    async def handle(request: web.Request) -> web.Response:
        state.received.append((request.headers.get("X-Telegram-Bot-Api-Secret-Token"), await request.json()))
        return web.Response(status=state.statuses.pop(0) if state.statuses else 200)

    app = web.Application()
    app.router.add_post("/hook", handle)
    runner = web.AppRunner(app, shutdown_timeout=0.5)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    state.url = f"http://127.0.0.1:{runner.addresses[0][1]}/hook"
    try:
        yield state
    finally:
        await runner.cleanup()


async def test_webhook_delivery_with_secret_token(
    bot: Bot, emulator: BotAPIEmulator, receiver: Receiver
) -> None:
    assert (
        await bot.set_webhook(receiver.url, secret_token="s3cr3t_token", allowed_updates=["message"]) is True
    )
    info = await bot.get_webhook_info()
    assert (info.url, info.allowed_updates) == (receiver.url, ["message"])
    with pytest.raises(TelegramConflictError, match="webhook is active"):
        await bot.get_updates()
    update = emulator.message("via webhook")
    await emulator.wait_for(lambda: receiver.received)
    assert receiver.received == [("s3cr3t_token", update)]
    await emulator.wait_for(lambda: not emulator.pending_updates)
    # explicit posting, e.g. with a wrong secret, returns the receiver's status
    receiver.statuses.append(403)
    assert await emulator.post_update(receiver.url, update, secret_token="wrong") == 403
    assert receiver.received[-1][0] == "wrong"
    assert await bot.delete_webhook() is True
    assert (await bot.get_webhook_info()).url == ""


async def test_webhook_failures_are_retried_and_reported(
    bot: Bot, emulator: BotAPIEmulator, receiver: Receiver
) -> None:
    receiver.statuses.extend([500, 502])
    await bot.set_webhook(receiver.url)
    update = emulator.message("retry me")
    await emulator.wait_for(lambda: len(receiver.received) == 3 and not emulator.pending_updates)
    assert [body for _, body in receiver.received] == [update] * 3
    assert [d.status for d in emulator.webhook_deliveries] == [500, 502, 200]
    info = await bot.get_webhook_info()
    assert info.last_error_message == "Wrong response from the webhook: 502"
    emulator.message("dropped")
    await bot.delete_webhook(drop_pending_updates=True)
    assert emulator.pending_updates == []


async def test_a_second_poller_ends_the_first_with_409(bot: Bot, emulator: BotAPIEmulator) -> None:
    first = asyncio.create_task(bot.get_updates(timeout=5))
    await emulator.wait_for_request("getUpdates")
    assert await bot.get_updates() == []
    with pytest.raises(TelegramConflictError, match="terminated by other getUpdates request"):
        await first


# ------------------------------------------------------------------ flood limits


@pytest.fixture
def clock(emulator: BotAPIEmulator) -> ManualClock:
    emulator.clock = manual = ManualClock()
    return manual


async def test_private_chat_burst_then_429(
    bot: Bot, emulator: BotAPIEmulator, private_chat: int, clock: ManualClock
) -> None:
    for index in range(5):
        await bot.send_message(private_chat, f"burst {index}")
    with pytest.raises(TelegramRetryAfter) as error:
        await bot.send_message(private_chat, "one too many")
    assert error.value.retry_after == 1
    assert "Too Many Requests: retry after 1" in error.value.message
    assert [(e.chat_id, e.scope, e.retry_after) for e in emulator.flood_events] == [
        (private_chat, "private", 1)
    ]
    await bot.send_chat_action(private_chat, "typing")  # only sending methods count
    clock.advance(1.0)
    await bot.send_message(private_chat, "one per second again")
    with pytest.raises(TelegramRetryAfter):
        await bot.send_message(private_chat, "but not two")


async def test_group_limit_is_20_per_minute(bot: Bot, emulator: BotAPIEmulator, clock: ManualClock) -> None:
    emulator.add_chat(GROUP, "group", "Комиссия")
    for index in range(20):
        await bot.send_message(GROUP, f"g{index}")
    with pytest.raises(TelegramRetryAfter) as error:
        await bot.send_message(GROUP, "g21")
    assert error.value.retry_after == 3  # one message per 3 s after the burst


async def test_global_limit_30_per_second(bot: Bot, emulator: BotAPIEmulator, clock: ManualClock) -> None:
    for chat_id in range(3000, 3031):
        emulator.add_chat(chat_id, "private")
    for chat_id in range(3000, 3030):
        await bot.send_message(chat_id, "digest")
    with pytest.raises(TelegramRetryAfter):
        await bot.send_message(3030, "digest")
    assert emulator.flood_events[-1].scope == "global"


async def test_flood_limits_can_be_switched_off(
    bot: Bot, emulator: BotAPIEmulator, private_chat: int
) -> None:
    emulator.set_flood_limits(None)
    for index in range(40):
        await bot.send_message(private_chat, f"{index}")
    emulator.set_flood_limits(FloodLimits(private_burst=1, private_per_second=0.5))
    await bot.send_message(private_chat, "first")
    with pytest.raises(TelegramRetryAfter) as error:
        await bot.send_message(private_chat, "second")
    assert error.value.retry_after == 2


# ------------------------------------------------------------------ fault injection and membership


async def test_fail_next_shapes(bot: Bot, emulator: BotAPIEmulator, private_chat: int) -> None:
    emulator.fail_next("sendMessage", error_code=429, retry_after=7)
    with pytest.raises(TelegramRetryAfter) as retry:
        await bot.send_message(private_chat, "x")
    assert retry.value.retry_after == 7
    emulator.fail_next("sendMessage", error_code=500, times=2)
    for _ in range(2):
        with pytest.raises(TelegramServerError, match="Internal Server Error"):
            await bot.send_message(private_chat, "x")
    emulator.fail_next("sendMessage", error_code=502, raw_body="<html><h1>502 Bad Gateway</h1></html>")
    with pytest.raises(ClientDecodeError):
        await bot.send_message(private_chat, "x")
    emulator.drop_connection("sendMessage")
    with pytest.raises(TelegramNetworkError):
        await bot.send_message(private_chat, "x")
    emulator.fail_next("*", error_code=403, chat_id=555)
    await bot.send_message(private_chat, "other chats are unaffected")
    emulator.add_chat(555, "private")
    with pytest.raises(TelegramForbiddenError, match="bot was blocked by the user"):
        await bot.send_message(555, "x")
    await bot.send_message(555, "only once")
    assert [r.status for r in emulator.requests_for("sendMessage")] == [429, 500, 500, 502, 0, 200, 403, 200]


async def test_latency(bot: Bot, emulator: BotAPIEmulator) -> None:
    emulator.set_latency(0.2, "getMe")
    loop = asyncio.get_running_loop()
    started = loop.time()
    await bot.get_me()
    assert loop.time() - started >= 0.2


@pytest.mark.parametrize(
    ("chat_type", "description"),
    [
        ("private", "Forbidden: bot was blocked by the user"),
        ("group", "Forbidden: bot was kicked from the group chat"),
        ("supergroup", "Forbidden: bot was kicked from the supergroup chat"),
    ],
)
async def test_blocked_and_kicked(
    bot: Bot, emulator: BotAPIEmulator, chat_type: str, description: str
) -> None:
    chat_id = USER if chat_type == "private" else GROUP
    emulator.add_chat(chat_id, chat_type, "t")
    emulator.block_chat(chat_id) if chat_type == "private" else emulator.kick_from_chat(chat_id)
    with pytest.raises(TelegramForbiddenError) as error:
        await bot.send_message(chat_id, "x")
    assert error.value.message == description


async def test_user_writing_again_unblocks_with_my_chat_member(bot: Bot, emulator: BotAPIEmulator) -> None:
    emulator.my_chat_member(USER, old_status="member", new_status="kicked")
    with pytest.raises(TelegramForbiddenError):
        await bot.send_message(USER, "x")
    emulator.message("/start")
    kinds = [emulator.update_type(u) for u in emulator.pending_updates]
    assert kinds == ["my_chat_member", "my_chat_member", "message"]
    await bot.send_message(USER, "welcome back")


async def test_migrated_group(bot: Bot, emulator: BotAPIEmulator) -> None:
    emulator.add_chat(GROUP, "group", "Комиссия")
    emulator.migrate_chat(GROUP, -1009999)
    with pytest.raises(TelegramMigrateToChat) as error:
        await bot.send_message(GROUP, "x")
    assert error.value.migrate_to_chat_id == -1009999
    assert (
        "Original description: Bad Request: group chat was upgraded to a supergroup chat"
        in error.value.message
    )
    chat = await bot.get_chat(-1009999)
    assert (chat.type, chat.title) == ("supergroup", "Комиссия")
    await bot.send_message(-1009999, "x")


async def test_channel_needs_admin_and_resolves_username(bot: Bot, emulator: BotAPIEmulator) -> None:
    emulator.add_chat(CHANNEL, "channel", "Новости", "gov_news")
    chat = await bot.get_chat("@gov_news")
    assert (chat.id, chat.type) == (CHANNEL, "channel")
    posted = await bot.send_message("@gov_news", "post")
    assert posted.sender_chat is not None and posted.chat.id == CHANNEL
    emulator.set_member(CHANNEL, emulator.bot_id, "member")
    with pytest.raises(TelegramBadRequest, match="need administrator rights in the channel chat"):
        await bot.send_message(CHANNEL, "post")


@pytest.mark.parametrize(
    ("status", "model"),
    [
        ("creator", ChatMemberOwner),
        ("administrator", ChatMemberAdministrator),
        ("member", ChatMemberMember),
        ("left", ChatMemberLeft),
        ("kicked", ChatMemberBanned),
    ],
)
async def test_get_chat_member(bot: Bot, emulator: BotAPIEmulator, status: str, model: type) -> None:
    emulator.add_chat(GROUP, "supergroup", "g")
    emulator.set_member(GROUP, 42, status)
    member = await bot.get_chat_member(GROUP, 42)
    assert isinstance(member, model) and member.user.id == 42
    admins = await bot.get_chat_administrators(GROUP)
    assert ({m.user.id for m in admins} == {42}) is (status in ("creator", "administrator"))


async def test_commands_per_scope_and_language(bot: Bot, emulator: BotAPIEmulator) -> None:
    commands = [
        BotCommand(command="search", description="Поиск"),
        BotCommand(command="digest", description="Дайджест"),
    ]
    await bot.set_my_commands(commands)
    await bot.set_my_commands(commands[:1], scope=BotCommandScopeAllPrivateChats(), language_code="en")
    assert [c.command for c in await bot.get_my_commands()] == ["search", "digest"]
    assert [
        c.command
        for c in await bot.get_my_commands(scope=BotCommandScopeAllPrivateChats(), language_code="en")
    ] == ["search"]
    assert emulator.commands_for({"type": "all_private_chats"}, "en") == [
        {"command": "search", "description": "Поиск"}
    ]
    with pytest.raises(TelegramBadRequest, match="BOT_COMMAND_INVALID"):
        await bot.set_my_commands([BotCommand(command="Bad-Name", description="x")])
    await bot.delete_my_commands()
    assert await bot.get_my_commands() == []


async def test_wait_for_messages_times_out_with_what_was_sent(emulator: BotAPIEmulator) -> None:
    with pytest.raises(TimeoutError, match="expected 1 messages to 2000"):
        await emulator.wait_for_messages(USER, 1, timeout=0.05)


# ------------------------------------------------------------------ RecordingSession (no HTTP)


async def test_recording_session_runs_a_dispatcher_without_http() -> None:
    session = RecordingSession()
    bot = make_recording_bot(session)
    router = Router()

    @router.message(Command("start"))
    async def start(message: Message) -> None:
        await message.answer("<b>Привет</b>")
        await message.answer("<broken>")

    dispatcher = Dispatcher()
    dispatcher.include_router(router)
    update = Update.model_validate(session.emulator.message("/start"), context={"bot": bot})
    with pytest.raises(TelegramBadRequest, match="Unsupported start tag"):
        await dispatcher.feed_update(bot, update)
    [first, second] = session.calls_of(SendMessage)
    assert (first.chat_id, first.text, second.text) == (USER, "<b>Привет</b>", "<broken>")
    assert session.emulator.last_message(USER).text == "Привет"
    me = await bot.get_me()
    assert me.username == "govdigest_bot"


async def test_recording_session_registers_chats_and_raises_planned_errors() -> None:
    session = RecordingSession()
    bot = make_recording_bot(session)
    sent = await bot.send_message(-100777, "x")
    assert (sent.message_id, sent.chat.type) == (1, "supergroup")
    session.raise_next(
        TelegramForbiddenError(method=SendMessage(chat_id=1, text="x"), message="Forbidden"), SendMessage
    )
    with pytest.raises(TelegramForbiddenError):
        await bot.send_message(5, "y")
    session.emulator.fail_next("sendMessage", error_code=429, retry_after=2)
    with pytest.raises(TelegramRetryAfter):
        await bot.send_message(5, "y")
    assert (await bot.send_message(5, "z")).text == "z"
    assert len(session.calls) == 4


async def test_raw_form_params_are_recorded_decoded(
    bot: Bot, emulator: BotAPIEmulator, private_chat: int
) -> None:
    await bot.send_message(private_chat, "x", reply_markup=keyboard("a"), disable_notification=True)
    params = emulator.requests_for("sendMessage")[-1].params
    assert params["chat_id"] == private_chat and params["disable_notification"] is True
    assert params["reply_markup"] == json.loads(keyboard("a").model_dump_json(exclude_none=True))


async def test_recording_session_downloads_user_documents() -> None:
    session = RecordingSession()
    bot = make_recording_bot(session)
    update = session.emulator.document("страница".encode(), "page.txt")
    downloaded = await bot.download(update["message"]["document"]["file_id"])
    assert downloaded is not None and downloaded.read() == "страница".encode()


# ------------------------------------------------------------------ more chat and query rules


async def test_chat_lookups_and_leaving(bot: Bot, emulator: BotAPIEmulator, private_chat: int) -> None:
    with pytest.raises(TelegramBadRequest, match="chat not found"):
        await bot.get_chat("@nobody_here")
    with pytest.raises(TelegramBadRequest, match="user not found"):
        await bot.get_chat_member(private_chat, 987654)
    with pytest.raises(TelegramBadRequest, match="no administrators in the private chat"):
        await bot.get_chat_administrators(private_chat)
    emulator.add_chat(GROUP, "group", "g")
    assert await bot.leave_chat(GROUP) is True
    with pytest.raises(TelegramForbiddenError, match="bot is not a member of the group chat"):
        await bot.send_message(GROUP, "x")


async def test_callback_query_expires_after_15_seconds(
    bot: Bot, emulator: BotAPIEmulator, private_chat: int, clock: ManualClock
) -> None:
    await bot.send_message(private_chat, "pick", reply_markup=keyboard("a"))
    query = emulator.click(emulator.last_message(private_chat), "Button a")["callback_query"]
    clock.advance(16)
    with pytest.raises(TelegramBadRequest, match="query is too old"):
        await bot.answer_callback_query(query["id"])


async def test_inline_message_edit(bot: Bot, emulator: BotAPIEmulator) -> None:
    emulator.chosen_inline_result("article-1", query="комиссия", inline_message_id="AAQ-inline-1")
    assert await bot.edit_message_text("updated", inline_message_id="AAQ-inline-1") is True
    with pytest.raises(TelegramBadRequest, match="MESSAGE_ID_INVALID"):
        await bot.edit_message_text("updated", inline_message_id="unknown")


async def test_group_messages_need_admin_to_delete_others(bot: Bot, emulator: BotAPIEmulator) -> None:
    emulator.add_chat(GROUP, "supergroup", "g")
    message_id = emulator.message("spam", chat_id=GROUP, chat_type="supergroup")["message"]["message_id"]
    with pytest.raises(TelegramBadRequest, match="message can't be deleted"):
        await bot.delete_message(GROUP, message_id)
    emulator.set_member(GROUP, emulator.bot_id, "administrator")
    assert await bot.delete_message(GROUP, message_id) is True


async def test_bot_descriptions(bot: Bot) -> None:
    await bot.set_my_description("Дайджест новостей комиссий", language_code="ru")
    assert (await bot.get_my_description(language_code="ru")).description == "Дайджест новостей комиссий"
    assert (await bot.get_my_short_description()).short_description == ""
    assert (await bot.get_my_name()).name == "GovDigest"


# ------------------------------------------------------------------ what users can send


@pytest.mark.parametrize(
    ("text", "reply_to_bot", "delivered"),
    [
        ("/search комиссия", False, True),
        ("/search@govdigest_bot комиссия", False, True),
        ("/search@other_bot комиссия", False, False),
        ("комиссия", False, False),
        ("@govdigest_bot комиссия", False, True),
        ("комиссия", True, True),
    ],
)
async def test_privacy_mode_in_groups(
    bot: Bot, emulator: BotAPIEmulator, text: str, reply_to_bot: bool, delivered: bool
) -> None:
    emulator.add_chat(GROUP, "supergroup", "g")
    reply_to = await bot.send_message(GROUP, "bot says") if reply_to_bot else None
    update = emulator.message(
        text, chat_id=GROUP, chat_type="supergroup", reply_to=reply_to.message_id if reply_to else None
    )
    assert (emulator.pending_updates == [update]) is delivered
    assert (emulator.privacy_filtered == [update]) is not delivered
    emulator.set_member(GROUP, emulator.bot_id, "administrator")  # admins see everything
    emulator.message("комиссия", chat_id=GROUP, chat_type="supergroup")
    assert emulator.update_type(emulator.pending_updates[-1]) == "message"


async def test_incoming_entities_and_edits(bot: Bot, emulator: BotAPIEmulator) -> None:
    update = emulator.message("/search https://gov.ru/a #налоги @someone")
    types = [entity["type"] for entity in update["message"]["entities"]]
    assert types == ["bot_command", "url", "hashtag", "mention"]
    edited = emulator.edited_message(update, "просто текст")
    assert edited["edited_message"]["text"] == "просто текст" and "entities" not in edited["edited_message"]
    updates = await bot.get_updates()
    assert [u.edited_message.text for u in updates if u.edited_message] == ["просто текст"]


def test_users_cannot_send_more_than_4096_characters(emulator: BotAPIEmulator) -> None:
    emulator.message("я" * 4096)
    with pytest.raises(ValueError, match="Telegram clients split"):
        emulator.message("я" * 4097)


async def test_aiogram_webhook_handler_and_methods_in_the_webhook_answer(
    bot: Bot, emulator: BotAPIEmulator
) -> None:
    from aiogram.webhook.aiohttp_server import SimpleRequestHandler

    router = Router()

    @router.message(Command("start"))
    async def start(message: Message) -> SendMessage:
        return message.answer("<b>Через ответ вебхука</b>")  # executed by "Telegram" from the HTTP answer

    dispatcher = Dispatcher()
    dispatcher.include_router(router)
    app = web.Application()
    SimpleRequestHandler(dispatcher, bot, secret_token="hook_secret", handle_in_background=False).register(
        app, path="/webhook"
    )
    runner = web.AppRunner(app, shutdown_timeout=0.5)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        url = f"http://127.0.0.1:{runner.addresses[0][1]}/webhook"
        await bot.set_webhook(url, secret_token="hook_secret")
        emulator.message("/start")
        [reply] = await emulator.wait_for_messages(USER, 1)
        assert reply.text == "Через ответ вебхука" and reply.entities[0]["type"] == "bold"
        assert emulator.webhook_replies[0].status == 200
        # aiogram refuses a request without the right secret
        assert await emulator.post_update(url, emulator.delivered_updates[0], secret_token="wrong") == 401
    finally:
        await bot.delete_webhook()
        await runner.cleanup()


async def test_failures_after_the_message_went_out(
    bot: Bot, emulator: BotAPIEmulator, private_chat: int
) -> None:
    emulator.drop_connection("sendMessage", after_processing=True)
    with pytest.raises(TelegramNetworkError):
        await bot.send_message(private_chat, "delivered, but the answer was lost")
    assert [m.text for m in emulator.messages_to(private_chat)] == ["delivered, but the answer was lost"]
    emulator.set_latency(0.3, "sendMessage", after=True)
    sending = asyncio.create_task(bot.send_message(private_chat, "slow answer"))
    await emulator.wait_for_messages(private_chat, 2)
    assert not sending.done()  # Telegram has the message; the client is still waiting
    assert (await sending).text == "slow answer"


async def test_bot_cannot_write_first_to_a_user_seen_in_a_group(bot: Bot, emulator: BotAPIEmulator) -> None:
    emulator.add_chat(GROUP, "supergroup", "g")
    emulator.message("/subscribe", chat_id=GROUP, chat_type="supergroup", user_id=4242)
    with pytest.raises(TelegramForbiddenError, match="bot can't initiate conversation with a user"):
        await bot.send_message(4242, "hello")
    emulator.message("/start", user_id=4242)  # the user opens the private chat
    await bot.send_message(4242, "hello")


async def test_migration_queues_telegram_service_messages(bot: Bot, emulator: BotAPIEmulator) -> None:
    emulator.add_chat(GROUP, "group", "Комиссия")
    emulator.migrate_chat(GROUP, -1004001)
    updates = await bot.get_updates()
    moved, arrived = (u.message for u in updates)
    assert moved is not None and (moved.chat.id, moved.migrate_to_chat_id) == (GROUP, -1004001)
    assert arrived is not None and (arrived.chat.id, arrived.migrate_from_chat_id) == (-1004001, GROUP)


async def test_set_webhook_ends_a_long_poll(bot: Bot, emulator: BotAPIEmulator, receiver: Receiver) -> None:
    polling = asyncio.create_task(bot.get_updates(timeout=5))
    await emulator.wait_for_request("getUpdates")
    await bot.set_webhook(receiver.url)
    with pytest.raises(TelegramConflictError, match="terminated by setWebhook request"):
        await polling
    await bot.delete_webhook()


async def test_a_blocked_bot_cannot_edit_or_delete_either(
    bot: Bot, emulator: BotAPIEmulator, private_chat: int
) -> None:
    message = await bot.send_message(private_chat, "v1")
    emulator.block_chat(private_chat)
    with pytest.raises(TelegramForbiddenError, match="bot was blocked by the user"):
        await bot.edit_message_text("v2", chat_id=private_chat, message_id=message.message_id)
    with pytest.raises(TelegramForbiddenError, match="bot was blocked by the user"):
        await bot.delete_message(private_chat, message.message_id)


async def test_polling_helper_reports_a_bot_that_dies_at_start(emulator: BotAPIEmulator) -> None:
    broken = emulator.make_bot(token="123456:a-token-the-emulator-does-not-know-at-all")
    try:
        with pytest.raises(TelegramUnauthorizedError):
            async with emulator.polling(Dispatcher(), broken):
                pass
    finally:
        await broken.session.close()
