"""Inline mode: `@bot <words>` lists up to 50 articles (title, date, snippet), more through next_offset;
choosing one posts its title, date, lead and link. An empty query lists the newest articles."""

from __future__ import annotations

from aiogram import Router
from aiogram.types import InlineQuery, InlineQueryResultArticle, InputTextMessageContent
from aiogram.types.inline_query_result_union import InlineQueryResultUnion

from bot.config import Settings
from bot.limits import INLINE_RESULTS_LIMIT
from bot.query import parse_query
from bot.render import format_date, render_inline_message, shorten, unmarked
from bot.texts import text
from storage.articles import COUNT_CAP, ArticleRepository

INLINE_PAGE_SIZE = INLINE_RESULTS_LIMIT
INLINE_CACHE_SECONDS = 60


def parse_offset(offset: str) -> int:
    """The offset we sent as next_offset; anything else (a forged or empty offset) starts at 0."""
    if offset.isascii() and offset.isdigit() and len(offset) <= 6:
        return min(int(offset), COUNT_CAP)
    return 0


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
    inline_query: InlineQuery, *, archive: ArticleRepository, settings: Settings, locale: str
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
        is_personal=False,
        next_offset=str(offset + INLINE_PAGE_SIZE) if has_more else "",
    )


def create_router() -> Router:
    router = Router(name="inline")
    router.inline_query.register(inline_search)
    return router
