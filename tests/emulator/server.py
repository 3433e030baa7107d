"""BotAPIEmulator: an aiohttp server on 127.0.0.1 speaking Telegram's Bot API (see the package docstring)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import mimetypes
import random
import re
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from aiogram import Bot, Dispatcher
from aiohttp import (
    BodyPartReader,
    ClientError,
    ClientResponse,
    ClientSession,
    ClientTimeout,
    MultipartReader,
    web,
)
from aiohttp.web_request import FileField

from tests.emulator.builders import UpdateBuilders
from tests.emulator.entities import (
    EntityParseError,
    FormattedText,
    parse_html,
    trim,
    utf16_len,
    validate_entities,
)
from tests.emulator.flood import FloodLimiter, FloodLimits
from tests.emulator.models import (
    CHANNEL,
    PRIVATE,
    CallbackAnswer,
    ChatState,
    FloodEvent,
    InlineAnswer,
    MessageVersion,
    RecordedRequest,
    SentDocument,
    SentMessage,
    UploadedFile,
    WebhookDelivery,
    member_payload,
)
from tests.emulator.session import make_bot
from tests.emulator.state import scope_key

DEFAULT_TOKEN = "123456:TEST-token-for-the-emulator-000000000"
BOT_USERNAME = "govdigest_bot"
MESSAGE_TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024
CALLBACK_DATA_LIMIT = 64
CALLBACK_ANSWER_TEXT_LIMIT = 200
INLINE_RESULTS_LIMIT = 50
INLINE_RESULT_ID_LIMIT = 64
INLINE_NEXT_OFFSET_LIMIT = 64
DOCUMENT_SIZE_LIMIT = 50 * 1024 * 1024
COMMANDS_LIMIT = 100
# An update type is delivered only if allowed; Telegram's default leaves these three out.
ALL_UPDATE_TYPES = (
    "message",
    "edited_message",
    "channel_post",
    "edited_channel_post",
    "inline_query",
    "chosen_inline_result",
    "callback_query",
    "shipping_query",
    "pre_checkout_query",
    "poll",
    "poll_answer",
    "my_chat_member",
    "chat_member",
    "chat_join_request",
    "message_reaction",
    "message_reaction_count",
)
DEFAULT_UPDATE_TYPES = frozenset(ALL_UPDATE_TYPES) - {
    "chat_member",
    "message_reaction",
    "message_reaction_count",
}
SEND_METHODS = frozenset(
    {
        "sendmessage",
        "senddocument",
        "sendphoto",
        "sendaudio",
        "sendvideo",
        "sendanimation",
        "sendvoice",
        "sendsticker",
        "sendmediagroup",
        "sendpoll",
        "sendlocation",
        "sendcontact",
        "senddice",
        "sendvenue",
        "copymessage",
        "forwardmessage",
    }
)
CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)
_JSON_FIELDS = frozenset(
    {
        "reply_markup",
        "entities",
        "caption_entities",
        "results",
        "commands",
        "scope",
        "allowed_updates",
        "link_preview_options",
        "reply_parameters",
        "button",
        "media",
    }
)
_INT_FIELDS = frozenset(
    {
        "chat_id",
        "message_id",
        "offset",
        "limit",
        "timeout",
        "user_id",
        "cache_time",
        "reply_to_message_id",
        "message_thread_id",
        "max_connections",
        "from_chat_id",
        "until_date",
    }
)
_BOOL_FIELDS = frozenset(
    {
        "disable_notification",
        "protect_content",
        "show_alert",
        "is_personal",
        "drop_pending_updates",
        "disable_web_page_preview",
        "allow_sending_without_reply",
        "disable_content_type_detection",
        "only_if_banned",
        "revoke_messages",
    }
)
_INLINE_BUTTON_ACTIONS = (
    "callback_data",
    "url",
    "switch_inline_query",
    "switch_inline_query_current_chat",
    "switch_inline_query_chosen_chat",
    "login_url",
    "web_app",
    "callback_game",
    "pay",
    "copy_text",
)
_COMMAND_NAME = re.compile(r"^[a-z0-9_]{1,32}$")
_SECRET_TOKEN = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
_TOKEN = re.compile(r"^(\d+):[A-Za-z0-9_-]+$")
_NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup are exactly "
    "the same as a current content and reply markup of the message"
)
UNAUTHORIZED: dict[str, Any] = {"ok": False, "error_code": 401, "description": "Unauthorized"}
NOT_FOUND: dict[str, Any] = {"ok": False, "error_code": 404, "description": "Not Found"}
_QUERY_TOO_OLD = "Bad Request: query is too old and response timeout expired or query ID is invalid"
_STATUS_DESCRIPTIONS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    409: "Conflict",
    413: "Request Entity Too Large",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


@dataclass(frozen=True, slots=True)
class TextField:
    """A text parameter and how Telegram limits it: its entities parameter, length limit and error texts."""

    name: str
    entities: str
    limit: int
    empty: str  # error when empty after parsing ("" = may be empty)
    too_long: str


MESSAGE_TEXT = TextField(
    "text", "entities", MESSAGE_TEXT_LIMIT, "message text is empty", "message is too long"
)
EDITED_TEXT = TextField("text", "entities", MESSAGE_TEXT_LIMIT, "message text is empty", "MESSAGE_TOO_LONG")
INLINE_TEXT = TextField("text", "entities", MESSAGE_TEXT_LIMIT, "MESSAGE_EMPTY", "MESSAGE_TOO_LONG")
CAPTION = TextField("caption", "caption_entities", CAPTION_LIMIT, "", "message caption is too long")


class ApiError(Exception):
    """An error response: raised inside method handlers, turned into Telegram's JSON error shape."""

    def __init__(self, error_code: int, description: str, parameters: dict[str, Any] | None = None) -> None:
        super().__init__(description)
        self.error_code = error_code
        self.description = description
        self.parameters = parameters

    def to_body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"ok": False, "error_code": self.error_code, "description": self.description}
        if self.parameters:
            body["parameters"] = self.parameters
        return body


def bad_request(detail: str) -> ApiError:
    return ApiError(400, f"Bad Request: {detail}")


@dataclass(slots=True)
class Fault:
    """A planned failure for the next `times` matching calls (see BotAPIEmulator.fail_next)."""

    method: str  # lower-case method name or "*"
    chat_id: int | str | None
    times: int
    error_code: int | None
    description: str | None
    retry_after: int | None
    migrate_to_chat_id: int | None
    disconnect: bool
    raw_body: str | None
    after_processing: bool = False

    def matches(self, method: str, params: Mapping[str, Any]) -> bool:
        if self.times <= 0 or self.method not in ("*", method):
            return False
        return self.chat_id is None or params.get("chat_id") == self.chat_id

    def to_error(self) -> ApiError:
        code = self.error_code or 400
        if self.description:
            description = self.description
        elif code == 429:
            description = f"Too Many Requests: retry after {self.retry_after or 1}"
        elif code == 403:
            description = "Forbidden: bot was blocked by the user"
        elif self.migrate_to_chat_id is not None:
            description = "Bad Request: group chat was upgraded to a supergroup chat"
        else:
            description = _STATUS_DESCRIPTIONS.get(code, "Bad Request")
        parameters: dict[str, Any] = {}
        if code == 429:
            parameters["retry_after"] = self.retry_after or 1
        if self.migrate_to_chat_id is not None:
            parameters["migrate_to_chat_id"] = self.migrate_to_chat_id
        return ApiError(code, description, parameters or None)


