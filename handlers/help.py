"""/help: every command on one line, then the search syntax."""

from __future__ import annotations

from aiogram import Bot, Router
from aiogram.filters import Command
from aiogram.types import Message

from bot.commands import COMMANDS
from bot.texts import text


def render_help(locale: str, botname: str) -> str:
    lines = [text("bot.help_header", locale)]
    lines += [
        text("bot.help_line", locale, command=spec.name, description=text(spec.description_key, locale))
        for spec in COMMANDS
    ]
    return "\n".join(lines) + "\n\n" + text("bot.help_syntax", locale, botname=botname)


async def help_command(message: Message, *, bot: Bot, locale: str) -> None:
    me = await bot.me()
    await message.answer(render_help(locale, me.username or "bot"))


def create_router() -> Router:
    router = Router(name="help")
    router.message.register(help_command, Command("help"))
    return router
