"""Keeping the bot token out of logs and errors: everything about token redaction lives here.

- `redact`: replace the token in a string.
- `TokenRedactingFilter` / `install_token_redaction`: a logging filter on the handlers, so the token never reaches
  a log line, a traceback or a logged URL.
- `RedactTokenMiddleware`: the outermost session middleware; every error leaves the session with the token
  scrubbed from it (its message, its data and its cause chain).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from aiogram import Bot
from aiogram.client.session.middlewares.base import BaseRequestMiddleware, NextRequestMiddlewareType
from aiogram.methods.base import Response, TelegramMethod, TelegramType

REDACTED = "<BOT_TOKEN>"


def redact(value: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        if secret:
            value = value.replace(secret, REDACTED)
    return value


def _redact_exception(error: BaseException, secrets: tuple[str, ...]) -> None:
    """Scrub the token from an exception, its text attributes (aiogram keeps `message`, a decode error
    `data`: the body that could echo the URL) and its cause chain, in place."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        for attribute in ("message", "data"):
            value = getattr(current, attribute, None)
            if isinstance(value, str) and any(secret in value for secret in secrets):
                setattr(current, attribute, redact(value, secrets))
        if any(secret in str(arg) for arg in current.args for secret in secrets):
            current.args = tuple(redact(str(arg), secrets) for arg in current.args)
        current = current.__cause__ or current.__context__


class TokenRedactingFilter(logging.Filter):
    """A handler filter: renders the record (message, arguments, traceback) and replaces the token."""

    def __init__(self, *secrets: str) -> None:
        super().__init__()
        self.secrets = tuple(s for s in secrets if s)

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secrets:
            return True
        message = record.getMessage()
        record.msg = redact(message, self.secrets)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text, self.secrets)
        if record.stack_info:
            record.stack_info = redact(record.stack_info, self.secrets)
        return True


def install_token_redaction(token: str, logger: logging.Logger | None = None) -> TokenRedactingFilter:
    """Add the filter to every handler of `logger` (the root logger by default), once."""
    target = logger or logging.getLogger()
    found = TokenRedactingFilter(token)
    for handler in target.handlers:
        if not any(
            isinstance(f, TokenRedactingFilter) and f.secrets == found.secrets for f in handler.filters
        ):
            handler.addFilter(found)
    return found


class RedactTokenMiddleware(BaseRequestMiddleware):
    """Every error leaves the session with the token scrubbed from it (the outermost middleware of every session
    of ours: the bot's, and the digest delivery's, whose errors are stored in the outbox and printed by the CLI)."""

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        try:
            return await make_request(bot, method)
        except Exception as error:
            _redact_exception(error, (bot.token,))
            raise
