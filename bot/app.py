"""Wiring: the Bot, the Dispatcher with its dependencies and routers, and `run()` (polling or webhook).

Contract for other features:
- ROUTER_FACTORIES: routers in order. Insert routers with commands BEFORE
  `handlers.search.create_fallback_router` (private-chat plain text is a search there; an unknown
  /command gets a hint).
- BACKGROUND_SERVICES: `async def service(bot, storage, settings, stop) -> None`; run() starts each as a task and
  sets `stop` on shutdown (a service must return promptly then). They start before Telegram has answered and
  keep running while run() waits for it (`wait_for_telegram`): a service must not assume Telegram is reachable.
- build_dependencies(settings, storage): the Dispatcher keyword arguments handlers receive by name.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import secrets
import signal
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from aiogram import BaseMiddleware, Bot, Dispatcher, Router
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.dispatcher.event.bases import UNHANDLED
from aiogram.dispatcher.event.handler import HandlerObject
from aiogram.enums import ParseMode
from aiogram.exceptions import (
    AiogramError,
    ClientDecodeError,
    TelegramAPIError,
    TelegramRetryAfter,
    TelegramUnauthorizedError,
)
from aiogram.types import (
    BotCommandScopeAllGroupChats,
    BotCommandScopeAllPrivateChats,
    Chat,
    TelegramObject,
    Update,
    User,
)
from aiogram.webhook.aiohttp_server import SimpleRequestHandler, setup_application
from aiohttp import web

from bot.chats.admins import ChatAdminCache
from bot.clock import Clock, system_clock
from bot.config import Settings
from bot.digest.delivery import digest_service
from bot.digest.on_demand import COOLDOWN_KEY, GROUP_DIGEST_COOLDOWN_SECONDS, ChatCooldown, PagesInFlight
from bot.sources.poller import polling_service
from bot.telegram.commands import bot_commands
from bot.telegram.search_state import QueryStore
from bot.telegram.session import install_session_middlewares, install_token_redaction
from bot.telegram.texts import locale_of
from bot.telegram.throttle import FloodThrottle, ThrottleMiddleware
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
from storage import Storage, open_storage

log = logging.getLogger(__name__)
update_log = logging.getLogger("govdigest.updates")

Service = Callable[[Bot, Storage, Settings, asyncio.Event], Coroutine[Any, Any, None]]

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

BACKGROUND_SERVICES: list[Service] = [digest_service, polling_service]

HEARTBEAT_INTERVAL_SECONDS = 30.0
DRAIN_TIMEOUT_SECONDS = 20.0
SERVICE_STOP_TIMEOUT_SECONDS = 15.0
WEBHOOK_DEFAULT_PATH = "/webhook"
# run()'s answer to a token Telegram refuses (401): the CLI's exit code for a configuration error.
EXIT_TOKEN_REJECTED = 2


# --- dispatcher middlewares ----------------------------------------------------------------------------


@dataclass(slots=True)
class UpdateTrace:
    """Filled in while an update travels through the routers; read by the per-update log line."""

    handler: str = "-"


class InFlight:
    """Counts updates being handled, so shutdown can wait for them."""

    def __init__(self) -> None:
        self.count = 0
        self._idle = asyncio.Event()
        self._idle.set()

    def enter(self) -> None:
        self.count += 1
        self._idle.clear()

    def leave(self) -> None:
        self.count -= 1
        if self.count <= 0:
            self.count = 0
            self._idle.set()

    async def wait_idle(self, seconds: float) -> bool:
        try:
            async with asyncio.timeout(seconds):
                await self._idle.wait()
        except TimeoutError:
            return False
        return True


class UpdateMiddleware(BaseMiddleware):
    """Outer middleware on updates: sets `locale`, tracks updates in flight, and logs one line per update
    (update type, chat id, handler, latency)."""

    def __init__(self, in_flight: InFlight) -> None:
        self.in_flight = in_flight

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        assert isinstance(event, Update)
        user: User | None = data.get("event_from_user")
        chat: Chat | None = data.get("event_chat")
        data["locale"] = locale_of(user.language_code if user else None)
        trace = data["update_trace"] = UpdateTrace()
        started = time.perf_counter()
        outcome = "error"
        self.in_flight.enter()
        try:
            result = await handler(event, data)
            outcome = "unhandled" if result is UNHANDLED else "ok"
            return result
        finally:
            self.in_flight.leave()
            update_log.info(
                "update %d %s chat=%s handler=%s %.1f ms %s",
                event.update_id,
                event.event_type,
                chat.id if chat else "-",
                trace.handler,
                (time.perf_counter() - started) * 1000,
                outcome,
            )


class HandlerTraceMiddleware(BaseMiddleware):
    """Inner middleware on every event type: records which handler took the update."""

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        trace: UpdateTrace | None = data.get("update_trace")
        found: HandlerObject | None = data.get("handler")
        if trace is not None and found is not None:
            callback = found.callback
            trace.handler = f"{getattr(callback, '__module__', '?')}.{getattr(callback, '__qualname__', '?')}"
        return await handler(event, data)


# --- construction --------------------------------------------------------------------------------------


def build_dependencies(settings: Settings, storage: Storage) -> dict[str, object]:
    """The Dispatcher keyword arguments (handlers take them by parameter name)."""
    return {
        "settings": settings,
        "store": storage,
        "clock": storage.clock,
        "archive": storage.articles,
        "search_keys": QueryStore(),
        "chats": storage.chats,
        "subscriptions": storage.subscriptions,
        "outbox": storage.outbox,
        "sources": storage.sources,
        # Process state the handlers share, one of each per Dispatcher.
        "chat_admins": ChatAdminCache(),
        COOLDOWN_KEY: ChatCooldown(GROUP_DIGEST_COOLDOWN_SECONDS),
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
        commands = ThrottleMiddleware(throttle or FloodThrottle())
        dispatcher.message.outer_middleware(commands)
        dispatcher.callback_query.outer_middleware(commands)
        # Inline queries come per keystroke: a bucket of their own, larger.
        dispatcher.inline_query.outer_middleware(
            ThrottleMiddleware(inline_throttle or FloodThrottle(burst=20, rate_per_second=3.0))
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


def heartbeat_path(settings: Settings) -> Path | None:
    """`<database>.heartbeat` next to the database file; None for an in-memory database."""
    path = settings.database_path
    if isinstance(path, str):
        return None
    return path.with_name(path.name + ".heartbeat")


def write_heartbeat(path: Path) -> None:
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(f"{time.time():.0f}\n", encoding="ascii")
    os.replace(temporary, path)


def heartbeat_age(path: Path) -> float | None:
    """Seconds since the running bot last wrote its heartbeat; None when there is none."""
    try:
        written = float(path.read_text(encoding="ascii").strip())
    except (OSError, ValueError):
        return None
    return max(0.0, time.time() - written)


async def heartbeat_service(bot: Bot, storage: Storage, settings: Settings, stop: asyncio.Event) -> None:
    path = heartbeat_path(settings)
    if path is None:
        return
    try:
        while not stop.is_set():
            try:
                await storage.ping()
                write_heartbeat(path)
            except Exception:
                log.exception("heartbeat failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), HEARTBEAT_INTERVAL_SECONDS)
    finally:
        with contextlib.suppress(OSError):
            path.unlink()


# --- waiting for Telegram at start ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StartupBackoff:
    """How run() retries getMe while Telegram cannot be reached: `first` seconds, doubling up to `maximum`, each
    delay scaled by a random factor within 1 ± `jitter` (and still at most `maximum`); one attempt gives up
    after `attempt_timeout` seconds (a network that drops packets would otherwise hold it for a minute)."""

    first: float = 1.0
    maximum: float = 60.0
    jitter: float = 0.1
    attempt_timeout: float = 10.0

    def delays(self) -> Iterator[float]:
        delay = self.first
        while True:
            yield min(delay * random.uniform(1.0 - self.jitter, 1.0 + self.jitter), self.maximum)
            delay = min(delay * 2.0, self.maximum)


DEFAULT_STARTUP_BACKOFF = StartupBackoff()


async def wait_for_telegram(
    bot: Bot,
    stop: asyncio.Event,
    settings: Settings,
    backoff: StartupBackoff = DEFAULT_STARTUP_BACKOFF,
) -> User | None:
    """getMe until Telegram answers: the bot's user (cached by aiogram, so polling does not ask again), or None
    when `stop` is set first (a signal: return at once, mid-request or mid-wait).

    Every failure but 401 is retried after `backoff`'s delays: network errors, timeouts, 5xx, a long 429,
    answers that are not the Bot API's (a proxy's error page, a 404 of a wrong URL). The first failure logs one
    WARNING naming TELEGRAM_API_URL and the reason, the next ones DEBUG lines only. A token Telegram refuses
    (TelegramUnauthorizedError) is raised at once."""
    delays = backoff.delays()
    failures = 0
    started = time.monotonic()
    while not stop.is_set():
        try:
            me = await _get_me_unless_stopped(bot, stop, backoff.attempt_timeout)
        except TelegramUnauthorizedError:
            raise
        except (AiogramError, TimeoutError) as error:
            failures += 1
            delay = next(delays)
            if isinstance(error, TelegramRetryAfter):  # a 429 longer than the session middleware waits
                delay = max(delay, float(error.retry_after))
            reason = _failure_reason(error, backoff.attempt_timeout)
            if failures == 1:
                log.warning(
                    "cannot reach Telegram at TELEGRAM_API_URL=%s: %s; retrying with backoff (at most %.0f s "
                    "apart) while the other services run",
                    settings.telegram_api_url,
                    reason,
                    backoff.maximum,
                )
            else:
                log.debug(
                    "getMe failed again (attempt %d): %s; next attempt in %.1f s", failures, reason, delay
                )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
            continue
        if me is None:
            break
        if failures:
            log.info(
                "connected as @%s (Telegram was unreachable for %.0f s, %d failed attempts)",
                me.username,
                time.monotonic() - started,
                failures,
            )
        else:
            log.info("connected as @%s", me.username)
        return me
    return None


async def _get_me_unless_stopped(bot: Bot, stop: asyncio.Event, seconds: float) -> User | None:
    """`bot.me()` within `seconds`, or None (the request cancelled) as soon as `stop` is set."""

    async def get_me() -> User:
        async with asyncio.timeout(seconds):
            return await bot.me()

    request = asyncio.create_task(get_me())
    stopping = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({request, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        request.cancel()
        stopping.cancel()
        await asyncio.gather(request, stopping, return_exceptions=True)
    if stop.is_set() or request.cancelled():
        return None
    return request.result()


def _failure_reason(error: BaseException, timeout: float) -> str:
    """One short line: aiogram's text of the error (its URLs are already scrubbed of the token)."""
    if isinstance(error, TimeoutError):
        reason = f"no answer in {timeout:g} s"
    elif isinstance(error, ClientDecodeError):  # its text goes on with the whole body
        reason = f"not a Bot API answer ({error.message}: {type(error.original).__name__})"
    else:
        reason = str(error)
    reason = " ".join(reason.split())
    return reason if len(reason) <= 300 else reason[:299] + "…"


