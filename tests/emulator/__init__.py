"""A Telegram Bot API emulator for the test suite (aiohttp on 127.0.0.1, random port).

Start / connect::

    emulator = BotAPIEmulator()     # token DEFAULT_TOKEN (as in tests/conftest.py), flood limits on
    await emulator.start()          # .base_url == "http://127.0.0.1:<port>"; await emulator.stop()
    bot = emulator.make_bot()       # aiogram Bot: real AiohttpSession, TelegramAPIServer.from_base, HTML

Fixtures (tests/emulator/pytest_plugin.py): `emulator` (started, flood limits on), `bot` (Bot against it),
`recording_session` + `recording_bot` (no HTTP: tests/emulator/recording.py).

Methods served at /bot<token>/<method> (case-insensitive, form/multipart/JSON/query): getMe, getUpdates (long
polling, offset confirms, allowed_updates remembered, 409 for a second poller or while a webhook is set),
setWebhook/deleteWebhook/getWebhookInfo (a set webhook gets pending updates POSTed to it), sendMessage,
sendDocument (multipart), sendChatAction, editMessageText/Caption/ReplyMarkup, deleteMessage,
answerCallbackQuery, answerInlineQuery, set/get/deleteMyCommands (per scope + language_code),
set/getMyDescription/ShortDescription/Name, getChat (id or @username), getChatMember, getChatAdministrators,
getChatMemberCount, leaveChat, getFile (+ /file/bot<token>/<path>). Anything else: 404 "Not Found"; another
token: 401 "Unauthorized".

Validation like Telegram: empty text, > 4096 UTF-16 units after HTML parsing ("message is too long"), HTML
subset with tdlib's error texts ("can't parse entities: Unsupported start tag ..."), a bare "&" rejected
(strict_ampersand), caption > 1024, callback_data > 64 bytes (BUTTON_DATA_INVALID), > 50 inline results
(RESULTS_TOO_MUCH), duplicate result ids (RESULT_ID_DUPLICATE), "message is not modified", "message to edit
not
found", "chat not found", editMessageText without reply_markup drops the keyboard, answering a query twice.

State and faults: add_chat(id, type, title, username), add_user, set_member(chat_id, user_id, status),
block_chat / unblock_chat / kick_from_chat / deactivate_user (403s), migrate_chat(old, new) (400 +
migrate_to_chat_id), fail_next(method, error_code=..., description=, retry_after=, migrate_to_chat_id=,
chat_id=,
times=, disconnect=, raw_body=), drop_connection(method), set_latency(seconds, method),
set_flood_limits(FloodLimits
(...) | None). Flood limits: 30 msg/s overall, private chats 1/s with bursts of 5, groups/channels 20/min;
only
sending methods count; every 429 is in `flood_events`.

Updates (each returns the update dict and queues it): message(text, chat_id=, user_id=2000,
chat_type="private",
...), document(data, file_name, ...), callback_query(data, message=SentMessage), click(message, "Button
label"),
inline_query(query, user_id=, offset=), chosen_inline_result(result_id, ...), my_chat_member(chat_id,
old_status=, new_status=), enqueue(raw_update); post_update(url=None, update=None, secret_token=None) ->
status.

Records: requests (RecordedRequest: method, decoded params, files, time, status, response), sent_messages
(SentMessage: chat_id, message_id, text, entities, html, source, parse_mode, reply_markup, buttons, document,
edits, deleted), documents, callback_answers, inline_answers, chat_actions, commands / commands_for(scope,
language_code), flood_events, webhook_deliveries. Helpers: messages_to(chat_id), last_message(chat_id),
requests_for(method), await wait_for(predicate, timeout), await wait_for_messages(chat_id, n, timeout),
await wait_for_request(method, n, timeout) -- all woken by events, no sleep loops.
"""

from __future__ import annotations

from tests.emulator.flood import FloodLimits
from tests.emulator.models import RecordedRequest, SentDocument, SentMessage
from tests.emulator.server import DEFAULT_TOKEN, BotAPIEmulator

__all__ = ["DEFAULT_TOKEN", "BotAPIEmulator", "FloodLimits", "RecordedRequest", "SentDocument", "SentMessage"]
