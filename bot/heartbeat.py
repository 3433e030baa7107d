"""The running bot's heartbeat: a file next to the database, rewritten while the database answers, and read by
`govdigest health` (the Docker HEALTHCHECK). Light on purpose: the health check imports only this."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from pathlib import Path

from aiogram import Bot

from bot.config import Settings
from storage import Storage

log = logging.getLogger(__name__)


HEARTBEAT_INTERVAL_SECONDS = 30.0


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
