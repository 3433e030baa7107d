"""Dispatcher middlewares around every update: the count of updates in flight (so a shutdown can wait for
them) and one log line per update with the handler that took it and how long it ran."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiogram import BaseMiddleware
from aiogram.dispatcher.event.bases import UNHANDLED
from aiogram.dispatcher.event.handler import HandlerObject
from aiogram.types import (
    Chat,
    TelegramObject,
    Update,
    User,
)

from bot.telegram.texts import locale_of

log = logging.getLogger(__name__)
update_log = logging.getLogger("govdigest.updates")


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
