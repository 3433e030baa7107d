"""What the emulator remembers: chats, members, the bot's messages, uploads, answers and every request."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tests.emulator.entities import Entity, to_html

PRIVATE = "private"
GROUP = "group"
SUPERGROUP = "supergroup"
CHANNEL = "channel"
CHAT_TYPES = frozenset({PRIVATE, GROUP, SUPERGROUP, CHANNEL})
MEMBER_STATUSES = frozenset({"creator", "administrator", "member", "restricted", "left", "kicked"})


@dataclass(slots=True)
class UserState:
    id: int
    first_name: str = "Test"
    last_name: str | None = None
    username: str | None = None
    language_code: str | None = "ru"
    is_bot: bool = False

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"id": self.id, "is_bot": self.is_bot, "first_name": self.first_name}
        if self.last_name:
            data["last_name"] = self.last_name
        if self.username:
            data["username"] = self.username
        if self.language_code and not self.is_bot:
            data["language_code"] = self.language_code
        return data


@dataclass(slots=True)
class ChatState:
    id: int
    type: str
    title: str | None = None
    username: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    # user id -> creator/administrator/member/restricted/left/kicked; the bot's own status is here too.
    members: dict[int, str] = field(default_factory=dict)
    migrated_to: int | None = None
    user_deactivated: bool = False
    next_message_id: int = 1

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"id": self.id, "type": self.type}
        if self.type == PRIVATE:
            data["first_name"] = self.first_name or "Test"
            if self.last_name:
                data["last_name"] = self.last_name
        else:
            data["title"] = self.title or f"Chat {self.id}"
        if self.username:
            data["username"] = self.username
        return data

    def take_message_id(self) -> int:
        message_id = self.next_message_id
        self.next_message_id += 1
        return message_id


@dataclass(slots=True)
class SentDocument:
    """A file the bot uploaded (sendDocument)."""

    chat_id: int
    message_id: int
    file_id: str
    file_unique_id: str
    file_name: str
    mime_type: str
    data: bytes

    def to_dict(self) -> dict[str, Any]:
        return {
            "file_id": self.file_id,
            "file_unique_id": self.file_unique_id,
            "file_name": self.file_name,
            "mime_type": self.mime_type,
            "file_size": len(self.data),
        }


@dataclass(slots=True)
class MessageVersion:
    """One earlier state of an edited message."""

    text: str
    entities: tuple[Entity, ...]
    reply_markup: dict[str, Any] | None
    edit_date: int | None


@dataclass(slots=True)
class SentMessage:
    """A message the bot sent, in its current state; `edits` holds the earlier versions, oldest first.

    `text`/`entities` are what Telegram stored (plain text after parsing); `source` and `parse_mode` are
    what the bot sent. For documents `text`/`entities` hold the caption."""

    chat_id: int
    message_id: int
    date: int
    text: str
    entities: tuple[Entity, ...] = ()
    source: str = ""
    parse_mode: str | None = None
    reply_markup: dict[str, Any] | None = None
    document: SentDocument | None = None
    reply_to_message_id: int | None = None
    disable_notification: bool = False
    link_preview_options: dict[str, Any] | None = None
    edit_date: int | None = None
    edits: list[MessageVersion] = field(default_factory=list)
    deleted: bool = False

    @property
    def html(self) -> str:
        """The stored text rendered back to canonical HTML (aiogram's unparser)."""
        return to_html(self.text, self.entities)

    @property
    def caption(self) -> str:
        return self.text

    @property
    def buttons(self) -> list[dict[str, Any]]:
        """The inline keyboard's buttons, row by row, flattened."""
        if not self.reply_markup or "inline_keyboard" not in self.reply_markup:
            return []
        return [button for row in self.reply_markup["inline_keyboard"] for button in row]

    def button(self, text: str) -> dict[str, Any]:
        """The inline button whose label equals `text` (or contains it, when no label is equal)."""
        exact = [button for button in self.buttons if button.get("text") == text]
        partial = [button for button in self.buttons if text in str(button.get("text", ""))]
        found = exact or partial
        if len(found) != 1:
            labels = [button.get("text") for button in self.buttons]
            raise LookupError(f"{len(found)} buttons match {text!r}; the message has {labels}")
        return found[0]


@dataclass(slots=True)
class UploadedFile:
    """A multipart file part of a request."""

    filename: str
    content_type: str
    data: bytes


@dataclass(slots=True)
class RecordedRequest:
    """One Bot API call as the emulator saw it. `params` has JSON fields decoded and integers converted."""

    method: str
    params: dict[str, Any]
    files: dict[str, UploadedFile]
    time: float
    status: int = 0
    response: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return self.status == 200


@dataclass(slots=True)
class CallbackAnswer:
    callback_query_id: str
    text: str | None
    show_alert: bool
    url: str | None
    cache_time: int


@dataclass(slots=True)
class InlineAnswer:
    inline_query_id: str
    results: list[dict[str, Any]]
    next_offset: str
    cache_time: int | None
    is_personal: bool
    button: dict[str, Any] | None


@dataclass(slots=True)
class FloodEvent:
    """A 429 the emulator issued: which limit (global/private/group) and the retry_after it told."""

    method: str
    chat_id: int
    scope: str
    retry_after: int
    time: float


@dataclass(slots=True)
class WebhookDelivery:
    """One POST of an update to the bot's webhook (automatic delivery or post_update)."""

    url: str
    update_id: int
    status: int
    error: str | None = None


def member_payload(status: str, user: dict[str, Any], *, can_be_edited: bool = False) -> dict[str, Any]:
    """A ChatMember object of the given status, with every field aiogram's models require."""
    payload: dict[str, Any] = {"status": status, "user": user}
    if status == "creator":
        payload["is_anonymous"] = False
    elif status == "administrator":
        payload.update(
            {
                "can_be_edited": can_be_edited,
                "is_anonymous": False,
                "can_manage_chat": True,
                "can_delete_messages": True,
                "can_manage_video_chats": True,
                "can_restrict_members": True,
                "can_promote_members": False,
                "can_change_info": True,
                "can_invite_users": True,
                "can_post_stories": False,
                "can_edit_stories": False,
                "can_delete_stories": False,
                "can_send_welcome_messages": False,
                "can_post_messages": True,
                "can_edit_messages": True,
                "can_pin_messages": True,
            }
        )
    elif status == "restricted":
        payload.update(
            {
                "is_member": True,
                "can_send_messages": False,
                "can_send_audios": False,
                "can_send_documents": False,
                "can_send_photos": False,
                "can_send_videos": False,
                "can_send_video_notes": False,
                "can_send_voice_notes": False,
                "can_send_polls": False,
                "can_send_other_messages": False,
                "can_add_web_page_previews": False,
                "can_react_to_messages": False,
                "can_edit_tag": False,
                "can_change_info": False,
                "can_invite_users": False,
                "can_pin_messages": False,
                "can_manage_topics": False,
                "until_date": 0,
            }
        )
    elif status == "kicked":
        payload["until_date"] = 0
    return payload
