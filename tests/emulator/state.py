"""The emulator's state: chats, users, messages, files, queued updates and the record of requests, with
the event-driven waiting helpers. BotAPIEmulator (server.py) adds HTTP and the methods, builders.py the
updates."""

from __future__ import annotations

import asyncio
import json
import mimetypes
import re
import secrets
import time
from collections.abc import Callable, Mapping
from typing import Any

from tests.emulator.models import (
    CHANNEL,
    CHAT_TYPES,
    MEMBER_STATUSES,
    PRIVATE,
    SUPERGROUP,
    ChatState,
    RecordedRequest,
    SentDocument,
    SentMessage,
    UserState,
)

_TOKEN = re.compile(r"^(\d+):[A-Za-z0-9_-]+$")


class EmulatorState:
    """Everything the emulator knows and has recorded; the base of UpdateBuilders and BotAPIEmulator."""

    def __init__(self, token: str, *, username: str, first_name: str) -> None:
        match = _TOKEN.match(token)
        if match is None:
            raise ValueError("token must look like <digits>:<secret>")
        self.token = token
        self.bot_user = UserState(int(match.group(1)), first_name, None, username, None, is_bot=True)
        self.clock: Callable[[], float] = time.monotonic
        self.can_join_groups = True
        self.can_read_all_group_messages = False  # privacy mode on, as for a new bot
        self.supports_inline_queries = True
        self.privacy_filtered: list[dict[str, Any]] = []  # group messages Telegram would not deliver
        self.chats: dict[int, ChatState] = {}
        self.users: dict[int, UserState] = {self.bot_user.id: self.bot_user}
        self.user_messages: dict[tuple[int, int], dict[str, Any]] = {}
        self.sent_messages: list[SentMessage] = []
        self._messages: dict[tuple[int, int], SentMessage] = {}
        self._by_chat: dict[int, list[SentMessage]] = {}  # messages_to() is polled by waiters: keep it O(1)
        self.documents: list[SentDocument] = []
        self._files: dict[str, SentDocument] = {}  # file_id -> file (the bot's uploads and users' documents)
        self._file_paths: dict[str, SentDocument] = {}  # getFile's file_path -> file
        self.requests: list[RecordedRequest] = []
        self.commands: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self.pending_updates: list[dict[str, Any]] = []
        self._next_update_id = 1
        self._callback_queries: dict[str, tuple[float, bool]] = {}  # id -> (created, answered)
        self._inline_queries: dict[str, tuple[float, bool]] = {}
        self._inline_messages: dict[str, SentMessage] = {}
        self._waiters: set[asyncio.Future[None]] = set()

    @property
    def bot_id(self) -> int:
        return self.bot_user.id

    # ------------------------------------------------------------------ waiting (event-driven)

    def _notify(self) -> None:
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)
        self._waiters.clear()

    async def _wait_change(self, timeout: float) -> None:  # noqa: ASYNC109
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.add(waiter)
        try:
            await asyncio.wait_for(waiter, timeout)
        except TimeoutError:
            pass
        finally:
            self._waiters.discard(waiter)

    async def wait_for(self, predicate: Callable[[], Any], timeout: float = 5.0) -> Any:  # noqa: ASYNC109
        """Wait until predicate() is truthy (re-checked after every request and update); return its value."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            value = predicate()
            if value:
                return value
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(f"condition not met within {timeout} s")
            await self._wait_change(remaining)

    async def wait_for_messages(
        self,
        chat_id: int,
        count: int = 1,
        timeout: float = 5.0,  # noqa: ASYNC109
    ) -> list[SentMessage]:
        """Wait until the bot has sent `count` (not deleted) messages to `chat_id`; return them all."""

        def enough() -> list[SentMessage] | None:
            messages = self.messages_to(chat_id)
            return messages if len(messages) >= count else None

        try:
            result: list[SentMessage] = await self.wait_for(enough, timeout)
        except TimeoutError:
            texts = [message.text[:80] for message in self.messages_to(chat_id)]
            raise TimeoutError(
                f"expected {count} messages to {chat_id} within {timeout} s, got {texts}"
            ) from None
        return result

    async def wait_for_request(
        self,
        method: str,
        count: int = 1,
        timeout: float = 5.0,  # noqa: ASYNC109
    ) -> list[RecordedRequest]:
        """Wait until `method` was called at least `count` times; return those requests."""
        return list(
            await self.wait_for(
                lambda: (found := self.requests_for(method)) and len(found) >= count and found, timeout
            )
        )

    async def wait_until_idle(self, quiet: float = 0.2, timeout: float = 5.0) -> None:  # noqa: ASYNC109
        """Wait until every queued update was taken (confirmed by the next getUpdates, or accepted by the
        webhook) and then no call but getUpdates arrived for `quiet` seconds: for asserting that nothing
        more happens. (The quiet period is the one wait that has to be measured in time.)"""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout

        def activity() -> int:
            return sum(1 for request in self.requests if request.method.lower() != "getupdates")

        while True:
            await self.wait_for(lambda: not self.pending_updates, max(deadline - loop.time(), 0.001))
            before = activity()
            await asyncio.sleep(quiet)
            if not self.pending_updates and activity() == before:
                return
            if loop.time() >= deadline:
                raise TimeoutError(f"the bot was still busy after {timeout} s")

    # ------------------------------------------------------------------ reading the record

    def messages_to(self, chat_id: int, *, include_deleted: bool = False) -> list[SentMessage]:
        return [
            message for message in self._by_chat.get(chat_id, ()) if include_deleted or not message.deleted
        ]

    def last_message(self, chat_id: int) -> SentMessage:
        messages = self.messages_to(chat_id)
        if not messages:
            raise LookupError(f"the bot sent nothing to {chat_id}")
        return messages[-1]

    def get_message(self, chat_id: int, message_id: int) -> SentMessage:
        return self._messages[(chat_id, message_id)]

    def requests_for(self, method: str) -> list[RecordedRequest]:
        wanted = method.lower()
        return [request for request in self.requests if request.method.lower() == wanted]

    def commands_for(
        self, scope: Mapping[str, Any] | None = None, language_code: str = ""
    ) -> list[dict[str, Any]]:
        return self.commands.get((scope_key(scope), language_code), [])

    # ------------------------------------------------------------------ chats and members

    def add_chat(
        self,
        chat_id: int,
        type: str = PRIVATE,
        title: str | None = None,
        username: str | None = None,
        *,
        first_name: str | None = None,
        bot_status: str | None = None,
    ) -> ChatState:
        """Register a chat. The bot is a member; of a channel an administrator (the only way bots join)."""
        if type not in CHAT_TYPES:
            raise ValueError(f"unknown chat type {type!r}")
        chat = self.chats.get(chat_id)
        if chat is None:
            chat = self.chats[chat_id] = ChatState(chat_id, type)
        chat.type = type
        chat.title = title if title is not None else chat.title
        chat.username = (username or "").lstrip("@") or chat.username
        chat.first_name = first_name or chat.first_name
        if type == PRIVATE:
            user = self.users.setdefault(chat_id, UserState(chat_id, first_name or "Test"))
            chat.first_name = chat.first_name or user.first_name
            chat.members.setdefault(chat_id, "member")
        default_status = "administrator" if type == CHANNEL else "member"
        chat.members[self.bot_id] = bot_status or chat.members.get(self.bot_id, default_status)
        return chat

    def add_user(
        self,
        user_id: int,
        *,
        first_name: str = "Test",
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = "ru",
    ) -> UserState:
        user = self.users.get(user_id)
        if user is None:
            user = self.users[user_id] = UserState(user_id, first_name, last_name, username, language_code)
        else:
            user.first_name, user.last_name = first_name, last_name or user.last_name
            user.username = username or user.username
            user.language_code = language_code
        return user

    def set_member(self, chat_id: int, user_id: int, status: str) -> None:
        """Set a status (creator/administrator/member/restricted/left/kicked); user_id may be the bot's."""
        if status not in MEMBER_STATUSES:
            raise ValueError(f"unknown member status {status!r}")
        chat = self.chats.get(chat_id) or self.add_chat(chat_id, SUPERGROUP if chat_id < 0 else PRIVATE)
        self.users.setdefault(user_id, UserState(user_id))
        chat.members[user_id] = status

    def block_chat(self, chat_id: int) -> None:
        """The user blocked the bot: sends to the private chat answer 403 "bot was blocked by the user"."""
        self.set_member(chat_id, self.bot_id, "kicked")

    def unblock_chat(self, chat_id: int) -> None:
        self.set_member(chat_id, self.bot_id, "member")

    def kick_from_chat(self, chat_id: int) -> None:
        """The bot was removed from a group/supergroup/channel: sends answer 403 "bot was kicked from ..."."""
        self.set_member(chat_id, self.bot_id, "kicked")

    def deactivate_user(self, user_id: int) -> None:
        """The user deleted their account: sends answer 403 "user is deactivated"."""
        chat = self.chats.get(user_id) or self.add_chat(user_id, PRIVATE)
        chat.user_deactivated = True

    # ------------------------------------------------------------------ updates and files

    def enqueue(self, update: Mapping[str, Any]) -> dict[str, Any]:
        """Queue an update (assigning update_id when missing) for getUpdates or webhook delivery."""
        queued = dict(update)
        if "update_id" not in queued:
            queued["update_id"] = self._take_update_id()
        self.pending_updates.append(queued)
        self._notify()
        return queued

    def _take_update_id(self) -> int:
        update_id = self._next_update_id
        self._next_update_id += 1
        return update_id

    @staticmethod
    def update_type(update: Mapping[str, Any]) -> str:
        return next(key for key in update if key != "update_id")

    def register_file(
        self,
        data: bytes,
        file_name: str,
        mime_type: str | None = None,
        *,
        chat_id: int = 0,
        message_id: int = 0,
    ) -> SentDocument:
        """Store a file (a user's document or the bot's upload) under a fresh file_id, for getFile."""
        document = SentDocument(
            chat_id,
            message_id,
            "BQAC" + secrets.token_urlsafe(24),
            "AgAD" + secrets.token_urlsafe(8),
            file_name,
            mime_type or mimetypes.guess_type(file_name)[0] or "application/octet-stream",
            data,
        )
        self._files[document.file_id] = document
        return document

    def file_content(self, file_path: str) -> bytes:
        """The bytes behind a getFile file_path (what /file/bot<token>/<file_path> serves)."""
        document = self._file_paths.get(file_path)
        if document is None:
            raise LookupError(f"no file at {file_path!r}")
        return document.data

    def _message_payload(self, message: SentMessage) -> dict[str, Any]:
        chat = self.chats[message.chat_id]
        payload: dict[str, Any] = {
            "message_id": message.message_id,
            "date": message.date,
            "chat": chat.to_dict(),
        }
        if chat.type == CHANNEL:
            payload["sender_chat"] = chat.to_dict()
        else:
            payload["from"] = self.bot_user.to_dict()
        if message.document is not None:
            payload["document"] = message.document.to_dict()
            if message.text:
                payload["caption"] = message.text
            if message.entities:
                payload["caption_entities"] = list(message.entities)
        else:
            payload["text"] = message.text
            if message.entities:
                payload["entities"] = list(message.entities)
        if message.reply_to_message_id is not None:
            replied = self._messages.get((message.chat_id, message.reply_to_message_id))
            payload["reply_to_message"] = (
                self._message_payload(replied)
                if replied is not None
                else self.user_messages.get((message.chat_id, message.reply_to_message_id), {})
            )
        if message.edit_date is not None:
            payload["edit_date"] = message.edit_date
        if message.reply_markup and "inline_keyboard" in message.reply_markup:
            payload["reply_markup"] = message.reply_markup
        return payload

    def _store(self, message: SentMessage) -> SentMessage:
        self.sent_messages.append(message)
        self._by_chat.setdefault(message.chat_id, []).append(message)
        self._messages[(message.chat_id, message.message_id)] = message
        return message


def scope_key(scope: Mapping[str, Any] | None) -> str:
    """A command scope as a dictionary key ("default" for none)."""
    if not scope or scope.get("type") == "default":
        return "default"
    return json.dumps(dict(scope), sort_keys=True)
