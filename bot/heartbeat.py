"""The running bot's heartbeat: a file next to the database, rewritten while the database answers (the service
is in bot/runner.py), and read by `govdigest health` (the Docker HEALTHCHECK). Light on purpose: the health
check imports only this."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

from bot.config import Settings

log = logging.getLogger(__name__)


def heartbeat_path(settings: Settings) -> Path | None:
    """HEARTBEAT_FILE, else `<database>.heartbeat` next to the SQLite file; None for an in-memory database or a
    server database without HEARTBEAT_FILE."""
    if settings.heartbeat_file is not None:
        return settings.heartbeat_file
    path = settings.database_path
    if not isinstance(path, Path):
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
