"""`govdigest run`: the bot with its background services, long polling or a webhook server, until SIGTERM or
SIGINT (finish the updates in flight, stop the services, close the database).

Contract for other features: BACKGROUND_SERVICES are `async def service(bot, storage, settings, stop) -> None`;
run() starts each as a task before Telegram has answered and sets `stop` on shutdown (a service must return
promptly then, and must not assume Telegram is reachable)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import signal
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from aiogram import Bot, Dispatcher
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramUnauthorizedError,
)
from aiogram.webhook.aiohttp_server import SimpleRequestHandler, setup_application
from aiohttp import web

from bot.app import build_dispatcher, create_bot, set_commands
from bot.clock import Clock, system_clock
from bot.config import Settings
from bot.digest.service import digest_service
from bot.heartbeat import heartbeat_path, write_heartbeat
from bot.sources.service import polling_service
from bot.telegram.connect import DEFAULT_STARTUP_BACKOFF, StartupBackoff, wait_for_telegram
from bot.telegram.pacing import send_budget_of
from bot.telegram.redaction import install_token_redaction
from bot.telegram.updates import InFlight
from storage import Storage, StorageUnavailable, open_storage

log = logging.getLogger(__name__)


Service = Callable[[Bot, Storage, Settings, asyncio.Event], Coroutine[Any, Any, None]]


BACKGROUND_SERVICES: list[Service] = [digest_service, polling_service]


DRAIN_TIMEOUT_SECONDS = 20.0


SERVICE_STOP_TIMEOUT_SECONDS = 15.0


WEBHOOK_DEFAULT_PATH = "/webhook"


# run()'s answer to a token Telegram refuses (401): the CLI's exit code for a configuration error.
EXIT_TOKEN_REJECTED = 2


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
    storage = await open_storage(
        settings.database_url,
        clock=clock,
        pool_size=settings.database_pool_size,
        search_index_dir=settings.search_index_dir,
    )
    bot = create_bot(settings, pacing=pacing)
    budget = send_budget_of(bot)
    if budget is not None:
        budget.share(storage.shared_limits)  # several instances on one database keep the token's one rate
    try:
        # The ranking index holds the whole archive before the first update (a PostgreSQL instance without
        # SEARCH_INDEX_DIR builds it in memory here; otherwise this is a catch-up of what is new).
        await storage.articles.prepare_search()
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


HEARTBEAT_INTERVAL_SECONDS = 30.0


async def heartbeat_service(bot: Bot, storage: Storage, settings: Settings, stop: asyncio.Event) -> None:
    path = heartbeat_path(settings)
    if path is None:
        return
    try:
        while not stop.is_set():
            try:
                await storage.ping()
                write_heartbeat(path)
            except StorageUnavailable:
                pass  # logged once per outage by the storage; a stale heartbeat tells `govdigest health`
            except Exception:
                log.exception("heartbeat failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), HEARTBEAT_INTERVAL_SECONDS)
    finally:
        with contextlib.suppress(OSError):
            path.unlink()
