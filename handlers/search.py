"""/search, the page buttons, "Подробнее", and plain text in a private chat as a search."""

from __future__ import annotations

import logging

from aiogram import F, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command, CommandObject, CommandStart
from aiogram.types import CallbackQuery, InaccessibleMessage, Message

from bot.archive.models import COUNT_CAP
from bot.archive.query import parse_query
from bot.archive.spelling import suggest_query
from bot.config import Settings
from bot.telegram.callbacks import ArticleMore, SearchPage

# Re-exported (handlers/start.py takes it from here).
from bot.telegram.deep_links import SEARCH_PAYLOAD_PREFIX, search_words_from_payload
from bot.telegram.render import (
    SEARCH_PAGE_SIZE,
    SearchPageView,
    article_messages,
    invalid_filters_note,
    render_search_page,
    with_suggestion,
)
from bot.telegram.search_state import SearchKeys
from bot.telegram.texts import text
from storage.interfaces import ArticleStore

log = logging.getLogger(__name__)


async def search_page(
    query_text: str,
    *,
    page: int,
    archive: ArticleStore,
    search_keys: SearchKeys,
    settings: Settings,
    locale: str,
) -> SearchPageView:
    """Page `page` of the results for `query_text`, rendered (the query kept under a short key)."""
    # Callback data can be forged: a page past the counted results would only make the archive rank more.
    page = min(max(page, 0), COUNT_CAP // SEARCH_PAGE_SIZE)
    query = parse_query(query_text)
    key = await search_keys.put(query_text)
    total = await archive.count(query)
    hits = await archive.search(query, limit=SEARCH_PAGE_SIZE, offset=page * SEARCH_PAGE_SIZE)
    if not hits and page > 0:  # the archive changed under a page button: show the last page there is
        page = max(0, (min(total, COUNT_CAP) - 1) // SEARCH_PAGE_SIZE)
        hits = await archive.search(query, limit=SEARCH_PAGE_SIZE, offset=page * SEARCH_PAGE_SIZE)
    view = render_search_page(
        hits,
        query_text=query_text,
        total=min(total, COUNT_CAP),
        more_than=total > COUNT_CAP,
        page=page,
        key=key,
        tz=settings.timezone,
        locale=locale,
        invalid_tokens=query.invalid_tokens,
    )
    if total == 0:  # only then: "did you mean", a query one typo away that finds something
        suggestion = await suggest_query(archive, query_text)
        if suggestion is not None:
            view = with_suggestion(view, suggestion, key=await search_keys.put(suggestion), locale=locale)
    return view


async def answer_search(
    message: Message,
    query_text: str,
    *,
    archive: ArticleStore,
    search_keys: SearchKeys,
    settings: Settings,
    locale: str,
) -> None:
    """Reply with the first page of results, or with usage when there is nothing to search for (naming any
    filter that could not be read: `с:31.02.2021` alone is not a search)."""
    query_text = query_text.strip()
    query = parse_query(query_text)
    if query.is_empty:
        note = invalid_filters_note(query.invalid_tokens, locale, hint=True)
        usage = text("bot.search_usage", locale)
        await message.answer(f"{note}\n\n{usage}" if note else usage)
        return
    view = await search_page(
        query_text, page=0, archive=archive, search_keys=search_keys, settings=settings, locale=locale
    )
    await message.answer(view.text, reply_markup=view.keyboard)


async def search_message(
    message: Message,
    *,
    archive: ArticleStore,
    search_keys: SearchKeys,
    settings: Settings,
    locale: str,
    command: CommandObject | None = None,
) -> None:
    """/search <words>, the deep link /start search_<words>, or (no command) the message text itself."""
    if command is None:
        query_text = message.text or ""
    elif command.command == "start":
        query_text = search_words_from_payload(command.args or "")
    else:
        query_text = command.args or ""
    await answer_search(
        message, query_text, archive=archive, search_keys=search_keys, settings=settings, locale=locale
    )


async def page_button(
    callback: CallbackQuery,
    *,
    callback_data: SearchPage,
    archive: ArticleStore,
    search_keys: SearchKeys,
    settings: Settings,
    locale: str,
) -> None:
    query_text = await search_keys.get(callback_data.key)
    if query_text is None or callback.message is None or isinstance(callback.message, InaccessibleMessage):
        await callback.answer(text("bot.search_expired", locale), show_alert=True)
        return
    view = await search_page(
        query_text,
        page=callback_data.page,
        archive=archive,
        search_keys=search_keys,
        settings=settings,
        locale=locale,
    )
    try:
        await callback.message.edit_text(view.text, reply_markup=view.keyboard)
    except TelegramBadRequest as error:
        # Pressing the same page twice quickly: nothing to change, nothing wrong.
        if "message is not modified" not in error.message:
            raise
    await callback.answer()


async def more_button(
    callback: CallbackQuery,
    *,
    callback_data: ArticleMore,
    archive: ArticleStore,
    settings: Settings,
    locale: str,
) -> None:
    article = await archive.get(callback_data.article_id)
    if article is None:
        await callback.answer(text("bot.article_not_found", locale), show_alert=True)
        return
    await callback.answer()
    if callback.message is None:
        return
    chat_id = callback.message.chat.id
    assert callback.bot is not None
    for part in article_messages(article, settings.timezone, locale):
        await callback.bot.send_message(chat_id, part)


async def unknown_command(message: Message, *, locale: str) -> None:
    await message.answer(text("bot.unknown_command", locale))


async def outdated_button(callback: CallbackQuery, *, locale: str) -> None:
    """A button no router took (an old layout, or forged data): answer it, or the client keeps spinning."""
    await callback.answer(text("bot.button_outdated", locale))


def create_router() -> Router:
    router = Router(name="search")
    router.message.register(search_message, Command("search"))
    # The deep link `/start search_<words>`: handlers.start declines these payloads, so they arrive here.
    router.message.register(
        search_message, CommandStart(deep_link=True, magic=F.args.startswith(SEARCH_PAYLOAD_PREFIX))
    )
    router.callback_query.register(page_button, SearchPage.filter())
    router.callback_query.register(more_button, ArticleMore.filter())
    return router


def create_fallback_router() -> Router:
    """Private chats only: an unknown /command gets a hint, any other text is a search; in any chat a
    button no other router took is answered. Goes after every router with commands or buttons."""
    router = Router(name="private-fallback")
    router.message.filter(F.chat.type == "private")
    router.message.register(unknown_command, F.text.startswith("/"))
    router.message.register(search_message, F.text)
    router.callback_query.register(outdated_button)
    return router
