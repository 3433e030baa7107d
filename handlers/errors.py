"""The last resort: an unexpected error is logged with the update id, and the user gets a short apology
(never a traceback). The bot goes on with the next update.

Telegram failing to take a request (a 5xx, a network error) is not a bug of ours: it gets one line, no
traceback, and none at all when the session's retry already logged giving up on it (bot.telegram). Neither is
the database being away for a moment (StorageUnavailable): the storage logs each outage once."""

from __future__ import annotations

import logging

from aiogram import Bot, Router
from aiogram.exceptions import TelegramAPIError, TelegramBadRequest, TelegramNetworkError
from aiogram.types import ErrorEvent, User

from bot.telegram.retries import answer_not_taken, retries_exhausted
from bot.telegram.texts import locale_of, text
from storage.errors import StorageUnavailable

log = logging.getLogger(__name__)


def _user_of(event: ErrorEvent) -> User | None:
    update = event.update
    for item in (update.message, update.callback_query, update.inline_query, update.edited_message):
        if item is not None and item.from_user is not None:
            return item.from_user
    return None


def _log_failure(update_id: int, error: Exception) -> None:
    if isinstance(error, StorageUnavailable):
        # The database is away for a moment: the storage logs the outage once, not once per update.
        log.debug("update %d: the database is unavailable", update_id)
    elif retries_exhausted(error):
        # ServerErrorRetryMiddleware already wrote the one line about it.
        log.debug("update %d: ended by a request Telegram did not take (logged above)", update_id)
    elif answer_not_taken(error) or isinstance(error, TelegramNetworkError):
        # Telegram's side or the network: the traceback would only show our handler's await.
        detail = " ".join(str(getattr(error, "message", "") or error).split())[:200]
        log.warning(
            "update %d: Telegram did not take a request: %s: %s", update_id, type(error).__name__, detail
        )
    else:
        log.error("update %d failed: %s: %s", update_id, type(error).__name__, error, exc_info=error)


async def on_error(event: ErrorEvent, bot: Bot) -> bool:
    update = event.update
    _log_failure(update.update_id, event.exception)
    user = _user_of(event)
    apology = text("common.error", locale_of(user.language_code if user else None))
    query = update.callback_query
    chat_id = update.message.chat.id if update.message else None
    if query is not None and query.message is not None:
        chat_id = query.message.chat.id
    try:
        if query is not None:
            try:
                await query.answer(apology, show_alert=True)
                return True
            except TelegramBadRequest:  # already answered by the handler before it failed: say it in the chat
                pass
        if chat_id is not None:
            await bot.send_message(chat_id, apology)
    except TelegramAPIError as error:  # the chat may be gone or the query too old: nothing more to do
        log.warning("update %d: could not apologise: %s", update.update_id, error)
    return True


def create_router() -> Router:
    router = Router(name="errors")
    router.errors.register(on_error)
    return router
