"""/latest [N]: the newest articles (default 5), with a "Подробнее" button each."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command, CommandObject
from aiogram.types import Message

from bot.config import Settings
from bot.telegram.html_split import split_text
from bot.telegram.render import more_keyboard, render_latest
from bot.telegram.texts import text
from storage.interfaces import ArticleStore

DEFAULT_LATEST = 5
MAX_LATEST = 20


def parse_count(args: str | None) -> int | None:
    """N from "/latest N": default when absent, None when it is not a number from 1 to MAX_LATEST."""
    value = (args or "").strip()
    if not value:
        return DEFAULT_LATEST
    if not value.isascii() or not value.isdigit() or len(value) > 3:
        return None
    number = int(value)
    return number if 1 <= number <= MAX_LATEST else None


async def latest_command(
    message: Message, *, command: CommandObject, archive: ArticleStore, settings: Settings, locale: str
) -> None:
    count = parse_count(command.args)
    if count is None:
        await message.answer(text("bot.latest_usage", locale, max=MAX_LATEST))
        return
    articles = await archive.latest(limit=count)
    if not articles:
        await message.answer(text("bot.latest_empty", locale))
        return
    parts = split_text(render_latest(articles, settings.timezone, locale))
    keyboard = more_keyboard([article.id for article in articles], locale)
    for index, part in enumerate(parts):
        last = index == len(parts) - 1
        await message.answer(part, reply_markup=keyboard if last else None)


def create_router() -> Router:
    router = Router(name="latest")
    router.message.register(latest_command, Command("latest"))
    return router
