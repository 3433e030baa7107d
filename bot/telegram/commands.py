"""The bot's command list, in one place: /help prints all of it (grouped by section) and set_my_commands
publishes the `menu` ones.

`description_key` names a text in bot/locales/<lang>/*.toml (plain text: Telegram shows the menu without HTML).
The settings shortcuts (/time, /tz, ...) are in /help but not in the menu, which stays short; the bot admins'
commands (ADMIN_IDS, private chats only) are shown in /help to bot admins only, and never published.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from aiogram.types import BotCommand

from bot.telegram.texts import text

Section = Literal["search", "digest", "admin"]
SECTIONS: tuple[Section, ...] = ("search", "digest", "admin")


@dataclass(frozen=True, slots=True)
class BotCommandSpec:
    name: str
    description_key: str
    private: bool = True
    groups: bool = True
    section: Section = "search"
    menu: bool = True  # published with set_my_commands
    admin: bool = False  # bot admins only

    def __post_init__(self) -> None:
        if self.admin and self.menu:
            raise ValueError(f"/{self.name}: admin commands are never published in the menu")


def _setting(name: str) -> BotCommandSpec:
    return BotCommandSpec(name, f"subscriptions.cmd_{name}", section="digest", menu=False)


def _admin(name: str, key: str) -> BotCommandSpec:
    return BotCommandSpec(name, key, groups=False, section="admin", menu=False, admin=True)


COMMANDS: list[BotCommandSpec] = [
    BotCommandSpec("start", "bot.cmd_start", groups=False),
    BotCommandSpec("help", "bot.cmd_help"),
    BotCommandSpec("search", "bot.cmd_search"),
    BotCommandSpec("latest", "bot.cmd_latest"),
    BotCommandSpec("export", "bot.cmd_export"),
    BotCommandSpec("subscribe", "subscriptions.cmd_subscribe", section="digest"),
    BotCommandSpec("subscriptions", "subscriptions.cmd_subscriptions", section="digest"),
    BotCommandSpec("unsubscribe", "subscriptions.cmd_unsubscribe", section="digest"),
    BotCommandSpec("settings", "subscriptions.cmd_settings", section="digest"),
    BotCommandSpec("digest", "subscriptions.cmd_digest", section="digest"),
    *(_setting(name) for name in ("time", "tz", "frequency", "limit", "notices", "pause", "resume")),
    _admin("stats", "subscriptions.cmd_stats"),
    _admin("broadcast", "subscriptions.cmd_broadcast"),
    _admin("sources", "sources.cmd_sources"),
    _admin("addsource", "sources.cmd_addsource"),
    _admin("removesource", "sources.cmd_removesource"),
]


def bot_commands(locale: str, *, groups: bool, specs: list[BotCommandSpec] | None = None) -> list[BotCommand]:
    """The commands for set_my_commands in one scope (private chats, or groups): the menu ones."""
    chosen = [
        spec
        for spec in (COMMANDS if specs is None else specs)
        if spec.menu and (spec.groups if groups else spec.private)
    ]
    return [BotCommand(command=spec.name, description=text(spec.description_key, locale)) for spec in chosen]


def help_commands(
    *, admin: bool, specs: list[BotCommandSpec] | None = None
) -> dict[Section, list[BotCommandSpec]]:
    """The commands /help lists, by section (admin ones only for a bot admin)."""
    listed: dict[Section, list[BotCommandSpec]] = {}
    for spec in COMMANDS if specs is None else specs:
        if admin or not spec.admin:
            listed.setdefault(spec.section, []).append(spec)
    return {section: listed[section] for section in SECTIONS if section in listed}
