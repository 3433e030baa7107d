"""The bot's command list, in one place: /help prints it and set_my_commands publishes it.

Every feature's public commands are listed here;
`description_key` names a text in bot/locales/<lang>/*.toml (plain text: Telegram shows it without HTML).
"""

from __future__ import annotations

from dataclasses import dataclass

from aiogram.types import BotCommand

from bot.texts import text


@dataclass(frozen=True, slots=True)
class BotCommandSpec:
    name: str
    description_key: str
    private: bool = True
    groups: bool = True


COMMANDS: list[BotCommandSpec] = [
    BotCommandSpec("start", "bot.cmd_start", groups=False),
    BotCommandSpec("help", "bot.cmd_help"),
    BotCommandSpec("search", "bot.cmd_search"),
    BotCommandSpec("latest", "bot.cmd_latest"),
    BotCommandSpec("export", "bot.cmd_export"),
    BotCommandSpec("subscribe", "subscriptions.cmd_subscribe"),
    BotCommandSpec("subscriptions", "subscriptions.cmd_subscriptions"),
    BotCommandSpec("unsubscribe", "subscriptions.cmd_unsubscribe"),
    BotCommandSpec("settings", "subscriptions.cmd_settings"),
    BotCommandSpec("digest", "subscriptions.cmd_digest"),
    # Admin commands (/stats, /broadcast, /sources, /addsource, /removesource) stay unlisted.
]


def bot_commands(locale: str, *, groups: bool, specs: list[BotCommandSpec] | None = None) -> list[BotCommand]:
    """The commands for set_my_commands in one scope (private chats, or groups)."""
    chosen = [
        spec for spec in (COMMANDS if specs is None else specs) if (spec.groups if groups else spec.private)
    ]
    return [BotCommand(command=spec.name, description=text(spec.description_key, locale)) for spec in chosen]
