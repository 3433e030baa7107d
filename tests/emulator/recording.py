"""RecordingSession: an aiogram session for Dispatcher-level tests without HTTP.

Every TelegramMethod call is recorded in `calls`; the request is serialized exactly as AiohttpSession would
(`prepare_value`, files read into memory) and answered by an in-process BotAPIEmulator, so results are the
real shapes (Message objects with increasing ids, True for answers, the bot's User for getMe) and Telegram's
validation still applies: bad HTML, a 4097-character text or 65-byte callback data raise TelegramBadRequest
here too. Chats are registered on first use (private for positive ids, supergroup for negative ones) unless
register_chats=False. Failures: `session.raise_next(exc, method=SendMessage)` raises a given exception;
`session.emulator.fail_next(...)` produces Telegram-shaped errors through aiogram's own response checking.

    session = RecordingSession()
    bot = Bot(DEFAULT_TOKEN, session=session, default=DefaultBotProperties(parse_mode="HTML"))
    await dp.feed_update(bot, Update.model_validate(session.emulator.message("/start"), context={"bot": bot}))
    assert session.calls_of(SendMessage)[0].chat_id == 2000
"""

from __future__ import annotations

import json
import mimetypes
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import Any, TypeVar

from aiogram import Bot
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.base import BaseSession
from aiogram.enums import ParseMode
from aiogram.exceptions import TelegramNetworkError
from aiogram.methods import TelegramMethod
from aiogram.methods.base import TelegramType
from aiogram.types import InputFile

from tests.emulator.models import PRIVATE, SUPERGROUP, UploadedFile
from tests.emulator.server import DEFAULT_TOKEN, BotAPIEmulator

MethodT = TypeVar("MethodT", bound=TelegramMethod[Any])


@dataclass(slots=True)
class _PlannedException:
    method: str | None
    exception: BaseException
    times: int


class RecordingSession(BaseSession):
    def __init__(
        self, emulator: BotAPIEmulator | None = None, *, register_chats: bool = True, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.emulator = emulator or BotAPIEmulator(flood_limits=False)
        self.register_chats = register_chats
        self.calls: list[TelegramMethod[Any]] = []
        self._planned: list[_PlannedException] = []

    def raise_next(
        self,
        exception: BaseException,
        method: type[TelegramMethod[Any]] | str | None = None,
        *,
        times: int = 1,
    ) -> None:
        """Raise `exception` on the next `times` calls of `method` (class or API name; None = any)."""
        name = method if isinstance(method, str) or method is None else method.__api_method__
        self._planned.append(_PlannedException(name.lower() if name else None, exception, times))

    def calls_of(self, method: type[MethodT]) -> list[MethodT]:
        return [call for call in self.calls if isinstance(call, method)]

    async def close(self) -> None:
        """Nothing to release: no connections are opened."""

    async def stream_content(
        self,
        url: str,
        headers: dict[str, Any] | None = None,
        timeout: int = 30,  # noqa: ASYNC109
        chunk_size: int = 65536,
        raise_for_status: bool = True,
    ) -> AsyncGenerator[bytes, None]:
        # aiogram asks for <server>/file/bot<token>/<file_path>; the emulator serves file_path.
        data = self.emulator.file_content(url.split("/file/bot", 1)[-1].split("/", 1)[-1])
        for start in range(0, len(data), chunk_size):
            yield data[start : start + chunk_size]

    async def make_request(
        self,
        bot: Bot,
        method: TelegramMethod[TelegramType],
        timeout: int | None = None,  # noqa: ASYNC109
    ) -> TelegramType:
        self.calls.append(method)
        api_name = method.__api_method__
        planned = next(
            (p for p in self._planned if p.times > 0 and p.method in (None, api_name.lower())), None
        )
        if planned is not None:
            planned.times -= 1
            if planned.times <= 0:
                self._planned.remove(planned)
            raise planned.exception
        params, files = await self._serialize(bot, method)
        chat_id = params.get("chat_id")
        if self.register_chats and isinstance(chat_id, str) and chat_id.lstrip("-").isdigit():
            numeric = int(chat_id)
            # A user seen only in a group stays unregistered: the bot cannot write to them first (403).
            if numeric not in self.emulator.chats and numeric not in self.emulator.users:
                self.emulator.add_chat(numeric, PRIVATE if numeric > 0 else SUPERGROUP)
        reply = await self.emulator.call(api_name, params, files, token=bot.token)
        if reply.disconnect:
            raise TelegramNetworkError(method=method, message="ServerDisconnectedError: Server disconnected")
        content = reply.raw_body if reply.raw_body is not None else json.dumps(reply.body)
        response = self.check_response(bot=bot, method=method, status_code=reply.status, content=content)
        return response.result  # type: ignore[return-value]

    async def _serialize(
        self, bot: Bot, method: TelegramMethod[Any]
    ) -> tuple[dict[str, Any], dict[str, UploadedFile]]:
        """The fields AiohttpSession.build_form_data would send, with files read into memory."""
        params: dict[str, Any] = {}
        input_files: dict[str, InputFile] = {}
        for key, value in method.model_dump(warnings=False).items():
            prepared = self.prepare_value(value, bot=bot, files=input_files)
            if not prepared:
                continue
            params[key] = prepared
        files: dict[str, UploadedFile] = {}
        for key, input_file in input_files.items():
            data = b"".join([chunk async for chunk in input_file.read(bot)])
            filename = input_file.filename or key
            content_type = mimetypes.guess_type(filename)[0] or "application/octet-stream"
            files[key] = UploadedFile(filename, content_type, data)
        return params, files


def make_recording_bot(session: RecordingSession | None = None, token: str = DEFAULT_TOKEN) -> Bot:
    """A Bot with a RecordingSession and HTML parse mode, like the real bot."""
    return Bot(
        token,
        session=session or RecordingSession(),
        default=DefaultBotProperties(parse_mode=ParseMode.HTML),
    )