@dataclass(slots=True)
class ShareFault:
    """A share of a method's calls that fail (see BotAPIEmulator.fail_share): each matching call draws from
    its own seeded RNG, so the n-th call of a run always gets the same answer."""

    method: str  # lower-case method name or "*"
    share: float
    error_code: int
    description: str | None
    raw_body: str | None
    rng: random.Random
    injected: int = 0  # calls answered with the error so far

    def draw(self, method: str) -> bool:
        if self.method not in ("*", method):
            return False
        return self.rng.random() < self.share

    def to_error(self) -> ApiError:
        description = self.description or _STATUS_DESCRIPTIONS.get(self.error_code, "Bad Request")
        return ApiError(self.error_code, description)


@dataclass(slots=True)
class Reply:
    """What the HTTP layer should answer: a JSON body, a raw (non-JSON) body, or a dropped connection."""

    status: int
    body: dict[str, Any] | None = None
    raw_body: str | None = None
    disconnect: bool = False


class _Result:
    """A successful result that also carries a `description` (setWebhook says "Webhook was set")."""

    def __init__(self, value: Any, description: str) -> None:
        self.value = value
        self.description = description


class Params:
    """Typed access to a request's (already decoded) parameters, failing the way Telegram does."""

    def __init__(self, values: Mapping[str, Any]) -> None:
        self.values = values

    def has(self, name: str) -> bool:
        return self.values.get(name) not in (None, "")

    def string(self, name: str, default: str | None = None) -> str | None:
        value = self.values.get(name)
        if value is None:
            return default
        return value if isinstance(value, str) else json.dumps(value)

    def required_string(self, name: str, empty: str | None = None) -> str:
        value = self.string(name)
        if not value:
            raise bad_request(empty or f"{name} is empty")
        return value

    def integer(self, name: str, default: int | None = None) -> int | None:
        value = self.values.get(name)
        if value is None or value == "":
            return default
        if isinstance(value, bool) or not isinstance(value, int):
            try:
                return int(str(value))
            except ValueError:
                raise bad_request(f"invalid {name} specified") from None
        return value

    def required_integer(self, name: str, empty: str | None = None) -> int:
        value = self.integer(name)
        if value is None:
            raise bad_request(empty or f"{name} is empty")
        return value

    def flag(self, name: str) -> bool:
        value = self.values.get(name)
        if isinstance(value, bool):
            return value
        return str(value).lower() in ("true", "1")

    def json(self, name: str, what: str | None = None) -> Any:
        value = self.values.get(name)
        if value is None or value == "":
            return None
        if isinstance(value, str):
            raise bad_request(f"can't parse {what or name} JSON object")
        return value


def _decode_param(name: str, value: str) -> Any:
    if name in _JSON_FIELDS:
        try:
            return json.loads(value)
        except ValueError:
            return value  # the method handler reports it, as Telegram does
    if name in _INT_FIELDS and re.fullmatch(r"-?\d+", value):
        return int(value)
    if name in _BOOL_FIELDS and value in ("true", "false"):
        return value == "true"
    return value


def decode_params(raw: Mapping[str, Any]) -> dict[str, Any]:
    """Form fields are strings: decode JSON-serialized fields, integers and booleans as Telegram does."""
    return {
        name: _decode_param(name, value) if isinstance(value, str) else value for name, value in raw.items()
    }


Handler = Callable[[Params, Mapping[str, UploadedFile]], Awaitable[Any]]


