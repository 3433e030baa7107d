"""/export <words>: the matching articles (up to 1,000) as a CSV document."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command, CommandObject
from aiogram.types import BufferedInputFile, Message

from bot.archive.export import EXPORT_LIMIT, articles_csv
from bot.archive.query import parse_query
from bot.clock import Clock
from bot.config import Settings
from bot.telegram.html_split import fit_message
from bot.telegram.html_text import clean, shorten
from bot.telegram.limits import CAPTION_LIMIT
from bot.telegram.render import QUERY_DISPLAY_CHARS, invalid_filters_note
from bot.telegram.texts import text
from storage.interfaces import ArticleStore


async def export_command(
    message: Message,
    *,
    command: CommandObject,
    archive: ArticleStore,
    settings: Settings,
    locale: str,
    clock: Clock,
) -> None:
    query_text = (command.args or "").strip()
    query = parse_query(query_text)
    if query.is_empty:
        await message.answer(text("bot.export_usage", locale))
        return
    shown = shorten(clean(query_text), QUERY_DISPLAY_CHARS)
    hits = await archive.search(query, limit=EXPORT_LIMIT, snippets=False)
    if not hits:
        await message.answer(text("bot.export_nothing", locale, query=shown))
        return
    total = await archive.count(query, cap=EXPORT_LIMIT)
    caption_key = "bot.export_truncated" if total > EXPORT_LIMIT else "bot.export_caption"
    stamp = clock().astimezone(settings.timezone).strftime("%Y%m%d-%H%M")
    document = BufferedInputFile(
        articles_csv(hits, settings.timezone), filename=f"govdigest-export-{stamp}.csv"
    )
    caption = text(caption_key, locale, count=len(hits), query=shown)
    note = invalid_filters_note(query.invalid_tokens, locale)
    if note:  # the caption limit is 1,024 characters; the note is short and the query shown is shortened
        caption = fit_message(f"{caption}\n{note}", CAPTION_LIMIT)
    await message.answer_document(document, caption=caption)


def create_router() -> Router:
    router = Router(name="export")
    router.message.register(export_command, Command("export"))
    return router