# --- running -------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WebhookConfig:
    url: str
    host: str = "0.0.0.0"
    port: int = 8080
    secret: str | None = None

    @property
    def path(self) -> str:
        return urlsplit(self.url).path or WEBHOOK_DEFAULT_PATH


async def run(
    settings: Settings,
    *,
    webhook: WebhookConfig | None = None,
    pacing: bool = True,
    polling_timeout: int = 10,
    stop: asyncio.Event | None = None,
    clock: Clock = system_clock,
    backoff: StartupBackoff = DEFAULT_STARTUP_BACKOFF,
) -> int:
    """Run the bot until SIGTERM/SIGINT (or until `stop` is set, for embedding): finish updates in flight,
    stop services, close the DB. Until Telegram answers getMe it retries with `backoff` while the background
    services run (see `wait_for_telegram`). 0 when it stopped cleanly, EXIT_TOKEN_REJECTED (2) when Telegram
    rejected the token."""
    token = settings.require_token()
    install_token_redaction(token)
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, _on_signal, signum, stop)
    tasks: list[asyncio.Task[None]] = []
    code = 0
    storage = await open_storage(settings.database_url, clock=clock)
    bot = create_bot(settings, pacing=pacing)
    try:
        dispatcher = build_dispatcher(settings, storage)
        in_flight: InFlight = dispatcher["in_flight"]

        async def drain() -> None:
            if not await in_flight.wait_idle(DRAIN_TIMEOUT_SECONDS):
                log.warning(
                    "shutdown: %d updates still running after %.0f s", in_flight.count, DRAIN_TIMEOUT_SECONDS
                )

        async def on_startup() -> None:
            try:
                await set_commands(bot)
            except TelegramUnauthorizedError:
                raise
            except TelegramAPIError as error:
                log.warning("set_my_commands failed: %s", error)

        dispatcher.startup.register(on_startup)
        dispatcher.shutdown.register(drain)
        for service in [heartbeat_service, *BACKGROUND_SERVICES]:
            tasks.append(asyncio.create_task(service(bot, storage, settings, stop), name=service.__name__))
        # None: stopped before Telegram answered.
        if await wait_for_telegram(bot, stop, settings, backoff) is not None:
            if webhook is None:
                await _run_polling(bot, dispatcher, stop, polling_timeout)
            else:
                await _run_webhook(bot, dispatcher, webhook, stop)
        log.info("stopped")
    except TelegramUnauthorizedError:
        log.error("Telegram rejected the bot token (401 Unauthorized): check BOT_TOKEN")
        code = EXIT_TOKEN_REJECTED
    finally:
        stop.set()
        await _stop_services(tasks)
        await bot.session.close()
        await storage.close()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
    return code


