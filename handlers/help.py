"""/help: every command on one line, grouped (search; subscription and settings; the bot admins' commands for
a bot admin in a private chat only), then notes on groups and the search syntax. The list is bot/telegram/commands.py."""

from __future__ import annotations

from aiogram import Bot, Router
from aiogram.filters import Command
from aiogram.types import Message

from bot.archive.classify import TOPIC_LABELS_EN, TOPIC_LABELS_RU, TOPICS
from bot.config import Settings
from bot.digest.on_demand import GROUP_DIGEST_COOLDOWN_SECONDS
from bot.telegram.commands import help_commands
from bot.telegram.filters import is_bot_admin
from bot.telegram.texts import text


def topic_names(locale: str) -> str:
    """The topics as `тема:` takes them: a label of one word as it is, else the topic's key."""
    labels = TOPIC_LABELS_EN if locale == "en" else TOPIC_LABELS_RU
    return ", ".join(
        label if label and " " not in label else topic
        for topic in TOPICS
        for label in (labels.get(topic, ""),)
    )


def render_help(locale: str, botname: str, *, admin: bool = False) -> str:
    blocks = []
    for section, specs in help_commands(admin=admin).items():
        lines = [text(f"bot.help_section.{section}", locale)]
        lines += [
            text("bot.help_line", locale, command=spec.name, description=text(spec.description_key, locale))
            for spec in specs
        ]
        blocks.append("\n".join(lines))
    blocks.append(text("bot.help_groups", locale, period=GROUP_DIGEST_COOLDOWN_SECONDS // 60))
    blocks.append(text("bot.help_syntax", locale, botname=botname, topics=topic_names(locale)))
    return "\n\n".join(blocks)


async def help_command(message: Message, *, bot: Bot, settings: Settings, locale: str) -> None:
    me = await bot.me()
    admin = is_bot_admin(message, settings.admin_ids)
    await message.answer(render_help(locale, me.username or "bot", admin=admin))


def create_router() -> Router:
    router = Router(name="help")
    router.message.register(help_command, Command("help"))
    return router
