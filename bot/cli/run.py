"""`govdigest run` (the bot: long polling, or a webhook server) and `govdigest health` (for HEALTHCHECK)."""

from __future__ import annotations

import argparse
import os
import re
from pathlib import Path
from urllib.parse import urlsplit

from bot.config import ConfigError, Settings

DEFAULT_HEALTH_MAX_AGE = 120.0
_SECRET_RE = re.compile(r"^[A-Za-z0-9_-]{1,256}$")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    run = subparsers.add_parser(
        "run",
        help="run the bot (long polling by default)",
        description="Run the bot: long polling against TELEGRAM_API_URL, or a webhook server with --webhook. "
        "Until Telegram answers it retries with backoff while the background services run. "
        "SIGTERM/SIGINT finish the updates in flight and exit 0; a token Telegram refuses exits 2.",
    )
    run.add_argument("--webhook", metavar="URL", help="public HTTPS URL Telegram posts updates to")
    run.add_argument("--host", default="0.0.0.0", help="webhook server address (default 0.0.0.0)")
    run.add_argument("--port", type=int, default=8080, help="webhook server port (default 8080)")
    run.add_argument(
        "--secret",
        help="webhook secret token (A-Z, a-z, 0-9, _ and -; default: a random one per start); "
        "also read from WEBHOOK_SECRET",
    )
    run.set_defaults(handler=run_command)

    health = subparsers.add_parser(
        "health",
        help="exit 0 when the database opens and the running bot wrote its heartbeat recently",
    )
    health.add_argument(
        "--max-age",
        type=float,
        default=DEFAULT_HEALTH_MAX_AGE,
        help=f"oldest acceptable heartbeat, seconds (default {DEFAULT_HEALTH_MAX_AGE:.0f})",
    )
    health.set_defaults(handler=health_command)


async def run_command(args: argparse.Namespace, settings: Settings) -> int:
    from bot.runner import WebhookConfig, run

    settings.require_token()  # ConfigError → one line, exit 2 (bot/cli/__init__.py)
    webhook = None
    if args.webhook:
        parts = urlsplit(args.webhook)
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise ConfigError(f"--webhook: expected an http(s) URL, got {args.webhook!r}")
        secret = args.secret or os.environ.get("WEBHOOK_SECRET") or None
        if secret is not None and not _SECRET_RE.match(secret):
            raise ConfigError("--secret: 1-256 characters of A-Z, a-z, 0-9, _ and -")
        if not 0 < args.port < 65536:
            raise ConfigError(f"--port: expected 1-65535, got {args.port}")
        webhook = WebhookConfig(url=args.webhook, host=args.host, port=args.port, secret=secret)
    return await run(settings, webhook=webhook)


async def health_command(args: argparse.Namespace, settings: Settings) -> int:
    from bot.database import opened_storage
    from bot.heartbeat import heartbeat_age, heartbeat_path
    from storage import StorageError

    path = settings.database_path
    if isinstance(path, Path) and not path.is_file():
        print(f"unhealthy: no database at {path}")
        return 1
    try:
        async with opened_storage(settings, migrate=False) as storage:
            await storage.ping()
    except StorageError as error:
        print(f"unhealthy: {error}")
        return 1
    beat = heartbeat_path(settings)
    if beat is None:
        print("ok: database opens (no heartbeat file: set HEARTBEAT_FILE to check the running bot too)")
        return 0
    age = heartbeat_age(beat)
    if age is None:
        print(f"unhealthy: no heartbeat at {beat} (is `govdigest run` running?)")
        return 1
    if age > args.max_age:
        print(f"unhealthy: last heartbeat {age:.0f} s ago (limit {args.max_age:.0f} s)")
        return 1
    print(f"ok: database opens, heartbeat {age:.0f} s ago")
    return 0