def _on_signal(signum: signal.Signals, stop: asyncio.Event) -> None:
    if not stop.is_set():
        log.info("%s: finishing updates in flight, then stopping", signum.name)
    stop.set()


async def _run_polling(bot: Bot, dispatcher: Dispatcher, stop: asyncio.Event, polling_timeout: int) -> None:
    if stop.is_set():
        return
    await _delete_webhook(bot)
    polling = asyncio.create_task(
        dispatcher.start_polling(
            bot,
            polling_timeout=polling_timeout,
            allowed_updates=dispatcher.resolve_used_update_types(),
            handle_signals=False,
            close_bot_session=False,
        )
    )
    stopping = asyncio.create_task(stop.wait())
    done, _ = await asyncio.wait({polling, stopping}, return_when=asyncio.FIRST_COMPLETED)
    if stopping in done:
        try:
            # Stops fetching, then the shutdown hooks wait for the updates in flight.
            await dispatcher.stop_polling()
        except RuntimeError:  # polling had not started yet
            polling.cancel()
    else:
        stopping.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await polling


async def _delete_webhook(bot: Bot) -> None:
    """Polling and a webhook exclude each other: a webhook left set would make getUpdates fail."""
    try:
        await bot.delete_webhook(drop_pending_updates=False)
    except TelegramUnauthorizedError:
        raise
    except TelegramAPIError as error:
        log.warning("deleteWebhook failed: %s", error)


