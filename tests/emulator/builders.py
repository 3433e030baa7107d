"""Update builders: what Telegram would push when a user writes, presses a button, types an inline query, or
changes the bot's membership. Each builder updates the emulator's state, queues the update and returns it."""

from __future__ import annotations

import secrets
import time
from typing import Any

from tests.emulator.entities import Entity, incoming_entities, utf16_len
from tests.emulator.models import (
    CHANNEL,
    GROUP,
    PRIVATE,
    SUPERGROUP,
    ChatState,
    SentMessage,
    UserState,
    member_payload,
)
from tests.emulator.state import EmulatorState

DEFAULT_USER_ID = 2000
USER_TEXT_LIMIT = 4096  # Telegram clients split longer texts before sending


class UpdateBuilders(EmulatorState):
    """The update builders of BotAPIEmulator, over the emulator's state."""

    def _chat_for(self, chat_id: int | None, user: UserState, chat_type: str, title: str | None) -> ChatState:
        if chat_type == PRIVATE:
            if chat_id not in (None, user.id):
                raise ValueError("a private chat's id is the user's id")
            chat = self.chats.get(user.id) or self.add_chat(user.id, PRIVATE, first_name=user.first_name)
            chat.username = chat.username or user.username
            return chat
        if chat_id is None:
            raise ValueError(f"a {chat_type} message needs chat_id")
        existing = self.chats.get(chat_id)
        chat = existing or self.add_chat(chat_id, chat_type, title)
        if chat.type != chat_type:
            raise ValueError(f"chat {chat_id} is a {chat.type}, not a {chat_type}")
        if chat.migrated_to is not None:
            raise ValueError(f"chat {chat_id} was migrated to {chat.migrated_to}")
        return chat

    def message(
        self,
        text: str,
        *,
        chat_id: int | None = None,
        user_id: int = DEFAULT_USER_ID,
        chat_type: str = PRIVATE,
        language_code: str | None = "ru",
        username: str | None = None,
        first_name: str = "Test",
        last_name: str | None = None,
        chat_title: str | None = None,
        entities: list[Entity] | None = None,
        reply_to: SentMessage | int | None = None,
    ) -> dict[str, Any]:
        """A user's text message (a channel post for chat_type="channel"), with the entities Telegram detects
        (bot_command for /cmd and /cmd@botname, url, mention, hashtag) unless `entities` is given.

        Returns the update. Privacy mode, as Telegram: in a group or supergroup where the bot is not an
        administrator and `can_read_all_group_messages` is False, only commands (not addressed to another
        bot), replies to the bot and messages mentioning it are delivered; anything else is not queued (it is
        returned all the same, with an update_id, and listed in `privacy_filtered`)."""
        if utf16_len(text) > USER_TEXT_LIMIT:
            raise ValueError(
                f"a user cannot send {utf16_len(text)} characters in one message: Telegram clients split texts "
                f"over {USER_TEXT_LIMIT} UTF-16 code units into several messages"
            )
        user = self.add_user(
            user_id,
            first_name=first_name,
            last_name=last_name,
            username=username,
            language_code=language_code,
        )
        chat = self._chat_for(chat_id, user, chat_type, chat_title)
        payload = self._new_user_message(chat, user, reply_to)
        payload["text"] = text
        found = entities if entities is not None else incoming_entities(text)
        if found:
            payload["entities"] = found
        update: dict[str, Any] = {"channel_post" if chat.type == CHANNEL else "message": payload}
        if not self._bot_sees(chat, text, found, reply_to):
            # Not delivered; still a complete update, for a Dispatcher test that feeds it directly.
            update = {"update_id": self._take_update_id(), **update}
            self.privacy_filtered.append(update)
            return update
        return self.enqueue(update)

    def _bot_sees(
        self, chat: ChatState, text: str, entities: list[Entity], reply_to: SentMessage | int | None
    ) -> bool:
        """Telegram's privacy mode for groups (see message())."""
        if chat.type not in (GROUP, SUPERGROUP) or self.can_read_all_group_messages:
            return True
        if chat.members.get(self.bot_id) in ("administrator", "creator"):
            return True
        username = (self.bot_user.username or "").lower()
        utf16 = text.encode("utf-16-le")
        for entity in entities:
            piece = utf16[entity["offset"] * 2 : (entity["offset"] + entity["length"]) * 2].decode(
                "utf-16-le"
            )
            if entity["type"] == "bot_command" and (
                "@" not in piece or piece.split("@")[1].lower() == username
            ):
                return True
            if entity["type"] == "mention" and piece[1:].lower() == username:
                return True
        replied_id = reply_to.message_id if isinstance(reply_to, SentMessage) else reply_to
        return replied_id is not None and (chat.id, replied_id) in self._messages

    def edited_message(self, update: dict[str, Any], text: str) -> dict[str, Any]:
        """The user edited a message injected earlier (pass the update message() returned)."""
        original = update.get("message") or update.get("channel_post") or update
        key = (original["chat"]["id"], original["message_id"])
        stored = self.user_messages.get(key)
        if stored is None:
            raise LookupError(f"no user message {key}")
        stored.update(text=text, edit_date=int(time.time()))
        detected = incoming_entities(text)
        if detected:
            stored["entities"] = detected
        else:
            stored.pop("entities", None)
        kind = "edited_channel_post" if "channel_post" in update else "edited_message"
        return self.enqueue({kind: dict(stored)})

    def document(
        self,
        data: bytes,
        file_name: str,
        *,
        mime_type: str | None = None,
        caption: str | None = None,
        chat_id: int | None = None,
        user_id: int = DEFAULT_USER_ID,
        chat_type: str = PRIVATE,
        language_code: str | None = "ru",
    ) -> dict[str, Any]:
        """A user's document; the bot can fetch it with getFile + the file URL (bot.download)."""
        user = self.add_user(user_id, language_code=language_code)
        chat = self._chat_for(chat_id, user, chat_type, None)
        payload = self._new_user_message(chat, user, None)
        stored = self.register_file(
            data, file_name, mime_type, chat_id=chat.id, message_id=payload["message_id"]
        )
        payload["document"] = stored.to_dict()
        if caption:
            payload["caption"] = caption
        return self.enqueue({"channel_post" if chat.type == CHANNEL else "message": payload})

    def _new_user_message(
        self, chat: ChatState, user: UserState, reply_to: SentMessage | int | None
    ) -> dict[str, Any]:
        """The common part of a user's message; registers it so the bot can reply to it (not edit it)."""
        if chat.type == PRIVATE and chat.members.get(self.bot_id) == "kicked":
            # Writing to a bot you blocked means unblocking it first; Telegram reports that as my_chat_member.
            self.my_chat_member(chat.id, old_status="kicked", new_status="member", user_id=user.id)
        if chat.type != PRIVATE and chat.type != CHANNEL:
            if chat.members.get(self.bot_id) in ("left", "kicked"):
                raise ValueError(f"the bot is not in chat {chat.id}: Telegram would not deliver this message")
            if chat.members.get(user.id) in (None, "left", "kicked"):
                chat.members[user.id] = "member"
        payload: dict[str, Any] = {
            "message_id": chat.take_message_id(),
            "date": int(time.time()),
            "chat": chat.to_dict(),
        }
        if chat.type == CHANNEL:
            payload["sender_chat"] = chat.to_dict()
        else:
            payload["from"] = user.to_dict()
        if reply_to is not None:
            replied_id = reply_to.message_id if isinstance(reply_to, SentMessage) else reply_to
            replied = self._messages.get((chat.id, replied_id))
            payload["reply_to_message"] = (
                self._message_payload(replied)
                if replied is not None
                else self.user_messages.get((chat.id, replied_id), {"message_id": replied_id})
            )
        self.user_messages[(chat.id, payload["message_id"])] = payload
        return payload

    def callback_query(
        self,
        data: str,
        *,
        message: SentMessage | int,
        chat_id: int | None = None,
        user_id: int | None = None,
        strict: bool = True,
    ) -> dict[str, Any]:
        """A press on an inline button of a message the bot sent (a SentMessage, or message_id + chat_id).

        With strict=True (default) `data` must be the callback_data of a button the message shows now: a test
        cannot press a button the bot never drew. user_id defaults to the private chat's user."""
        if isinstance(message, int):
            if chat_id is None:
                raise ValueError("a message id needs chat_id")
            sent = self._messages.get((chat_id, message))
            if sent is None:
                raise LookupError(f"the bot sent no message {message} to {chat_id}")
            message = sent
        if message.deleted:
            raise ValueError("the message was deleted: nobody can press its buttons")
        if strict:
            available = [button.get("callback_data") for button in message.buttons]
            if data not in available:
                raise ValueError(f"no button with callback_data {data!r}; the message has {available}")
        chat = self.chats[message.chat_id]
        if user_id is None:
            if chat.type != PRIVATE:
                raise ValueError("user_id is required outside private chats")
            user_id = chat.id
        user = self.users.get(user_id) or self.add_user(user_id)
        query_id = str(secrets.randbits(63))
        self._callback_queries[query_id] = (self.clock(), False)
        return self.enqueue(
            {
                "callback_query": {
                    "id": query_id,
                    "from": user.to_dict(),
                    "message": self._message_payload(message),
                    "chat_instance": str(abs(hash((chat.id, self.bot_id))) % 10**18),
                    "data": data,
                }
            }
        )

    def click(self, message: SentMessage, button_text: str, *, user_id: int | None = None) -> dict[str, Any]:
        """Press the inline button labelled `button_text` (exact label, else the one label containing it)."""
        button = message.button(button_text)
        if "callback_data" not in button:
            raise ValueError(f"button {button_text!r} is not a callback button: {button}")
        return self.callback_query(button["callback_data"], message=message, user_id=user_id)

    def inline_query(
        self,
        query: str,
        *,
        user_id: int = DEFAULT_USER_ID,
        offset: str = "",
        chat_type: str | None = "sender",
        language_code: str | None = "ru",
    ) -> dict[str, Any]:
        """A user typing `@bot query`; answer it with answerInlineQuery using the update's inline_query.id."""
        if len(query) > 256:
            raise ValueError("Telegram cuts inline queries at 256 characters")
        user = self.users.get(user_id) or self.add_user(user_id, language_code=language_code)
        query_id = str(secrets.randbits(63))
        self._inline_queries[query_id] = (self.clock(), False)
        payload: dict[str, Any] = {"id": query_id, "from": user.to_dict(), "query": query, "offset": offset}
        if chat_type:
            payload["chat_type"] = chat_type
        return self.enqueue({"inline_query": payload})

    def chosen_inline_result(
        self,
        result_id: str,
        *,
        user_id: int = DEFAULT_USER_ID,
        query: str = "",
        inline_message_id: str | None = None,
    ) -> dict[str, Any]:
        """The user picked an inline result; with inline_message_id the message can be edited by that id."""
        user = self.users.get(user_id) or self.add_user(user_id)
        payload: dict[str, Any] = {"result_id": result_id, "from": user.to_dict(), "query": query}
        if inline_message_id:
            payload["inline_message_id"] = inline_message_id
            self._inline_messages[inline_message_id] = SentMessage(0, 0, int(time.time()), text=result_id)
        return self.enqueue({"chosen_inline_result": payload})

    def migrate_chat(
        self, old_id: int, new_id: int, *, user_id: int = DEFAULT_USER_ID, notify: bool = True
    ) -> ChatState:
        """A group became a supergroup: the old id answers 400 with migrate_to_chat_id, the new one works.
        With notify (as Telegram) the service messages are queued: migrate_to_chat_id in the old chat,
        migrate_from_chat_id in the new one (privacy mode never hides service messages)."""
        old = self.chats.get(old_id) or self.add_chat(old_id, GROUP)
        new = self.add_chat(new_id, SUPERGROUP, old.title, old.username)
        new.members.update(old.members)
        if notify:
            user = self.users.get(user_id) or self.add_user(user_id)
            moved = self._new_user_message(old, user, None)
            moved["migrate_to_chat_id"] = new_id
            self.enqueue({"message": moved})
            arrived = self._new_user_message(new, user, None)
            arrived["migrate_from_chat_id"] = old_id
            self.enqueue({"message": arrived})
        old.migrated_to = new_id
        return new

    def my_chat_member(
        self,
        chat_id: int,
        *,
        old_status: str = "member",
        new_status: str = "kicked",
        chat_type: str | None = None,
        user_id: int = DEFAULT_USER_ID,
        title: str | None = None,
    ) -> dict[str, Any]:
        """The bot's own membership changed (blocked/unblocked in a private chat, added to/removed from a
        group or channel); the emulator's state follows (a kicked bot's sends get 403)."""
        chat = self.chats.get(chat_id)
        if chat is None:
            kind = chat_type or (PRIVATE if chat_id > 0 else SUPERGROUP)
            chat = self.add_chat(chat_id, kind, title, bot_status=new_status)
        actor = self.users.get(user_id) or self.add_user(user_id)
        self.set_member(chat_id, self.bot_id, new_status)
        bot = self.bot_user.to_dict()
        return self.enqueue(
            {
                "my_chat_member": {
                    "chat": chat.to_dict(),
                    "from": actor.to_dict(),
                    "date": int(time.time()),
                    "old_chat_member": member_payload(old_status, bot),
                    "new_chat_member": member_payload(new_status, bot),
                }
            }
        )
