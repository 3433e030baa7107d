"""aiogram Bots wired to the emulator through aiogram's real HTTP session."""

from __future__ import annotations

from typing import Any

from aiogram import Bot
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode


class EmulatorSession(AiohttpSession):
    """AiohttpSession unchanged except close(): aiogram sleeps 250 ms there to let TLS connections wind down,
    and the emulator speaks plain HTTP on 127.0.0.1, so every test would pay that for nothing."""

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()


def make_bot(base_url: str, token: str, **bot_kwargs: Any) -> Bot:
    """A Bot against `base_url` (TelegramAPIServer.from_base), HTML parse mode unless `default` is given."""
    session = EmulatorSession(api=TelegramAPIServer.from_base(base_url))
    bot_kwargs.setdefault("default", DefaultBotProperties(parse_mode=ParseMode.HTML))
    return Bot(token, session=session, **bot_kwargs)
