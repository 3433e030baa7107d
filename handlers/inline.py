"""Inline mode: `@bot <words>` lists up to 50 articles (title, date, snippet), more through next_offset;
choosing one posts its title, date, lead and link. An empty query lists the newest articles.

A filter the parser could not read (`с:31.02.2021`) is named on the button above the results ("⚠️ Не понял: …
— фильтр не применён"); pressing it opens the private chat with the same search, where the syntax is shown.
Answers are personal: the texts depend on the user's language, so Telegram must not serve one user's cached
answer to another.
"""

from __future__ import annotations

import html

from aiogram import Router
from aiogram.types import (
    InlineQuery,
    InlineQueryResultArticle,
    InlineQueryResultsButton,
    InputTextMessageContent,
)
from aiogram.types.inline_query_result_union import InlineQueryResultUnion

from bot.archive.models import COUNT_CAP
from bot.archive.query import parse_query
from bot.config import Settings
from bot.telegram.deep_links import search_payload
from bot.telegram.html_text import shorten
from bot.telegram.limits import INLINE_RESULTS_LIMIT
from bot.telegram.render import format_date, invalid_filters_note, render_inline_message, unmarked
from bot.telegram.texts import text
from storage.interfaces import ArticleStore

INLINE_PAGE_SIZE = INLINE_RESULTS_LIMIT
INLINE_CACHE_SECONDS = 60
INLINE_BUTTON_CHARS = 64
# The private chat opens on the greeting when the search itself does not fit a deep link.
FALLBACK_START_PARAMETER = "help"


def parse_offset(offset: str) -> int:
    """The offset we sent as next_offset; anything else (a forged or empty offset) starts at 0."""
    if offset.isascii() and offset.isdigit() and len(offset) <= 6:
        return min(int(offset), COUNT_CAP)
    return 0


def invalid_filters_button(
    query_text: str, tokens: tuple[str, ...], locale: str
) -> InlineQueryResultsButton | None:
    """The button above the results naming the filters that could not be read (None when all were read)."""
    note = invalid_filters_note(tokens, locale)
    if not note:
        return None
    return InlineQueryResultsButton(
        text=shorten(html.unescape(note), INLINE_BUTTON_CHARS),
        start_parameter=search_payload(query_text) or FALLBACK_START_PARAMETER,
    )


def _result(
    *,
    article_id: int,
    title: str,
    description: str,
    message_text: str,
) -> InlineQueryResultArticle:
    return InlineQueryResultArticle(
        id=str(article_id),
        title=title,
        description=description,
        input_message_content=InputTextMessageContent(message_text=message_text, parse_mode="HTML"),
    )


async def inline_search(
    inline_query: InlineQuery, *, archive: ArticleStore, settings: Settings, locale: str
) -> None:
    offset = parse_offset(inline_query.offset)
    query = parse_query(inline_query.query)
    tz = settings.timezone
    results: list[InlineQueryResultUnion] = []
    if query.is_empty:
        for article in await archive.latest(limit=INLINE_PAGE_SIZE, offset=offset):
            results.append(
                _result(
                    article_id=article.id,
                    title=shorten(article.title.strip(), 120) or text("bot.untitled", locale),
                    description=f"{format_date(article.published_at, tz)} · {shorten(article.lead, 200)}",
                    message_text=render_inline_message(
                        title=article.title,
                        published_at=article.published_at,
                        lead=article.lead,
                        url=article.url,
                        article_id=article.id,
                        tz=tz,
                        locale=locale,
                    ),
                )
            )
    else:
        for hit in await archive.search(query, limit=INLINE_PAGE_SIZE, offset=offset):
            results.append(
                _result(
                    article_id=hit.article_id,
                    title=shorten(hit.title.strip(), 120) or text("bot.untitled", locale),
                    description=f"{format_date(hit.published_at, tz)} · "
                    f"{shorten(unmarked(hit.snippet), 200)}",
                    message_text=render_inline_message(
                        title=hit.title,
                        published_at=hit.published_at,
                        lead=hit.lead,
                        url=hit.url,
                        article_id=hit.article_id,
                        tz=tz,
                        locale=locale,
                    ),
                )
            )
    has_more = len(results) == INLINE_PAGE_SIZE and offset + INLINE_PAGE_SIZE < COUNT_CAP
    await inline_query.answer(
        results,
        cache_time=INLINE_CACHE_SECONDS,
        is_personal=True,
        next_offset=str(offset + INLINE_PAGE_SIZE) if has_more else "",
        button=invalid_filters_button(inline_query.query, query.invalid_tokens, locale)
        if offset == 0
        else None,
    )


def create_router() -> Router:
    router = Router(name="inline")
    router.inline_query.register(inline_search)
    return router