async def _stop_services(tasks: list[asyncio.Task[None]]) -> None:
    if not tasks:
        return
    done, pending = await asyncio.wait(tasks, timeout=SERVICE_STOP_TIMEOUT_SECONDS)
    for task in pending:
        log.warning("service %s did not stop in time; cancelling", task.get_name())
        task.cancel()
    if pending:
        await asyncio.gather(*pending, return_exceptions=True)
    for task in done:
        error = None if task.cancelled() else task.exception()
        if error is not None:
            log.error("service %s failed: %s", task.get_name(), error, exc_info=error)
    tasks.clear()


class QuietRequestHandler(SimpleRequestHandler):
    """The bot session is closed by run() after the services stop, not by the web app's shutdown."""

    async def close(self) -> None:
        return None


async def _run_webhook(bot: Bot, dispatcher: Dispatcher, webhook: WebhookConfig, stop: asyncio.Event) -> None:
    secret = webhook.secret or secrets.token_urlsafe(32)
    app = web.Application()
    handler = QuietRequestHandler(
        dispatcher=dispatcher, bot=bot, secret_token=secret, handle_in_background=True
    )
    handler.register(app, path=webhook.path)
    setup_application(app, dispatcher, bot=bot)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    try:
        await runner.setup()
        site = web.TCPSite(runner, webhook.host, webhook.port)
        await site.start()
        await bot.set_webhook(
            webhook.url,
            secret_token=secret,
            allowed_updates=dispatcher.resolve_used_update_types(),
        )
        log.info("webhook server on %s:%d%s", webhook.host, webhook.port, webhook.path)
        await stop.wait()
        log.info("stopping webhook server")
    finally:
        # Its shutdown hooks wait for the updates in flight.
        await runner.cleanup()
