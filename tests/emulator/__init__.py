"""A Telegram Bot API emulator for the test suite: aiohttp on 127.0.0.1 (random port), the real
/bot<token>/<method> protocol, Telegram's validation, error shapes and flood limits. Full guide: README.md here.

    emulator = BotAPIEmulator()       # DEFAULT_TOKEN (as the `settings` fixture), flood limits on
    await emulator.start()            # emulator.base_url == "http://127.0.0.1:<port>"; await emulator.stop()
                                      # start(port=N): a given port (a bot may already be trying it)
    bot = emulator.make_bot()         # aiogram Bot: real AiohttpSession + TelegramAPIServer.from_base, HTML

    async with emulator.polling(dispatcher, bot):       # start_polling for the block
        [reply] = await emulator.ask("/start")          # = message(...) + wait_for_messages(chat, +1)
        emulator.click(reply, "Button label")           # builders: message, document, callback_query,
                                                        # inline_query, chosen_inline_result, my_chat_member,
                                                        # edited_message, enqueue; post_update for webhooks

Fixtures (pytest_plugin.py): `emulator`, `bot`, `recording_session`, `recording_bot`.
Faults: fail_next(method, error_code=, description=, retry_after=, migrate_to_chat_id=, chat_id=, times=,
disconnect=, raw_body=), fail_share(method, share, error_code=502, raw_body=, seed=), drop_connection,
set_latency, block_chat, kick_from_chat, deactivate_user, migrate_chat, set_member,
set_flood_limits(FloodLimits(...) | None), clock = ManualClock().
Records: requests, sent_messages (SentMessage), documents, callback_answers, inline_answers, chat_actions,
commands, flood_events, webhook_deliveries; messages_to, last_message, get_message, requests_for,
wait_for, wait_for_messages, wait_for_request, wait_until_idle.
Dispatcher tests without HTTP: tests.emulator.recording.RecordingSession (same validation, in process).
"""

from __future__ import annotations

from tests.emulator.flood import FloodLimits, ManualClock
from tests.emulator.models import RecordedRequest, SentDocument, SentMessage
from tests.emulator.server import DEFAULT_TOKEN, BotAPIEmulator

__all__ = [
    "DEFAULT_TOKEN",
    "BotAPIEmulator",
    "FloodLimits",
    "ManualClock",
    "RecordedRequest",
    "SentDocument",
    "SentMessage",
]