class BotAPIEmulator(UpdateBuilders):
    """Telegram's Bot API on 127.0.0.1 for tests. Documented in tests/emulator/__init__.py and README.md."""

    def __init__(
        self,
        token: str = DEFAULT_TOKEN,
        *,
        username: str = BOT_USERNAME,
        first_name: str = "GovDigest",
        flood_limits: FloodLimits | bool = True,
        strict_ampersand: bool = True,
        callback_answer_timeout: float = 15.0,
        webhook_retry_delay: float = 0.05,
    ) -> None:
        super().__init__(token, username=username, first_name=first_name)
        if flood_limits is True:
            flood_limits = FloodLimits()
        self.flood_limits: FloodLimits | None = flood_limits or None
        self._limiter = FloodLimiter(self.flood_limits) if self.flood_limits else None
        self.strict_ampersand = strict_ampersand
        self.callback_answer_timeout = callback_answer_timeout
        self.webhook_retry_delay = webhook_retry_delay

        self.callback_answers: list[CallbackAnswer] = []
        self.inline_answers: list[InlineAnswer] = []
        self.chat_actions: list[tuple[int, str]] = []
        self.flood_events: list[FloodEvent] = []
        # (description | short_description | name, language_code) -> text
        self.bot_texts: dict[tuple[str, str], str] = {}
        self.webhook_url = ""
        self.webhook_secret: str | None = None
        self.webhook_allowed_updates: list[str] | None = None
        self.webhook_max_connections = 40
        self.webhook_deliveries: list[WebhookDelivery] = []
        self.webhook_replies: list[Reply] = []  # results of methods the bot answered webhook calls with
        self.webhook_last_error: tuple[int, str] | None = None
        self.allowed_updates: frozenset[str] = DEFAULT_UPDATE_TYPES
        self.delivered_updates: list[dict[str, Any]] = []  # every update handed out, once, in order
        self._delivered_ids: set[int] = set()
        self._faults: list[Fault] = []
        self._share_faults: list[ShareFault] = []
        self._latency: dict[str, float] = {}
        self._latency_after: dict[str, float] = {}
        self._polling_generation = 0
        self._poll_ended_by = ""
        self._stopping = False
        self._runner: web.AppRunner | None = None
        self._webhook_task: asyncio.Task[None] | None = None
        self._client: ClientSession | None = None
        self.port = 0
        self._handlers: dict[str, Handler] = {
            "getme": self._get_me,
            "getupdates": self._get_updates,
            "setwebhook": self._set_webhook,
            "deletewebhook": self._delete_webhook,
            "getwebhookinfo": self._get_webhook_info,
            "sendmessage": self._send_message,
            "senddocument": self._send_document,
            "sendchataction": self._send_chat_action,
            "editmessagetext": self._edit_message_text,
            "editmessagecaption": self._edit_message_caption,
            "editmessagereplymarkup": self._edit_message_reply_markup,
            "deletemessage": self._delete_message,
            "answercallbackquery": self._answer_callback_query,
            "answerinlinequery": self._answer_inline_query,
            "setmycommands": self._set_my_commands,
            "getmycommands": self._get_my_commands,
            "deletemycommands": self._delete_my_commands,
            "setmydescription": self._bot_text_setter("description"),
            "getmydescription": self._bot_text_getter("description"),
            "setmyshortdescription": self._bot_text_setter("short_description"),
            "getmyshortdescription": self._bot_text_getter("short_description"),
            "setmyname": self._bot_text_setter("name"),
            "getmyname": self._bot_text_getter("name"),
            "getfile": self._get_file,
            "getchat": self._get_chat,
            "getchatmember": self._get_chat_member,
            "getchatadministrators": self._get_chat_administrators,
            "getchatmembercount": self._get_chat_member_count,
            "leavechat": self._leave_chat,
        }

    # ------------------------------------------------------------------ lifecycle

    @property
    def base_url(self) -> str:
        if not self.port:
            raise RuntimeError("the emulator is not started")
        return f"http://127.0.0.1:{self.port}"

    async def start(self, port: int = 0) -> BotAPIEmulator:
        """Listen on 127.0.0.1:`port` (0: a free one; `base_url` tells which). A given port may be one a bot
        already tries to reach (Telegram coming up late) or the one of an earlier start (coming back)."""
        app = web.Application(client_max_size=DOCUMENT_SIZE_LIMIT + 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._http_handler)
        app.router.add_get("/file/bot{token}/{path:.+}", self._file_handler)
        # handler_cancellation: a long poll whose client went away must not linger; short shutdown on stop().
        self._runner = web.AppRunner(
            app, handle_signals=False, shutdown_timeout=0.5, handler_cancellation=True
        )
        await self._runner.setup()
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # an earlier start's TIME_WAITs
            listener.bind(("127.0.0.1", port))
        except OSError:
            listener.close()
            await self._runner.cleanup()
            self._runner = None
            raise
        self.port = listener.getsockname()[1]
        await web.SockSite(self._runner, listener).start()
        self._stopping = False
        return self

    async def stop(self) -> None:
        self._stopping = True
        self._notify()
        if self._webhook_task is not None:
            self._webhook_task.cancel()
            await asyncio.gather(self._webhook_task, return_exceptions=True)
            self._webhook_task = None
        if self._client is not None:
            await self._client.close()
            self._client = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> BotAPIEmulator:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    def make_bot(self, token: str | None = None, **bot_kwargs: Any) -> Bot:
        """An aiogram Bot using the real AiohttpSession against this emulator, parse mode HTML by default."""
        return make_bot(self.base_url, token or self.token, **bot_kwargs)

    @contextlib.asynccontextmanager
    async def polling(
        self,
        dispatcher: Dispatcher,
        bot: Bot,
        *,
        timeout: float = 5.0,  # noqa: ASYNC109
        **polling_kwargs: Any,
    ) -> AsyncIterator[None]:
        """Run `dispatcher.start_polling(bot)` against the emulator for the block: waits for the first
        getUpdates on entry; on exit stops polling and re-raises what the polling task raised."""
        polling_kwargs.setdefault("polling_timeout", 1)
        already = len(self.requests_for("getUpdates"))
        task = asyncio.create_task(
            dispatcher.start_polling(bot, handle_signals=False, close_bot_session=False, **polling_kwargs)
        )
        task.add_done_callback(lambda _: self._notify())  # wakes the wait below if polling dies
        try:
            await self.wait_for(
                lambda: task.done() or len(self.requests_for("getUpdates")) > already, timeout
            )
            if task.done():
                task.result()  # polling died at start: show why
            yield
        finally:
            if not task.done():
                await dispatcher.stop_polling()
            await task

    async def ask(
        self,
        text: str,
        *,
        count: int = 1,
        timeout: float = 5.0,  # noqa: ASYNC109
        **message_kwargs: Any,
    ) -> list[SentMessage]:
        """Inject a user's message (as message()) and wait for the bot's next `count` messages to that chat."""
        update = self.message(text, **message_kwargs)
        chat_id = int((update.get("message") or update["channel_post"])["chat"]["id"])
        before = len(self.messages_to(chat_id))
        return (await self.wait_for_messages(chat_id, before + count, timeout))[before:]

    # ------------------------------------------------------------------ fault injection

    def fail_next(
        self,
        method: str = "*",
        *,
        error_code: int | None = None,
        description: str | None = None,
        retry_after: int | None = None,
        migrate_to_chat_id: int | None = None,
        chat_id: int | str | None = None,
        times: int = 1,
        disconnect: bool = False,
        raw_body: str | None = None,
    ) -> None:
        """Make the next `times` calls of `method` ("*" = any; optionally only for `chat_id`) fail.

        error_code picks Telegram's usual description (429 adds parameters.retry_after, default 1; 403 "bot
        was blocked by the user"; 5xx "Internal Server Error"/"Bad Gateway"); migrate_to_chat_id adds that
        parameter. disconnect=True drops the connection without an answer (aiogram raises
        TelegramNetworkError); raw_body sends that text instead of JSON (as Telegram's front end does for a
        502)."""
        if error_code is None and not disconnect:
            error_code = 400 if migrate_to_chat_id is not None else 429 if retry_after is not None else None
        if error_code is None and not disconnect:
            raise ValueError("give error_code (or retry_after/migrate_to_chat_id), or disconnect=True")
        self._faults.append(
            Fault(
                method.lower(),
                chat_id,
                times,
                error_code,
                description,
                retry_after,
                migrate_to_chat_id,
                disconnect,
                raw_body,
            )
        )

    def drop_connection(
        self,
        method: str = "*",
        *,
        times: int = 1,
        chat_id: int | str | None = None,
        after_processing: bool = False,
    ) -> None:
        """Drop the connection without an answer (TelegramNetworkError). after_processing=True: the call took
        effect first (the message was sent), so a client that retries sends it twice."""
        self.fail_next(method, disconnect=True, times=times, chat_id=chat_id)
        self._faults[-1].after_processing = after_processing

    def fail_share(
        self,
        method: str,
        share: float,
        *,
        error_code: int = 502,
        description: str | None = None,
        raw_body: str | None = None,
        seed: int = 0,
    ) -> ShareFault:
        """From now on answer a `share` (0..1) of `method`'s calls ("*" = any) with `error_code` (502 "Bad
        Gateway" by default; raw_body for a non-JSON page) before anything else happens: the call has no
        effect and uses no flood limit, as when Telegram's front end could not reach the server. The choice is
        a seeded RNG drawn once per matching call, so a run is repeatable. Returns the fault (`.injected`
        counts its errors); fail_share(method, 0) or clear_faults() ends it."""
        if not 0.0 <= share <= 1.0:
            raise ValueError("share must be between 0 and 1")
        name = method.lower()
        self._share_faults = [f for f in self._share_faults if f.method != name]
        fault = ShareFault(name, share, error_code, description, raw_body, random.Random(seed))
        if share > 0:
            self._share_faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        self._faults.clear()
        self._share_faults.clear()

    def set_latency(self, seconds: float, method: str = "*", *, after: bool = False) -> None:
        """Delay every answer (or only `method`'s) by `seconds`; 0 removes the delay. after=True: the call
        takes effect at once and only the answer is late (a client that times out cannot know it worked)."""
        (self._latency_after if after else self._latency)[method.lower()] = seconds

    def set_flood_limits(self, limits: FloodLimits | None) -> None:
        """Turn flood limits on with these numbers, or off with None."""
        self.flood_limits = limits
        self._limiter = FloodLimiter(limits) if limits else None

    # ------------------------------------------------------------------ updates

    def _is_allowed(self, update: Mapping[str, Any], allowed: Iterable[str]) -> bool:
        return self.update_type(update) in allowed

    async def post_update(
        self,
        url: str | None = None,
        update: Mapping[str, Any] | None = None,
        *,
        secret_token: str | None = None,
        timeout: float = 10.0,  # noqa: ASYNC109
    ) -> int:
        """POST an update to a webhook as Telegram does (JSON body, X-Telegram-Bot-Api-Secret-Token header)
        and return the HTTP status. url defaults to the webhook the bot set and secret_token to its secret;
        update defaults to the oldest pending update, which is confirmed (removed) on a 2xx answer."""
        target = url or self.webhook_url
        if not target:
            raise RuntimeError("no webhook url: the bot did not call setWebhook")
        secret = secret_token if secret_token is not None or url else self.webhook_secret
        from_queue = update is None
        if update is None:
            if not self.pending_updates:
                raise LookupError("no pending update to post")
            update = self.pending_updates[0]
        headers = {"Content-Type": "application/json"}
        if secret:
            headers["X-Telegram-Bot-Api-Secret-Token"] = secret
        if self._client is None or self._client.closed:
            self._client = ClientSession()
        async with self._client.post(
            target, data=json.dumps(update), headers=headers, timeout=ClientTimeout(total=timeout)
        ) as response:
            status = response.status
            method_call = await _read_webhook_reply(response) if 200 <= status < 300 else None
            await response.read()
        self.webhook_deliveries.append(WebhookDelivery(target, int(update["update_id"]), status))
        if from_queue and 200 <= status < 300 and self.pending_updates and self.pending_updates[0] is update:
            self.pending_updates.pop(0)
            self._mark_delivered([update])
        if method_call is not None:
            # A method in the webhook's answer is executed; like Telegram, its result reaches nobody.
            name, params, files = method_call
            self.webhook_replies.append(await self.call(name, params, files))
        self._notify()
        return status

    async def _deliver_webhook_updates(self) -> None:
        """Telegram's push loop: post pending updates one by one to the webhook, retrying failed ones."""
        while self.webhook_url and not self._stopping:
            deliverable = [u for u in self.pending_updates if self._is_allowed(u, self._webhook_allowed())]
            self.pending_updates = deliverable
            if not deliverable:
                await self._wait_change(1.0)
                continue
            try:
                status = await self.post_update()
            except (ClientError, TimeoutError, OSError, ValueError) as error:
                self.webhook_last_error = (int(time.time()), f"Connection error: {type(error).__name__}")
                self.webhook_deliveries.append(
                    WebhookDelivery(self.webhook_url, int(deliverable[0]["update_id"]), 0, repr(error))
                )
                await asyncio.sleep(self.webhook_retry_delay)
                continue
            if not 200 <= status < 300:
                self.webhook_last_error = (int(time.time()), f"Wrong response from the webhook: {status}")
                await asyncio.sleep(self.webhook_retry_delay)

    def _webhook_allowed(self) -> frozenset[str]:
        if self.webhook_allowed_updates:
            return frozenset(self.webhook_allowed_updates)
        return DEFAULT_UPDATE_TYPES

    # ------------------------------------------------------------------ transport

    async def _http_handler(self, request: web.Request) -> web.StreamResponse:
        raw: dict[str, Any] = dict(request.query)
        files: dict[str, UploadedFile] = {}
        if request.method == "POST" and request.can_read_body:
            if request.content_type == "application/json":
                try:
                    body = await request.json()
                except ValueError:
                    return _json_response(400, bad_request("can't parse JSON request body").to_body())
                if isinstance(body, dict):
                    raw.update(body)
            else:
                form = await request.post()
                for name, value in form.items():
                    if isinstance(value, FileField):
                        files[name] = UploadedFile(value.filename, value.content_type, value.file.read())
                    else:
                        raw[name] = value
        reply = await self.call(request.match_info["method"], raw, files, token=request.match_info["token"])
        if reply.disconnect:
            if request.transport is not None:
                request.transport.abort()
            return web.Response(status=500)  # never written: the transport is gone
        if reply.raw_body is not None:
            return web.Response(status=reply.status, text=reply.raw_body, content_type="text/html")
        return _json_response(reply.status, reply.body or {})

    async def _file_handler(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["token"] != self.token:
            return _json_response(401, UNAUTHORIZED)
        try:
            data = self.file_content(request.match_info["path"])
        except LookupError:
            return _json_response(404, NOT_FOUND)
        return web.Response(body=data, content_type="application/octet-stream")

    async def call(
        self,
        method: str,
        params: Mapping[str, Any],
        files: Mapping[str, UploadedFile] | None = None,
        *,
        token: str | None = None,
    ) -> Reply:
        """Handle one Bot API call (the HTTP layer and RecordingSession both come here)."""
        files = dict(files or {})
        decoded = decode_params(params)
        record = RecordedRequest(method, decoded, files, self.clock())
        self.requests.append(record)
        reply = await self._dispatch(method, decoded, files, token or self.token)
        record.status = reply.status
        record.response = reply.body
        self._notify()
        late = self._latency_after.get(method.lower(), self._latency_after.get("*", 0.0))
        if late > 0:
            await asyncio.sleep(late)
        return reply

    async def _dispatch(
        self, method: str, params: dict[str, Any], files: dict[str, UploadedFile], token: str
    ) -> Reply:
        if token != self.token:
            return Reply(401, UNAUTHORIZED)
        name = method.lower()
        delay = self._latency.get(name, self._latency.get("*", 0.0))
        if delay > 0:
            await asyncio.sleep(delay)
        handler = self._handlers.get(name)
        if handler is None:
            return Reply(404, NOT_FOUND)
        fault = next((fault for fault in self._faults if fault.matches(name, params)), None)
        if fault is not None:
            fault.times -= 1
            if fault.times <= 0:
                self._faults.remove(fault)
            if fault.disconnect and fault.after_processing:
                with contextlib.suppress(ApiError):
                    await handler(Params(params), files)  # done, but the answer never arrives
                return Reply(0, disconnect=True)
            if fault.disconnect:
                return Reply(0, disconnect=True)
            error = fault.to_error()
            if fault.raw_body is not None:
                return Reply(error.error_code, raw_body=fault.raw_body)
            return Reply(error.error_code, error.to_body())
        for share_fault in self._share_faults:
            if share_fault.draw(name):
                share_fault.injected += 1
                error = share_fault.to_error()
                if share_fault.raw_body is not None:
                    return Reply(error.error_code, raw_body=share_fault.raw_body)
                return Reply(error.error_code, error.to_body())
        try:
            result = await handler(Params(params), files)
        except ApiError as error:
            return Reply(error.error_code, error.to_body())
        if isinstance(result, _Result):
            return Reply(200, {"ok": True, "result": result.value, "description": result.description})
        return Reply(200, {"ok": True, "result": result})

    # ------------------------------------------------------------------ shared checks

    def _resolve_chat(self, params: Params, name: str = "chat_id", *, sending: bool = False) -> ChatState:
        value = params.values.get(name)
        if value is None or value == "":
            raise bad_request(f"{name} is empty")
        chat: ChatState | None = None
        if isinstance(value, int) and not isinstance(value, bool):
            chat = self.chats.get(value)
        elif isinstance(value, str) and value.startswith("@"):
            wanted = value[1:].lower()
            chat = next(
                (
                    c
                    for c in self.chats.values()
                    if c.username and c.username.lower() == wanted and c.type != PRIVATE
                ),
                None,
            )
        if chat is None:
            if sending and isinstance(value, int) and value in self.users and value != self.bot_id:
                # Seen (e.g. in a group) but never started the bot: a bot cannot write first.
                raise ApiError(403, "Forbidden: bot can't initiate conversation with a user")
            raise bad_request("chat not found")
        if chat.migrated_to is not None:
            raise ApiError(
                400,
                "Bad Request: group chat was upgraded to a supergroup chat",
                {"migrate_to_chat_id": chat.migrated_to},
            )
        return chat

    def _check_can_post(self, chat: ChatState) -> None:
        status = chat.members.get(self.bot_id, "member")
        if chat.type == PRIVATE:
            if chat.user_deactivated:
                raise ApiError(403, "Forbidden: user is deactivated")
            if status == "kicked":
                raise ApiError(403, "Forbidden: bot was blocked by the user")
            return
        if status == "kicked":
            raise ApiError(403, f"Forbidden: bot was kicked from the {chat.type} chat")
        if status == "left":
            raise ApiError(403, f"Forbidden: bot is not a member of the {chat.type} chat")
        if chat.type == CHANNEL and status not in ("administrator", "creator"):
            raise bad_request("need administrator rights in the channel chat")

    def _check_flood(self, method: str, chat: ChatState) -> None:
        if self._limiter is None:
            return
        refused = self._limiter.check(chat.id, chat.type, self.clock())
        if refused is None:
            return
        scope, retry_after = refused
        self.flood_events.append(FloodEvent(method, chat.id, scope, retry_after, self.clock()))
        raise ApiError(429, f"Too Many Requests: retry after {retry_after}", {"retry_after": retry_after})

    def _formatted(self, params: Params, field: TextField) -> FormattedText:
        source = params.string(field.name) or ""
        parse_mode = (params.string("parse_mode") or "").lower()
        if parse_mode == "html":
            try:
                formatted = parse_html(source, strict_ampersand=self.strict_ampersand)
            except EntityParseError as error:
                raise bad_request(f"can't parse entities: {error}") from None
        elif parse_mode in ("", "none"):
            raw_entities = params.json(field.entities, "MessageEntity array")
            try:
                entities = validate_entities(raw_entities, source) if raw_entities is not None else ()
            except ValueError as error:
                raise bad_request(str(error)) from None
            formatted = FormattedText(source, entities)
        else:
            # Telegram supports Markdown/MarkdownV2 too; the project uses HTML only, so the emulator
            # refuses them.
            raise bad_request(f"unsupported parse_mode {parse_mode!r} (the emulator implements HTML only)")
        formatted = trim(formatted)
        if not formatted.text and field.empty:
            raise bad_request(field.empty)
        if utf16_len(formatted.text) > field.limit:
            raise bad_request(field.too_long)
        return formatted

    def _check_reply_markup(self, markup: Any, *, inline_only: bool = False) -> dict[str, Any] | None:
        if markup is None:
            return None
        if not isinstance(markup, dict):
            raise bad_request("can't parse reply keyboard markup JSON object")
        if "inline_keyboard" in markup:
            rows = markup["inline_keyboard"]
            if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
                raise bad_request("can't parse inline keyboard markup JSON object")
            count = 0
            for row in rows:
                for button in row:
                    count += 1
                    self._check_inline_button(button)
            if count > 100:
                raise bad_request("BUTTONS_TOO_MUCH")
            return markup
        if inline_only:
            raise bad_request("inline keyboard expected")
        if not any(key in markup for key in ("keyboard", "remove_keyboard", "force_reply")):
            raise bad_request("can't parse reply keyboard markup JSON object")
        return markup

    @staticmethod
    def _check_inline_button(button: Any) -> None:
        if not isinstance(button, dict) or not isinstance(button.get("text"), str):
            raise bad_request("can't parse inline keyboard button: Can't find field \"text\"")
        if not button["text"].strip():
            raise bad_request("BUTTON_TEXT_INVALID")
        actions = [key for key in _INLINE_BUTTON_ACTIONS if key in button]
        if not actions:
            raise bad_request(
                "can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard"
            )
        if "callback_data" in button:
            data = button["callback_data"]
            if not isinstance(data, str) or not 1 <= len(data.encode("utf-8")) <= CALLBACK_DATA_LIMIT:
                raise bad_request("BUTTON_DATA_INVALID")
        if "url" in button:
            url = button["url"]
            if not isinstance(url, str) or not re.match(r"^(https?|tg)://[^\s]+$", url, re.IGNORECASE):
                raise bad_request(f"inline keyboard button URL '{url}' is invalid: Wrong HTTP URL")

    def _reply_to(self, params: Params, chat: ChatState) -> int | None:
        reply_parameters = params.json("reply_parameters")
        if isinstance(reply_parameters, dict):
            message_id = reply_parameters.get("message_id")
            allow = bool(reply_parameters.get("allow_sending_without_reply"))
        else:
            message_id = params.integer("reply_to_message_id")
            allow = params.flag("allow_sending_without_reply")
        if message_id is None:
            return None
        key = (chat.id, int(message_id))
        sent = self._messages.get(key)
        exists = (sent is not None and not sent.deleted) or key in self.user_messages
        if not exists:
            if allow:
                return None
            raise bad_request("message to be replied not found")
        return int(message_id)

    # ------------------------------------------------------------------ methods: bot and updates

    async def _get_me(self, params: Params, files: Mapping[str, UploadedFile]) -> Any:
        return {
            **self.bot_user.to_dict(),
            "can_join_groups": self.can_join_groups,
            "can_read_all_group_messages": self.can_read_all_group_messages,
            "supports_inline_queries": self.supports_inline_queries,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    async def _get_updates(self, params: Params, files: Mapping[str, UploadedFile]) -> Any:
        if self.webhook_url:
            raise ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete "
                "the webhook first",
            )
        offset = params.integer("offset", 0) or 0
        limit = min(max(params.integer("limit", 100) or 100, 1), 100)
        timeout = max(params.integer("timeout", 0) or 0, 0)
        allowed = params.json("allowed_updates")
        if isinstance(allowed, list):
            # Telegram remembers the last list; an empty list means "the default set".
            self.allowed_updates = frozenset(allowed) if allowed else DEFAULT_UPDATE_TYPES
        self._confirm(offset)
        self._end_long_poll(
            "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running"
        )
        generation = self._polling_generation
        self._notify()  # wakes an older long poll so that it can answer 409
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            self.pending_updates = [
                u for u in self.pending_updates if self._is_allowed(u, self.allowed_updates)
            ]
            if self.pending_updates or self._stopping:
                batch = self.pending_updates[:limit]
                self._mark_delivered(batch)
                return batch
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                return []
            await self._wait_change(remaining)
            if generation != self._polling_generation:
                raise ApiError(409, self._poll_ended_by)

    def _end_long_poll(self, reason: str) -> None:
        """A newer getUpdates (or setWebhook) ends a waiting one with 409, as Telegram does."""
        self._poll_ended_by = reason
        self._polling_generation += 1

    def _mark_delivered(self, updates: Iterable[Mapping[str, Any]]) -> None:
        for update in updates:
            if update["update_id"] not in self._delivered_ids:
                self._delivered_ids.add(update["update_id"])
                self.delivered_updates.append(dict(update))

    def _confirm(self, offset: int) -> None:
        if offset > 0:
            self.pending_updates = [u for u in self.pending_updates if u["update_id"] >= offset]
        elif offset < 0:
            self.pending_updates = self.pending_updates[offset:]

    async def _set_webhook(self, params: Params, files: Mapping[str, UploadedFile]) -> Any:
        url = params.string("url") or ""
        if not url:
            return await self._delete_webhook(params, files)
        if not re.match(r"^https?://[^\s/]+", url):
            raise bad_request("bad webhook: Wrong HTTP URL specified")
        secret = params.string("secret_token")
        if secret is not None and not _SECRET_TOKEN.match(secret):
            raise bad_request("secret token contains unallowed characters")
        allowed = params.json("allowed_updates")
        max_connections = params.integer("max_connections", 40) or 40
        if not 1 <= max_connections <= 100:
            raise bad_request("bad webhook: invalid max_connections specified")
        if params.flag("drop_pending_updates"):
            self.pending_updates.clear()
        self.webhook_url = url
        self.webhook_secret = secret
        self.webhook_allowed_updates = list(allowed) if isinstance(allowed, list) else None
        self.webhook_max_connections = max_connections
        self._end_long_poll("Conflict: terminated by setWebhook request")
        self._notify()
        if self._webhook_task is None or self._webhook_task.done():
            self._webhook_task = asyncio.get_running_loop().create_task(self._deliver_webhook_updates())
        return _Result(True, "Webhook was set")

    async def _delete_webhook(self, params: Params, files: Mapping[str, UploadedFile]) -> Any:
        if params.flag("drop_pending_updates"):
            self.pending_updates.clear()
        was_set = bool(self.webhook_url)
        self.webhook_url = ""
        self.webhook_secret = None
        self._notify()
        return _Result(True, "Webhook was deleted" if was_set else "Webhook is already deleted")

    async def _get_webhook_info(self, params: Params, files: Mapping[str, UploadedFile]) -> Any:
        info: dict[str, Any] = {
            "url": self.webhook_url,
            "has_custom_certificate": False,
            "pending_update_count": len(self.pending_updates),
        }
        if self.webhook_url:
            info["max_connections"] = self.webhook_max_connections
            info["ip_address"] = "127.0.0.1"
            if self.webhook_allowed_updates:
                info["allowed_updates"] = self.webhook_allowed_updates
        if self.webhook_last_error is not None:
            info["last_error_date"], info["last_error_message"] = self.webhook_last_error
        return info

    # ------------------------------------------------------------------ methods: messages

    async def _send_message(self, params: Params, files: Mapping[str, UploadedFile]) -> Any:
        if not params.has("text"):
            raise bad_request("message text is empty")
        chat = self._resolve_chat(params, sending=True)
        self._check_can_post(chat)
        markup = self._check_reply_markup(params.json("reply_markup", "reply keyboard markup"))
        formatted = self._formatted(params, MESSAGE_TEXT)
        reply_to = self._reply_to(params, chat)
        self._check_flood("sendMessage", chat)
        return self._record_sent(
            chat, chat.take_message_id(), params, MESSAGE_TEXT, formatted, markup, reply_to
        )

    def _record_sent(
        self,
        chat: ChatState,
        message_id: int,
        params: Params,
        field: TextField,
        formatted: FormattedText,
        markup: dict[str, Any] | None,
        reply_to: int | None,
        document: SentDocument | None = None,
    ) -> dict[str, Any]:
        """Store a message the bot sent and return it as Telegram's Message object."""
        message = self._store(
            SentMessage(
                chat_id=chat.id,
                message_id=message_id,
                date=int(time.time()),
                text=formatted.text,
                entities=formatted.entities,
                source=params.string(field.name) or "",
                parse_mode=params.string("parse_mode"),
                reply_markup=markup,
                document=document,
                reply_to_message_id=reply_to,
                disable_notification=params.flag("disable_notification"),
                link_preview_options=params.json("link_preview_options"),
            )
        )
        return self._message_payload(message)

    async def _send_document(self, params: Params, files: Mapping[str, UploadedFile]) -> Any:
        reference = params.string("document")
        upload: UploadedFile | None = None
        if reference and reference.startswith("attach://"):
            upload = files.get(reference.removeprefix("attach://"))
            if upload is None:
                raise bad_request(
                    "wrong remote file identifier specified: can't unserialize it. Wrong last symbol"
                )
        elif reference is None:
            upload = files.get("document")
            if upload is None:
                raise bad_request("there is no document in the request")
        elif reference not in self._files:
            if re.match(r"^https?://", reference):
                raise bad_request("failed to get HTTP URL content")
            raise bad_request("wrong file identifier/HTTP URL specified")
        chat = self._resolve_chat(params, sending=True)
        self._check_can_post(chat)
        markup = self._check_reply_markup(params.json("reply_markup", "reply keyboard markup"))
        caption = self._formatted(params, CAPTION)
        if upload is not None:
            if not upload.data:
                raise bad_request("file must be non-empty")
            if len(upload.data) > DOCUMENT_SIZE_LIMIT:
                raise ApiError(413, "Request Entity Too Large")
        reply_to = self._reply_to(params, chat)
        self._check_flood("sendDocument", chat)
        message_id = chat.take_message_id()
        if upload is not None:
            file_name = upload.filename or "document"
            mime_type = (
                upload.content_type
                if upload.content_type not in ("", "application/octet-stream")
                else mimetypes.guess_type(file_name)[0] or "application/octet-stream"
            )
            document = self.register_file(
                upload.data, file_name, mime_type, chat_id=chat.id, message_id=message_id
            )
        else:
            assert reference is not None
            original = self._files[reference]
            document = SentDocument(
                chat.id,
                message_id,
                original.file_id,
                original.file_unique_id,
                original.file_name,
                original.mime_type,
                original.data,
            )
        self.documents.append(document)
        return self._record_sent(chat, message_id, params, CAPTION, caption, markup, reply_to, document)

    async def _send_chat_action(self, params: Params, files: Mapping[str, UploadedFile]) -> Any:
        chat = self._resolve_chat(params, sending=True)
        action = params.string("action") or ""
        if action not in CHAT_ACTIONS:
            raise bad_request("wrong parameter action in request")
        self._check_can_post(chat)
        self.chat_actions.append((chat.id, action))
        return True

    def _message_to_edit(self, params: Params) -> SentMessage:
        inline_id = params.string("inline_message_id")
        if inline_id:
            inline = self._inline_messages.get(inline_id)
            if inline is None:
                raise bad_request("MESSAGE_ID_INVALID")
            return inline
        chat = self._resolve_chat(params)
        self._check_can_post(chat)  # a blocked or removed bot cannot edit there either
        message_id = params.integer("message_id")
        if message_id is None:
            raise bad_request("message identifier is not specified")
        if (chat.id, message_id) in self.user_messages:
            raise bad_request("message can't be edited")
        message = self._messages.get((chat.id, message_id))
        if message is None or message.deleted:
            raise bad_request("message to edit not found")
        return message

    def _apply_edit(
        self, message: SentMessage, text: str, entities: tuple[Any, ...], markup: dict[str, Any] | None
    ) -> None:
        if text == message.text and entities == message.entities and markup == message.reply_markup:
            raise bad_request(_NOT_MODIFIED.removeprefix("Bad Request: "))
        message.edits.append(
            MessageVersion(message.text, message.entities, message.reply_markup, message.edit_date)
        )
        message.text, message.entities, message.reply_markup = text, entities, markup
        message.edit_date = int(time.time())

    def _edit_result(self, params: Params, message: SentMessage) -> Any:
        return True if params.has("inline_message_id") else self._message_payload(message)

    async def _edit_message_text(self, params: Params, files: Mapping[str, UploadedFile]) -> Any:
        if not params.has("text"):
            raise bad_request("message text is empty")
        message = self._message_to_edit(params)
        if message.document is not None:
            raise bad_request("there is no text in the message to edit")
        # Without reply_markup Telegram removes the inline keyboard: a classic source of vanishing buttons.
        markup = self._check_reply_markup(
            params.json("reply_markup", "inline keyboard markup"), inline_only=True
        )
        formatted = self._formatted(params, EDITED_TEXT)
        self._apply_edit(message, formatted.text, formatted.entities, markup)
        message.source, message.parse_mode = params.string("text") or "", params.string("parse_mode")
        return self._edit_result(params, message)

    async def _edit_message_caption(self, params: Params, files: Mapping[str, UploadedFile]) -> Any:
        message = self._message_to_edit(params)
        if message.document is None:
            raise bad_request("there is no caption in the message to edit")
        markup = self._check_reply_markup(
            params.json("reply_markup", "inline keyboard markup"), inline_only=True
        )
        caption = self._formatted(params, CAPTION)
        self._apply_edit(message, caption.text, caption.entities, markup)
        return self._edit_result(params, message)

    async def _edit_message_reply_markup(self, params: Params, files: Mapping[str, UploadedFile]) -> Any:
        message = self._message_to_edit(params)
        markup = self._check_reply_markup(
            params.json("reply_markup", "inline keyboard markup"), inline_only=True
        )
        self._apply_edit(message, message.text, message.entities, markup)
        return self._edit_result(params, message)

    async def _delete_message(self, params: Params, files: Mapping[str, UploadedFile]) -> Any:
        chat = self._resolve_chat(params)
        self._check_can_post(chat)
        message_id = params.required_integer("message_id", "message identifier is not specified")
        key = (chat.id, message_id)
        if key in self.user_messages:
            bot_status = chat.members.get(self.bot_id, "member")
            if chat.type != PRIVATE and bot_status not in ("administrator", "creator"):
                raise bad_request("message can't be deleted")
            del self.user_messages[key]
            return True
        message = self._messages.get(key)
        if message is None or message.deleted:
            raise bad_request("message to delete not found")
        message.deleted = True
        return True

    # ------------------------------------------------------------------ methods: answers

    async def _answer_callback_query(self, params: Params, files: Mapping[str, UploadedFile]) -> Any:
        query_id = params.required_string("callback_query_id", "QUERY_ID_INVALID")
        known = self._callback_queries.get(query_id)
        if known is None or known[1] or self.clock() - known[0] > self.callback_answer_timeout:
            raise bad_request(_QUERY_TOO_OLD.removeprefix("Bad Request: "))
        text = params.string("text")
        if text is not None and len(text) > CALLBACK_ANSWER_TEXT_LIMIT:
            raise bad_request("MESSAGE_TOO_LONG")
        self._callback_queries[query_id] = (known[0], True)
        self.callback_answers.append(
            CallbackAnswer(
                query_id,
                text,
                params.flag("show_alert"),
                params.string("url"),
                params.integer("cache_time", 0) or 0,
            )
        )
        return True

    async def _answer_inline_query(self, params: Params, files: Mapping[str, UploadedFile]) -> Any:
        query_id = params.required_string("inline_query_id", "QUERY_ID_INVALID")
        known = self._inline_queries.get(query_id)
        if known is None or known[1]:
            raise bad_request(_QUERY_TOO_OLD.removeprefix("Bad Request: "))
        results = params.json("results", "inline query results")
        if not isinstance(results, list):
            raise bad_request("can't parse inline query results JSON object")
        if len(results) > INLINE_RESULTS_LIMIT:
            raise bad_request("RESULTS_TOO_MUCH")
        seen: set[str] = set()
        for result in results:
            self._check_inline_result(result, seen)
        next_offset = params.string("next_offset") or ""
        if len(next_offset.encode("utf-8")) > INLINE_NEXT_OFFSET_LIMIT:
            raise bad_request("NEXT_OFFSET_INVALID")
        self._inline_queries[query_id] = (known[0], True)
        self.inline_answers.append(
            InlineAnswer(
                query_id,
                results,
                next_offset,
                params.integer("cache_time"),
                params.flag("is_personal"),
                params.json("button"),
            )
        )
        return True

    def _check_inline_result(self, result: Any, seen: set[str]) -> None:
        if not isinstance(result, dict) or not isinstance(result.get("type"), str):
            raise bad_request('can\'t parse InlineQueryResult: Field "type" must be of type String')
        result_id = result.get("id")
        if (
            not isinstance(result_id, str)
            or not 1 <= len(result_id.encode("utf-8")) <= INLINE_RESULT_ID_LIMIT
        ):
            raise bad_request("RESULT_ID_INVALID")
        if result_id in seen:
            raise bad_request("RESULT_ID_DUPLICATE")
        seen.add(result_id)
        if result["type"] == "article":
            if not str(result.get("title") or "").strip():
                raise bad_request("RESULT_TITLE_EMPTY")
            if not isinstance(result.get("input_message_content"), dict):
                raise bad_request(
                    'can\'t parse InlineQueryResult: Field "input_message_content" must be of type Object'
                )
        content = result.get("input_message_content")
        if isinstance(content, dict) and "message_text" in content:
            content_params = Params(
                {
                    "text": content.get("message_text"),
                    "parse_mode": content.get("parse_mode"),
                    "entities": content.get("entities"),
                }
            )
            self._formatted(content_params, INLINE_TEXT)
        if "reply_markup" in result:
            self._check_reply_markup(result["reply_markup"], inline_only=True)

    # ------------------------------------------------------------------ methods: commands and bot texts

    def _command_scope(self, params: Params) -> tuple[str, str]:
        scope = params.json("scope", "BotCommandScope")
        if scope is not None:
            scope_type = scope.get("type") if isinstance(scope, dict) else None
            if scope_type not in (
                "default",
                "all_private_chats",
                "all_group_chats",
                "all_chat_administrators",
                "chat",
                "chat_administrators",
                "chat_member",
            ):
                raise bad_request("unsupported bot command scope type")
            assert isinstance(scope, dict)
            if scope_type in ("chat", "chat_administrators", "chat_member"):
                self._resolve_chat(Params(scope))
        language = params.string("language_code") or ""
        if language and not re.fullmatch(r"[a-z]{2}", language):
            raise bad_request("invalid language code specified")
        return scope_key(scope), language

    async def _set_my_commands(self, params: Params, files: Mapping[str, UploadedFile]) -> Any:
        commands = params.json("commands", "BotCommand array")
        if not isinstance(commands, list):
            raise bad_request("can't parse BotCommand array JSON object")
        if len(commands) > COMMANDS_LIMIT:
            raise bad_request("BOT_COMMANDS_TOO_MUCH")
        for command in commands:
            if not isinstance(command, dict) or not _COMMAND_NAME.match(str(command.get("command", ""))):
                raise bad_request("BOT_COMMAND_INVALID")
            description = command.get("description")
            if not isinstance(description, str) or not 1 <= len(description.strip()) <= 256:
                raise bad_request("BOT_COMMAND_DESCRIPTION_INVALID")
        key = self._command_scope(params)
        if commands:
            self.commands[key] = [
                {"command": c["command"], "description": c["description"]} for c in commands
            ]
        else:
            self.commands.pop(key, None)
        return True

    async def _get_my_commands(self, params: Params, files: Mapping[str, UploadedFile]) -> Any:
        return self.commands.get(self._command_scope(params), [])

    async def _delete_my_commands(self, params: Params, files: Mapping[str, UploadedFile]) -> Any:
        self.commands.pop(self._command_scope(params), None)
        return True

    def _bot_text_setter(self, field: str) -> Handler:
        limits = {"description": 512, "short_description": 120, "name": 64}

        async def setter(params: Params, files: Mapping[str, UploadedFile]) -> Any:
            value = params.string(field) or ""
            if len(value) > limits[field]:
                raise bad_request(f"bot {field.replace('_', ' ')} is too long")
            self.bot_texts[(field, params.string("language_code") or "")] = value
            return True

        return setter

    def _bot_text_getter(self, field: str) -> Handler:
        async def getter(params: Params, files: Mapping[str, UploadedFile]) -> Any:
            language = params.string("language_code") or ""
            value = self.bot_texts.get((field, language)) or self.bot_texts.get((field, ""), "")
            if field == "name" and not value:
                value = self.bot_user.first_name
            return {field: value}

        return getter

    # ------------------------------------------------------------------ methods: chats

    async def _get_file(self, params: Params, files: Mapping[str, UploadedFile]) -> Any:
        file_id = params.required_string("file_id", "invalid file_id")
        document = self._files.get(file_id)
        if document is None:
            raise bad_request("invalid file_id")
        if len(document.data) > 20 * 1024 * 1024:
            raise bad_request("file is too big")
        extension = mimetypes.guess_extension(document.mime_type) or ""
        path = next((p for p, d in self._file_paths.items() if d is document), None)
        if path is None:
            path = f"documents/file_{len(self._file_paths)}{extension}"
            self._file_paths[path] = document
        return {
            "file_id": document.file_id,
            "file_unique_id": document.file_unique_id,
            "file_size": len(document.data),
            "file_path": path,
        }

    async def _get_chat(self, params: Params, files: Mapping[str, UploadedFile]) -> Any:
        chat = self._resolve_chat(params)
        if chat.type != PRIVATE and chat.members.get(self.bot_id) in ("kicked", "left") and not chat.username:
            raise ApiError(403, f"Forbidden: bot is not a member of the {chat.type} chat")
        info = chat.to_dict()
        info.update(
            {
                "accent_color_id": chat.id % 7,
                "max_reaction_count": 11,
                "accepted_gift_types": {
                    "unlimited_gifts": False,
                    "limited_gifts": False,
                    "unique_gifts": False,
                    "premium_subscription": False,
                    "gifts_from_channels": False,
                },
            }
        )
        return info

    def _member_payload(self, chat: ChatState, user_id: int) -> dict[str, Any]:
        user = self.users[user_id].to_dict()
        if chat.type == PRIVATE:
            status = "member" if user_id in (chat.id, self.bot_id) else "left"
            if user_id == self.bot_id and chat.members.get(self.bot_id) == "kicked":
                status = "kicked"
        else:
            status = chat.members.get(user_id, "left")
        return member_payload(status, user, can_be_edited=user_id == self.bot_id)

    async def _get_chat_member(self, params: Params, files: Mapping[str, UploadedFile]) -> Any:
        chat = self._resolve_chat(params)
        user_id = params.required_integer("user_id", "user not found")
        if user_id not in self.users:
            raise bad_request("user not found")
        return self._member_payload(chat, user_id)

    async def _get_chat_administrators(self, params: Params, files: Mapping[str, UploadedFile]) -> Any:
        chat = self._resolve_chat(params)
        if chat.type == PRIVATE:
            raise bad_request("there are no administrators in the private chat")
        if chat.members.get(self.bot_id) in ("kicked", "left"):
            raise ApiError(403, f"Forbidden: bot is not a member of the {chat.type} chat")
        return [
            self._member_payload(chat, user_id)
            for user_id, status in chat.members.items()
            if status in ("creator", "administrator")
        ]

    async def _get_chat_member_count(self, params: Params, files: Mapping[str, UploadedFile]) -> Any:
        chat = self._resolve_chat(params)
        if chat.type == PRIVATE:
            return 2
        return sum(1 for status in chat.members.values() if status not in ("left", "kicked"))

    async def _leave_chat(self, params: Params, files: Mapping[str, UploadedFile]) -> Any:
        chat = self._resolve_chat(params)
        if chat.type == PRIVATE:
            raise bad_request("chat member status can't be changed in private chats")
        chat.members[self.bot_id] = "left"
        return True


async def _read_webhook_reply(
    response: ClientResponse,
) -> tuple[str, dict[str, Any], dict[str, UploadedFile]] | None:
    """The method call a webhook answered with (multipart form, as aiogram writes it, or JSON), if any."""
    fields: dict[str, Any] = {}
    files: dict[str, UploadedFile] = {}
    if response.content_type == "multipart/form-data":
        reader = MultipartReader(response.headers, response.content)
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader) or not part.name:
                continue
            if part.filename:
                content_type = part.headers.get("Content-Type", "application/octet-stream")
                files[part.name] = UploadedFile(part.filename, content_type, bytes(await part.read()))
            else:
                fields[part.name] = await part.text()
    elif response.content_type == "application/json":
        body = await response.json()
        if isinstance(body, dict):
            fields = body
    method = fields.pop("method", None)
    return (str(method), fields, files) if method else None


def _json_response(status: int, body: Mapping[str, Any]) -> web.Response:
    return web.Response(
        status=status, text=json.dumps(body, ensure_ascii=False), content_type="application/json"
    )
