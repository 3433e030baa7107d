"""Wiring: the Bot and the Dispatcher with its dependencies and routers, built in one place (the process state
handlers share is created here and injected, never a module global). Running it is bot/runner.py.

Contract for other features:
- ROUTER_FACTORIES: routers in order. Insert routers with commands BEFORE
  `handlers.search.create_fallback_router` (private-chat plain text is a search there; an unknown
  /command gets a hint).
- build_dependencies(settings, storage): the Dispatcher keyword arguments handlers receive by name.
- Every handler may take `locale` (the sender's, set once by bot.telegram.updates.UpdateMiddleware); a handler
  managing a chat takes `managing`, flagged MANAGES_CHAT on a router with bot.chats.managed_middleware installed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from aiogram import Bot, Dispatcher, Router
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.types import (
    BotCommandScopeAllGroupChats,
    BotCommandScopeAllPrivateChats,
)

from bot.chats.admins import ChatAdminCache
from bot.config import Settings
from bot.digest.on_demand import COOLDOWN_KEY, GROUP_DIGEST_COOLDOWN_SECONDS, ChatCooldown, PagesInFlight
from bot.telegram.commands import bot_commands
from bot.telegram.search_state import SearchKeys
from bot.telegram.session import install_session_middlewares
from bot.telegram.throttle import FloodThrottle, ThrottleMiddleware
from bot.telegram.updates import HandlerTraceMiddleware, InFlight, UpdateMiddleware
from handlers import (
    admin,
    digest,
    errors,
    export,
    help,
    inline,
    latest,
    membership,
    search,
    settings,
    sources,
    start,
    subscribe,
)
from storage import Storage

log = logging.getLogger(__name__)
update_log = logging.getLogger("govdigest.updates")


ROUTER_FACTORIES: list[Callable[[], Router]] = [
    # membership first: its /start only reactivates an inactive chat, then lets the update go on.
    membership.create_router,
    # subscribe before start: it takes the `/start subscribe` deep link.
    subscribe.create_router,
    settings.create_router,
    digest.create_router,
    admin.create_router,
    sources.create_router,
    start.create_router,
    help.create_router,
    search.create_router,
    latest.create_router,
    export.create_router,
    inline.create_router,
    # Every feature router goes above: the fallback takes private plain text, unknown commands, stray buttons.
    search.create_fallback_router,
    errors.create_router,
]


# --- dispatcher middlewares ----------------------------------------------------------------------------


# --- construction --------------------------------------------------------------------------------------


def build_dependencies(settings: Settings, storage: Storage) -> dict[str, object]:
    """The Dispatcher keyword arguments (handlers take them by parameter name)."""
    return {
        "settings": settings,
        "store": storage,
        "clock": storage.clock,
        "archive": storage.articles,
        "search_keys": SearchKeys(storage.search_keys, storage.clock),
        "chats": storage.chats,
        "subscriptions": storage.subscriptions,
        "outbox": storage.outbox,
        "sources": storage.sources,
        # Process state the handlers share, one of each per Dispatcher.
        "chat_admins": ChatAdminCache(),
        # Kept in the database when several instances share it (storage.shared_limits), else in memory.
        COOLDOWN_KEY: ChatCooldown(
            GROUP_DIGEST_COOLDOWN_SECONDS, shared=storage.shared_limits, now=storage.clock
        ),
        "pages_in_flight": PagesInFlight(),
    }


def build_dispatcher(
    settings: Settings,
    storage: Storage,
    *,
    throttle: FloodThrottle | None = None,
    inline_throttle: FloodThrottle | None = None,
    throttling: bool = True,
    **extra: Any,
) -> Dispatcher:
    """A Dispatcher with every router of ROUTER_FACTORIES, the dependencies (overridable through `extra`),
    per-user throttling (unless `throttling=False`) and the per-update log line."""
    dependencies = build_dependencies(settings, storage)
    dependencies.update(extra)
    in_flight = InFlight()
    dependencies["in_flight"] = in_flight
    dispatcher = Dispatcher()
    dispatcher.workflow_data.update(dependencies)
    dispatcher.update.outer_middleware(UpdateMiddleware(in_flight))
    trace = HandlerTraceMiddleware()
    for name, observer in dispatcher.observers.items():
        if name not in {"update", "error"}:
            observer.middleware(trace)
    if throttling:
        # Several instances on one database: the buckets live there (storage.shared_limits), else in memory.
        shared, now = storage.shared_limits, storage.clock
        commands = ThrottleMiddleware(throttle or FloodThrottle(), shared=shared, now=now)
        dispatcher.message.outer_middleware(commands)
        dispatcher.callback_query.outer_middleware(commands)
        # Inline queries come per keystroke: a bucket of their own, larger.
        dispatcher.inline_query.outer_middleware(
            ThrottleMiddleware(
                inline_throttle or FloodThrottle(burst=20, rate_per_second=3.0),
                shared=shared,
                now=now,
                scope="inline",
            )
        )
    for factory in ROUTER_FACTORIES:
        dispatcher.include_router(factory())
    return dispatcher


def create_bot(settings: Settings, *, pacing: bool = True) -> Bot:
    """A Bot against TELEGRAM_API_URL, HTML by default, with 429 retry (and pacing unless `pacing=False`)."""
    session = AiohttpSession(api=TelegramAPIServer.from_base(settings.telegram_api_url))
    bot = Bot(
        token=settings.require_token(),
        session=session,
        default=DefaultBotProperties(parse_mode=ParseMode.HTML, link_preview_is_disabled=True),
    )
    install_session_middlewares(bot, messages_per_second=settings.messages_per_second if pacing else None)
    return bot


async def set_commands(bot: Bot) -> None:
    """Publish the command list: Russian by default, English for users with language_code "en"."""
    for language in (None, "en"):
        locale = language or "ru"
        for scope, groups in (
            (BotCommandScopeAllPrivateChats(), False),
            (BotCommandScopeAllGroupChats(), True),
        ):
            await bot.set_my_commands(
                bot_commands(locale, groups=groups), scope=scope, language_code=language
            )


# --- heartbeat (read by `govdigest health`) ------------------------------------------------------------


# --- waiting for Telegram at start ----------------------------------------------------------------------


# --- running -------------------------------------------------------------------------------------------
